"""The no-broker selection starts no broker: a test using a broker fixture is marked for it, marker or not."""

from __future__ import annotations

from pathlib import Path

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


def test_the_book_and_podman_tests_run_on_one_xdist_worker(pytester, monkeypatch):
    """They share the podman images and the book stack's ports: two workers building both at once collide."""
    # the xdist workers are new processes, and they import plugins.stacks too
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    pytester.makeconftest('pytest_plugins = ["plugins.stacks"]\n')
    pytester.makeini("[pytest]\nmarkers =\n    book\n    podman\n    cluster\n")
    pytester.makepyfile(
        test_book="import pytest\npytestmark = pytest.mark.book\n"
                  + "".join(f"def test_page_{i}():\n    pass\n" for i in range(4)),
        test_podman="import pytest\npytestmark = pytest.mark.podman\n"
                    + "".join(f"def test_stack_{i}():\n    pass\n" for i in range(4)),
        test_pure="".join(f"def test_pure_{i}():\n    pass\n" for i in range(8)),
    )
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=16)
    grouped = [line for line in result.outlines
               if "PASSED" in line and ("test_book" in line or "test_podman" in line)]
    assert len(grouped) == 8 and all(line.rstrip().endswith("@book-and-podman") for line in grouped), grouped
    assert len({line.split()[0] for line in grouped}) == 1, grouped  # "[gw0]" or "[gw1]", one of them
