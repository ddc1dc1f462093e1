"""Client-library log lines go to the chapter's log file, never to a page's stderr block."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from streamlab.book import chapter_api


@pytest.fixture
def root_handlers():
    before = list(logging.getLogger().handlers)
    yield
    for handler in logging.getLogger().handlers:
        if handler not in before:
            logging.getLogger().removeHandler(handler)
            handler.close()


def test_a_librdkafka_warning_lands_in_the_file_not_on_stderr(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                               root_handlers: None) -> None:
    path = tmp_path / chapter_api.CLIENT_LOG
    chapter_api.route_logs(path)
    chapter_api.route_logs(path)  # a chapter run twice in one kernel: still one handler
    logger = logging.getLogger("streamlab.kafka_client")
    logger.warning("%s [%s] %s", "SESSTMOUT", "tour-consumer#consumer-17", "[thrd:main]: session timed out")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "SESSTMOUT" not in capfd.readouterr().err
    assert path.read_text(encoding="utf-8").count("SESSTMOUT [tour-consumer#consumer-17]") == 1


def test_results_dir_outside_a_kernel_leaves_logging_alone(tmp_path: Path, root_handlers: None) -> None:
    before = list(logging.getLogger().handlers)
    chapter_api.results_dir(tmp_path / "out", "00-x")
    assert logging.getLogger().handlers == before and not (tmp_path / "out" / chapter_api.CLIENT_LOG).exists()
