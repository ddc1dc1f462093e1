"""The no-broker selection starts no broker: a test using a broker fixture is marked for it, marker or not."""

from __future__ import annotations

import pytest


NO_BROKER = "not kafka and not rabbitmq and not cluster and not book and not mqtt"


@pytest.fixture
def suite(pytester):
    pytester.makeconftest('pytest_plugins = ["plugins.stacks"]\n')
    pytester.makeini("[pytest]\nmarkers =\n    kafka\n    rabbitmq\n    cluster\n    mqtt\n    book\n")
    pytester.makepyfile(test_sample="""
        def test_pure():
            pass

        def test_forgot_its_marker(kafka_stack):
            pass

        def test_breaks_rabbit_nodes(rabbit_cluster):
            pass

        def test_talks_mqtt(mqtt_stack):
            pass
    """)
    return pytester


def test_the_no_broker_selection_keeps_only_pure_tests(suite):
    result = suite.runpytest("--collect-only", "-q", "-m", NO_BROKER)
    result.stdout.fnmatch_lines(["test_sample.py::test_pure", "1/4 tests collected (3 deselected)*"])


def test_fixtures_imply_their_markers(suite):
    result = suite.runpytest("--collect-only", "-q", "-m", "cluster")
    result.stdout.fnmatch_lines(["test_sample.py::test_breaks_rabbit_nodes", "1/4 tests collected (3 deselected)*"])
    result = suite.runpytest("--collect-only", "-q", "-m", "kafka")
    result.stdout.fnmatch_lines(["test_sample.py::test_forgot_its_marker", "1/4 tests collected (3 deselected)*"])
