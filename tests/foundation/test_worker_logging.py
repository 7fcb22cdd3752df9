"""A real worker's log lines go through the project's logging, secret redaction included.

Celery takes over the root logger when a worker starts unless told not to; its own
handler then writes every line (a task's return value, an exception's text and
traceback) past the filter that ``evalsite.security`` puts on Django's handlers.
"""

from __future__ import annotations

import logging
import secrets

import pytest

from tests.services import celery_worker, manage, project_env, wait_for

pytestmark = pytest.mark.slow

SEND = """
from evalsite.celery import app
key = {key!r}
app.send_task("core.ping", kwargs={{"payload": "the key is " + key}})
app.send_task("generation.resume", kwargs={{"study_id": key}})
"""


def test_worker_log_lines_have_secrets_redacted(tmp_path):
    # given a worker whose environment holds a provider's API key
    key = "sk-worker-log-" + secrets.token_hex(12)
    env = project_env(EVALSITE_VAR_DIR=str(tmp_path), WORKER_LOG_TEST_API_KEY=key)
    manage("migrate", "--no-input", env=env, timeout=300)
    log = tmp_path / "worker.log"
    with celery_worker(env, log=log):
        # when a task returns the key (Celery logs return values) and another fails
        # with the key in its exception's text (Celery logs the error and traceback)
        manage("shell", "-c", SEND.format(key=key), env=env)

        def both_logged() -> bool:
            text = log.read_text(errors="replace")
            return "core.ping" in text and "succeeded" in text and "ValueError" in text

        wait_for(both_logged, timeout=90, what="both tasks in the worker log")
    text = log.read_text(errors="replace")

    # then the worker logged at INFO, in the project's format, with the key redacted
    assert " INFO celery.app.trace Task core.ping[" in text
    assert "the key is [redacted]" in text
    assert " ERROR celery.app.trace Task generation.resume[" in text
    assert key not in text


def test_task_loggers_write_through_the_redacting_handlers():
    # given the logging a worker sets up for task loggers (get_task_logger)
    from celery.utils.log import get_task_logger

    from evalsite.celery import app

    app.log.setup_task_loggers()
    # then they have no handler of Celery's own: their lines reach the root logger's
    logger = get_task_logger("apps.example.tasks")
    assert logging.getLogger("celery.task").handlers == []
    assert logger.parent.name == "celery.task" and logger.parent.propagate
