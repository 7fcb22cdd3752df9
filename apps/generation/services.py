"""Collection: create one generation per study × prompt × endpoint × replicate, hand
each to a Celery task, and retry, resume or recover them. The work of one task run is
``generation_step`` (in ``steps.py``, re-exported here)."""

from __future__ import annotations

import hashlib
import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.registry.models import ModelEndpoint, StudyEndpoint
from apps.registry.services import blind_labels_assign
from apps.studies.models import Study
from apps.studies.services import StudyError, study_transition

from .manual_import import manual_outputs_import
from .models import Generation
from .scheduling import schedule
from .steps import generation_step

logger = logging.getLogger(__name__)

__all__ = [
    "CollectionStarted",
    "collection_endpoints",
    "collection_start",
    "generation_retry_failed",
    "generation_seed",
    "generation_step",
    "generations_dispatch",
    "generations_recover",
    "generations_resume",
    "manual_outputs_import",
]

NOT_FETCHED = {"manual"}  # adapters whose outputs are uploaded, not fetched


@dataclass(frozen=True)
class CollectionStarted:
    created: int  # generations new in this call
    queued: int  # generations handed to workers (new, waiting, or resumed)
    total: int  # generations of the study for the endpoints collected
    manual_endpoints: list[str] = field(default_factory=list)  # skipped: outputs are uploaded


