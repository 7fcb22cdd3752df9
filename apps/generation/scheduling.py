"""Queueing a generation's collection task.

Whoever puts a generation back to pending schedules the task that goes on (a poll, a
retry, a slot that may be free). What the broker loses anyway is queued again from
the database: ``services.generations_resume`` when a worker starts,
``services.generations_recover`` from celery beat.
"""

from __future__ import annotations

import logging

from django.db import transaction
from kombu.exceptions import OperationalError as BrokerError

logger = logging.getLogger("apps.generation")


def _enqueue(generation_id: int, countdown: float) -> None:
    from .tasks import generation_collect  # the interface module, imported late

    generation_collect.apply_async(
        kwargs={"generation_id": generation_id}, countdown=countdown if countdown > 0 else None
    )


def schedule(generation_id: int, *, countdown: float = 0.0) -> None:
    """Queue the generation's task after the current transaction commits."""
    transaction.on_commit(lambda: _enqueue(generation_id, countdown))


def schedule_next(generation_id: int, *, countdown: float = 0.0) -> None:
    """``schedule`` for a run, whose own writes are already committed: if the broker is
    away, the generation waits in the database for ``generations_recover``."""

    def enqueue() -> None:
        try:
            _enqueue(generation_id, countdown)
        except BrokerError as exc:
            logger.warning(
                "generation %s: its next task was not queued, the broker is away (%s); "
                "the periodic recovery will queue it",
                generation_id,
                exc,
            )

    transaction.on_commit(enqueue)
