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


def test_the_book_tests_share_one_xdist_worker_and_so_do_the_podman_tests(pytester, monkeypatch):
    """The book tests share one session build of the book, the podman tests one compose stack on fixed
    ports: spread over two workers, each worker would build its own, on the same ports."""
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
    for group in ("book", "podman"):
        lines = [line.rstrip() for line in result.outlines if "PASSED" in line and f"test_{group}.py" in line]
        assert len(lines) == 4 and all(line.endswith(f"@{group}") for line in lines), lines
        assert len({line.split()[0] for line in lines}) == 1, lines  # "[gw0]" or "[gw1]", one of them