def generation_seed(*, study: Study, prompt_code: str, replicate: int) -> int:
    """The seed for one prompt × replicate, the same for every endpoint of the study
    (a fair comparison) and stable across runs."""
    digest = hashlib.sha256(f"{study.slug}\x1f{prompt_code}\x1f{replicate}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


# set while collection_start moves its study to "collecting", so that the signal
# receiver (which starts collection when a study is moved there by other means)
# does not start it a second time
starting_collection: ContextVar[bool] = ContextVar("starting_collection", default=False)


def collection_endpoints(
    *, study: Study, endpoints: list[ModelEndpoint] | None = None
) -> tuple[list[ModelEndpoint], list[ModelEndpoint]]:
    """The study's endpoints to fetch from (active, valid) and its manual ones.
    Raises ValidationError naming the problem when there is nothing to collect."""
    links = StudyEndpoint.objects.filter(study=study).select_related("endpoint")
    if endpoints is not None:
        links = links.filter(endpoint__in=endpoints)
    chosen = [link.endpoint for link in links.order_by("blind_label", "id")]
    manual = [e for e in chosen if e.adapter in NOT_FETCHED]
    fetched = [e for e in chosen if e.adapter not in NOT_FETCHED and e.is_active]
    for endpoint in fetched:
        try:
            endpoint.full_clean()
        except ValidationError as exc:
            raise ValidationError(
                [f"endpoint {endpoint.name!r}: {m}" for m in exc.messages]
            ) from None
    if not fetched and not manual:
        raise ValidationError(
            f"study {study.slug!r} has no active endpoint to collect from; "
            "link endpoints to it first (study file `endpoints:` or the admin)"
        )
    return fetched, manual


@transaction.atomic
def collection_start(
    *, study: Study, endpoints: list[ModelEndpoint] | None = None, by=None
) -> CollectionStarted:
    """Start (or resume) the collection of ``study``: create the missing generations —
    the database's ``one_generation_per_slot`` constraint makes this idempotent — and,
    after commit, queue every unfinished one. Manual endpoints are skipped (their
    outputs are uploaded). A study in draft moves to "collecting".

    Safe to call again at any time: it creates nothing twice, and a generation that
    is already queued or running is at most queued once more (its task then finds
    the work claimed or done and does nothing).
    """
    study = Study.objects.select_for_update().get(pk=study.pk)
    if study.status not in (Study.Status.DRAFT, Study.Status.COLLECTING):
        raise ValidationError(
            f"study {study.slug!r} is {study.get_status_display()}: outputs are collected "
            "only in draft or while collecting"
        )
    blind_labels_assign(study=study)
    fetched, manual = collection_endpoints(study=study, endpoints=endpoints)
    prompts = list(study.prompts.values_list("pk", "code"))
    if not prompts:
        raise ValidationError(f"study {study.slug!r} has no prompts yet")
    now = timezone.now()
    rows = [
        Generation(
            study=study,
            prompt_id=prompt_id,
            endpoint=endpoint,
            replicate=replicate,
            seed=generation_seed(study=study, prompt_code=code, replicate=replicate),
            next_attempt_at=now,
        )
        for prompt_id, code in prompts
        for endpoint in fetched
        for replicate in range(1, study.replicates + 1)
    ]
    ours = Generation.objects.filter(study=study, endpoint__in=fetched)
    before = ours.count()
    Generation.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    total = ours.count()
    queued = generations_dispatch(ours, now=now)
    if study.status == Study.Status.DRAFT:
        flag = starting_collection.set(True)
        try:
            study_transition(
                study=study, to_status=Study.Status.COLLECTING, by=by, note="collection started"
            )
        except StudyError as exc:
            raise ValidationError(exc.message) from None
        finally:
            starting_collection.reset(flag)
    logger.info(
        "collection of %s: %d generations created, %d queued", study.slug, total - before, queued
    )
    return CollectionStarted(
        created=total - before,
        queued=queued,
        total=total,
        manual_endpoints=[e.name for e in manual],
    )


def generations_dispatch(generations: QuerySet[Generation], *, now: datetime | None = None) -> int:
    """Queue a task (after commit) for every unfinished generation in ``generations``:
    at once when it is due, else when it becomes due (a wait, or a lease to run out).
    Duplicates are harmless: a task that cannot claim its generation does nothing."""
    now = now or timezone.now()
    rows = (
        generations.unfinished()
        .order_by("pk")
        .values_list("pk", "status", "next_attempt_at", "lease_expires_at")
    )
    count = 0
    for pk, status, due, lease in rows.iterator(chunk_size=2000):
        when = due if status == Generation.Status.PENDING else lease
        countdown = (when - now).total_seconds() if when else 0.0
        if status == Generation.Status.RUNNING:
            countdown += 0.5  # claimable only once the lease is over
        schedule(pk, countdown=max(0.0, countdown))
        count += 1
    return count


def generations_resume(*, study: Study | None = None) -> int:
    """Queue every unfinished generation again (of ``study``, or of all studies).

    Run when a worker starts (``tasks.generation_resume``): tasks held by a worker that
    was killed are lost with it — reserved messages come back from Redis only after the
    broker's visibility timeout, and never from the file-system broker — so the
    database, not the broker, says what is left to do."""
    generations = Generation.objects.all() if study is None else study.generations.all()
    return generations_dispatch(generations)


def recover_after_s() -> float:
    """How long a pending generation stays due and untouched before it is taken for
    one whose task was lost."""
    return float(getattr(settings, "GENERATION_RECOVER_AFTER_S", 600.0))


def generations_recover() -> int:
    """Queue a task for every unfinished generation that has none any more: running
    under an expired lease (its worker died or stopped renewing), or pending and both
    due and untouched for ``GENERATION_RECOVER_AFTER_S`` (its message was lost with a
    broker restarted empty, or dropped by a worker that lost its connection).

    Safe at any time, alongside workers: only the claim (a conditional update) lets a
    task work, so a generation whose task is alive after all gets a second task that
    claims nothing, or takes the next step once — never a second output. The delay
    (10 minutes) is longer than any wait for a free slot (5 minutes at most), so that
    waiting generations are left alone; only a long queue under a rate limit can look
    lost, and gets a harmless second task. Run by celery beat (``generation.recover``);
    returns how many generations were queued."""
    now = timezone.now()
    stale = now - timedelta(seconds=recover_after_s())
    lost = Generation.objects.filter(
        Q(status=Generation.Status.RUNNING, lease_expires_at__lt=now)
        | Q(status=Generation.Status.PENDING, next_attempt_at__lte=stale, updated_at__lte=stale)
    )
    ids = list(lost.order_by("pk").values_list("pk", flat=True))
    for pk in ids:
        schedule(pk)
    if ids:
        logger.warning("recovering %d generations whose task was lost", len(ids))
    return len(ids)


@transaction.atomic
def generation_retry_failed(*, generations: QuerySet[Generation]) -> int:
    """Put failed generations back in the queue, with a fresh retry budget (a new
    submission: an expired provider task is not polled again). Returns how many."""
    ids = list(generations.filter(status=Generation.Status.FAILED).values_list("pk", flat=True))
    now = timezone.now()
    Generation.objects.filter(pk__in=ids, status=Generation.Status.FAILED).update(
        status=Generation.Status.PENDING,
        retries=0,
        provider_task_id="",
        next_attempt_at=now,
        finished_at=None,
        error_code="",
        last_error="",
    )
    for pk in ids:
        schedule(pk)
    logger.info("retrying %d failed generations", len(ids))
    return len(ids)
