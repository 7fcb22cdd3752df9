"""Celery tasks of the collection: thin — they take ids, call one service, log.

Tasks are acknowledged late (settings) so a worker killed mid-task does not lose the
message on Redis; the services make a second delivery harmless. What a broker loses
anyway (a Redis restarted empty) is queued again by ``generation.recover``, which
celery beat runs every ``GENERATION_RECOVER_EVERY_S`` seconds (``CELERY_BEAT_SCHEDULE``).
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="generation.collect", acks_late=True, ignore_result=True)
def generation_collect(*, generation_id: int) -> str:
    """Take the next step of one generation (submit, poll, or wait for a slot)."""
    return services.generation_step(generation_id=generation_id)


@shared_task(name="generation.resume", acks_late=True, ignore_result=True)
def generation_resume(*, study_id: int | None = None) -> int:
    """Queue every unfinished generation again (what a killed worker held is lost)."""
    from apps.studies.models import Study

    study = Study.objects.get(pk=study_id) if study_id is not None else None
    return services.generations_resume(study=study)


@shared_task(name="generation.recover", acks_late=True, ignore_result=True)
def generation_recover() -> int:
    """Queue again the generations whose task was lost (celery beat, every minute)."""
    return services.generations_recover()


@worker_ready.connect
def _resume_on_worker_start(**kwargs) -> None:
    # A worker that died held tasks (reserved, or waiting for their countdown) that no
    # broker gives back soon; the database knows what is unfinished.
    generation_resume.apply_async(kwargs={}, countdown=1)
