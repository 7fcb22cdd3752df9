"""One run of a collection task: claim a generation, take the next step with its
provider, and leave it finished or waiting with a task scheduled to go on.

The rules that make re-delivery and crashes safe:

* **Claim by conditional update.** A run owns a generation only if it turned it
  from pending-and-due (or running under an expired lease) into running, with its
  own ``claim_token``. A run that cannot claim does nothing; every later write is
  conditional on the token, so a run that lost its lease cannot overwrite anything.
* **Leases and a heartbeat.** A claim lasts ``GENERATION_LEASE_S`` seconds (60);
  while the run works — however long its provider takes — a thread renews it every
  third of that. A generation whose worker died is claimed again within one lease.
* **Network outside transactions;** the output file is written before the row that
  refers to it commits, and named on the generation first (``staged_file``), so a
  run killed in between leaves a file the next claim removes, never an orphan.
* **Whoever puts a generation back to pending schedules the task that goes on**
  (a poll, a retry, a slot that may be free); ``services.generations_resume``
  repairs what a killed worker dropped, and ``generations_recover`` (run by celery
  beat) what a broker lost.
* **Redis away is transient.** The limiter not answering before a submission puts
  the generation back with a short delay (nothing was sent); after a submission the
  slot is left to expire on its own rather than throw the provider's work away. A
  next task the broker would not take is recovered from the database later.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import random
import threading
import traceback
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from apps.registry.models import ApiKeyMissing
from apps.studies.models import Study

from . import storage
from .limits import Denied, LimiterUnavailable, limiter
from .models import Generation, Output
from .outputs import output_fields, output_file_name, output_sanitise
from .providers import (
    Finished,
    GenerationRequest,
    ParamError,
    Pending,
    ProviderError,
    get_provider,
)
from .sanitize import SanitizeError

logger = logging.getLogger("apps.generation")

BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 300.0
MIN_POLL_S = 0.5
# The limiter's Redis away (restarting, loading its dump): try again within seconds.
# Not an exponential backoff: the outage is the same for every generation and each try
# is one cheap call; while the broker (the same Redis) is away too, the next task is not
# even queued, and ``generations_recover`` takes over.
LIMITER_RETRY_S = (2.0, 10.0)
MAX_OUTPUT_BYTES = {"image": 50 * 1024 * 1024, "video": 500 * 1024 * 1024, "text": 2 * 1024 * 1024}
Status = Generation.Status


def lease_s() -> float:
    """How long a claim lasts unless renewed (the heartbeat renews it every third)."""
    return float(getattr(settings, "GENERATION_LEASE_S", 60.0))


def max_retries() -> int:
    return int(getattr(settings, "GENERATION_MAX_RETRIES", 6))


def backoff_s(retry: int, *, retry_after_s: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the provider's Retry-After."""
    delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, retry - 1)))
    if retry_after_s:
        delay = max(delay, float(retry_after_s))
    return delay


def _enqueue(generation_id: int, countdown: float) -> None:
    from .tasks import generation_collect  # the interface module, imported late

    generation_collect.apply_async(
        kwargs={"generation_id": generation_id}, countdown=countdown if countdown > 0 else None
    )


def schedule(generation_id: int, *, countdown: float = 0.0) -> None:
    """Queue the generation's task after the current transaction commits."""
    transaction.on_commit(lambda: _enqueue(generation_id, countdown))


def _schedule_next(generation_id: int, *, countdown: float = 0.0) -> None:
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
        Q(status=Status.RUNNING, lease_expires_at__lt=now)
        | Q(status=Status.PENDING, next_attempt_at__lte=stale, updated_at__lte=stale)
    )
    ids = list(lost.order_by("pk").values_list("pk", flat=True))
    for pk in ids:
        schedule(pk)
    if ids:
        logger.warning("recovering %d generations whose task was lost", len(ids))
    return len(ids)


def generation_step(*, generation_id: int) -> str:
    """Take the next step of one generation; returns what happened (for logs and
    tests): ``succeeded``, ``failed``, ``polling``, ``retrying``, ``waiting``,
    ``early``, ``skipped``, ``lost`` or ``missing``."""
    now = timezone.now()
    token = uuid.uuid4().hex
    claim = {
        "status": Status.RUNNING,
        "claim_token": token,
        "lease_expires_at": now + timedelta(seconds=lease_s()),
    }
    mine = Generation.objects.filter(pk=generation_id)
    if not mine.filter(status=Status.PENDING, next_attempt_at__lte=now).update(**claim):
        if not mine.filter(status=Status.RUNNING, lease_expires_at__lt=now).update(**claim):
            return _not_claimed(generation_id)
        logger.warning(
            "generation %s: claimed again, its lease ran out (worker died?)", generation_id
        )
    generation = Generation.objects.select_related("endpoint", "prompt", "study").get(
        pk=generation_id
    )
    step = _Step(generation, token)
    try:
        with _Heartbeat(step):
            return step.run()
    except DatabaseError:
        raise  # the database is away: the lease runs out and the work is resumed
    except Exception as exc:
        # a bug, or an adapter failing in a way it should not: fail with the reason
        # rather than leave the generation running until a worker restarts. The frames
        # are logged without the exception's text, which could hold a secret.
        reason = step.redact(f"{type(exc).__name__}: {exc}")
        logger.error(
            "generation %s: internal error %s\n%s",
            generation_id,
            reason,
            "".join(traceback.format_tb(exc.__traceback__)),
        )
        return step.fail("internal_error", f"internal error: {reason}")


def _not_claimed(generation_id: int) -> str:
    row = Generation.objects.filter(pk=generation_id).values("status", "next_attempt_at").first()
    if row is None:
        return "missing"
    now = timezone.now()
    due = row["next_attempt_at"]
    if row["status"] == Status.PENDING and due is not None and due > now:
        # delivered before it is due (another machine's clock, a resumed duplicate):
        # come back then rather than drop the only task that may exist
        _schedule_next(generation_id, countdown=(due - now).total_seconds() + 0.05)
        return "early"
    return "skipped"


class _Step:
    def __init__(self, generation: Generation, token: str) -> None:
        self.gen = generation
        self.token = token
        self.endpoint = generation.endpoint
        self.holder = str(generation.pk)
        self.lease = lease_s()
        self.holds_slot = bool(generation.provider_task_id)  # kept through the polls
        self.limiter = limiter()
        self.api_key: str | None = None

    # -- ownership ----------------------------------------------------------------

    def _mine(self):
        return Generation.objects.filter(
            pk=self.gen.pk, status=Status.RUNNING, claim_token=self.token
        )

    def _update(self, **fields: Any) -> bool:
        return bool(self._mine().update(updated_at=timezone.now(), **fields))

    def renew(self) -> bool:
        """Extend the lease (and the provider slot, if held); False once not ours."""
        if not self._update(lease_expires_at=timezone.now() + timedelta(seconds=self.lease)):
            return False
        if self.holds_slot:
            self._renew_slot(self.lease)
        return True

    def _back_to_pending(
        self, *, countdown: float, due_in: float | None = None, **fields: Any
    ) -> str | None:
        """Give the generation back (pending, due in ``due_in`` seconds) and schedule its
        task in ``countdown`` seconds. None on success, "lost" if it was not ours."""
        now = timezone.now()
        due = now + timedelta(seconds=countdown if due_in is None else due_in)
        with transaction.atomic():
            if not self._update(
                status=Status.PENDING,
                claim_token="",
                lease_expires_at=None,
                next_attempt_at=due,
                **fields,
            ):
                return "lost"
            _schedule_next(self.gen.pk, countdown=countdown)
        return None

    # -- the step -------------------------------------------------------------------

    def run(self) -> str:
        gen, endpoint = self.gen, self.endpoint
        if gen.staged_file:
            self._staged_cleanup(gen.staged_file)
        if not endpoint.is_active:
            return self.fail("endpoint_inactive", "the endpoint is switched off")
        try:
            self.api_key = endpoint.api_key()
            provider = get_provider(endpoint.adapter)
            params = endpoint.effective_params()
            request = self._request(params)
        except ApiKeyMissing as exc:
            return self.fail("api_key_missing", str(exc))
        except ParamError as exc:
            return self.fail("invalid_params", f"endpoint parameter {exc.field}: {exc.message}")
        except OSError as exc:
            return self.fail("reference_image", f"the prompt's reference image: {exc}")

        submitting = not gen.provider_task_id
        if submitting:
            try:
                denied = self.limiter.acquire(endpoint, holder=self.holder, hold_s=self.lease)
            except LimiterUnavailable as exc:
                return self._limiter_unavailable(exc)
            if denied is not None:
                return self._wait_for_slot(denied)
            self.holds_slot = True
            gen.submitted_at = timezone.now()
            if not self._update(
                attempts=F("attempts") + 1,
                submitted_at=gen.submitted_at,
                request=self._snapshot(request, params),
            ):
                return "lost"
        else:
            self._renew_slot(self.lease)
        try:
            if submitting:
                result = provider.start(request)
            else:
                result = provider.poll(request, gen.provider_task_id)
        except ProviderError as exc:
            return self._provider_error(exc, submitting=submitting)
        except ParamError as exc:
            return self.fail("invalid_params", f"endpoint parameter {exc.field}: {exc.message}")
        if isinstance(result, Pending):
            return self._pending(result)
        self._release_slot()
        return self._finish(result)

    def _request(self, params: dict[str, Any]) -> GenerationRequest:
        prompt = self.gen.prompt
        reference, reference_type = None, "image/png"
        if prompt.reference_image:
            with prompt.reference_image.open("rb") as fh:
                reference = fh.read()
            reference_type = mimetypes.guess_type(prompt.reference_image.name)[0] or "image/png"
        return GenerationRequest(
            prompt=prompt.text_zh or prompt.text_en,
            media_kind=self.endpoint.media_kind,
            model_id=self.endpoint.model_id,
            base_url=self.endpoint.base_url,
            params=params,
            seed=self.gen.seed,
            reference_image=reference,
            reference_image_type=reference_type,
            api_key=self.api_key,
            timeout_s=float(self.endpoint.timeout_s),
            max_bytes=MAX_OUTPUT_BYTES.get(self.endpoint.media_kind, 50 * 1024 * 1024),
        )

    def _snapshot(self, request: GenerationRequest, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "adapter": self.endpoint.adapter,
            "base_url": self.endpoint.base_url,
            "model_id": request.model_id,
            "params": params,
            "seed": request.seed,
            "prompt": request.prompt,
            "reference_image": request.reference_image is not None,
        }

    # -- waiting --------------------------------------------------------------------

    def _wait_for_slot(self, denied: Denied) -> str:
        endpoint, now = self.endpoint, timezone.now()
        ahead = (
            Generation.objects.waiting_for_slot(endpoint.pk, now).filter(pk__lt=self.gen.pk).count()
        )
        if denied.reason == "rate":
            interval = 60.0 / max(1, endpoint.rate_per_minute)
            wait = float(denied.wait_s or 0)
            countdown = wait + ahead * interval + random.uniform(0, interval)
            outcome = self._back_to_pending(
                countdown=countdown, due_in=wait, slot_waits=F("slot_waits") + 1
            )
        else:
            # A freed slot wakes the next waiting generation at once (``_kick``); this
            # countdown is the fallback, timed by the place in the queue.
            recent = list(
                Generation.objects.filter(endpoint=endpoint, status=Status.SUCCEEDED)
                .exclude(latency_ms=None)
                .order_by("-finished_at")
                .values_list("latency_ms", flat=True)[:50]
            )
            typical_s = (sum(recent) / len(recent) if recent else 5000) / 1000
            countdown = ahead / endpoint.concurrency_limit * typical_s * 1.5
            countdown = min(300.0, max(1.0, countdown)) + random.uniform(0, 1)
            outcome = self._back_to_pending(
                countdown=countdown, due_in=0, slot_waits=F("slot_waits") + 1
            )
        return outcome or "waiting"

    def _pending(self, result: Pending) -> str:
        poll_after = max(MIN_POLL_S, float(result.poll_after_s))
        # the provider is still working on it: keep its slot until the next poll is done
        self._renew_slot(poll_after + self.lease)
        self.holds_slot = False  # this run lets go; the next poll's run takes it up
        outcome = self._back_to_pending(countdown=poll_after, provider_task_id=result.task_id[:200])
        return outcome or "polling"

    def _release_slot(self) -> None:
        self.holds_slot = False
        try:
            self.limiter.release(self.endpoint, holder=self.holder)
        except LimiterUnavailable as exc:
            # the slot expires with its hold; the work done is not thrown away for it
            logger.warning("generation %s: slot not released (%s)", self.gen.pk, exc)
        self._kick()

    def _renew_slot(self, hold_s: float) -> None:
        """Extend the slot the provider's work holds. Without the limiter the slot keeps
        its expiry (at worst it runs out early): better than losing that work."""
        try:
            self.limiter.renew(self.endpoint, holder=self.holder, hold_s=hold_s)
        except LimiterUnavailable as exc:
            logger.warning("generation %s: slot not renewed (%s)", self.gen.pk, exc)

    def _kick(self) -> None:
        """Hand the freed slot to a waiting generation now, rather than when its
        fallback countdown runs out. One of the first few, at random, so that two
        workers freeing slots at once rarely wake the same one."""
        waiting = list(
            Generation.objects.waiting_for_slot(self.endpoint.pk, timezone.now())
            .exclude(pk=self.gen.pk)
            .order_by("pk")
            .values_list("pk", flat=True)[: self.endpoint.concurrency_limit]
        )
        if waiting:
            _schedule_next(random.choice(waiting))

    # -- errors ---------------------------------------------------------------------

    def redact(self, text: str) -> str:
        secrets = [self.api_key, *(self.api_key or "").split(":")]
        for secret in secrets:
            if secret and len(secret) >= 4:
                text = text.replace(secret, "[redacted]")
        return text

    def _provider_error(self, exc: ProviderError, *, submitting: bool) -> str:
        reason = self.redact(exc.reason)[:2000]
        code = exc.code or ("transient" if exc.retryable else "provider_error")
        retry = self.gen.retries + 1
        if not exc.retryable or retry > max_retries():
            if exc.retryable:
                reason = f"gave up after {retry} attempts: {reason}"
            return self.fail(code, reason)
        delay = backoff_s(retry, retry_after_s=exc.retry_after_s)
        if exc.retry_after_s:
            # the provider asked everyone to wait, not only this request
            try:
                self.limiter.pause(self.endpoint, seconds=float(exc.retry_after_s))
            except LimiterUnavailable as unavailable:
                logger.warning("generation %s: pause not shared (%s)", self.gen.pk, unavailable)
        if submitting:
            self._release_slot()  # nothing runs at the provider; the retry queues again
        else:
            self._renew_slot(delay + self.lease)
            self.holds_slot = False
        logger.info(
            "generation %s: retry %d in %.1f s after [%s] %s",
            self.gen.pk,
            retry,
            delay,
            code,
            reason,
        )
        outcome = self._back_to_pending(
            countdown=delay, retries=F("retries") + 1, error_code=code, last_error=reason
        )
        return outcome or "retrying"

    def _limiter_unavailable(self, exc: LimiterUnavailable) -> str:
        """No answer from the limiter before a submission: nothing was sent, so go back
        to the queue for a moment. Not a retry of the provider's: the budget stays."""
        delay = random.uniform(*LIMITER_RETRY_S)
        reason = self.redact(str(exc))[:2000]
        logger.warning(
            "generation %s: the limiter is away, again in %.1f s (%s)", self.gen.pk, delay, reason
        )
        outcome = self._back_to_pending(
            countdown=delay, error_code="limiter_unavailable", last_error=reason
        )
        return outcome or "retrying"

    def fail(self, code: str, reason: str) -> str:
        reason = self.redact(reason)
        if not self._update(
            status=Status.FAILED,
            error_code=code[:40],
            last_error=reason,
            finished_at=timezone.now(),
            claim_token="",
            lease_expires_at=None,
            next_attempt_at=None,
        ):
            return "lost"
        self._release_slot()
        logger.warning("generation %s failed: [%s] %s", self.gen.pk, code, reason)
        return "failed"

    # -- the result -----------------------------------------------------------------

    def _normalisation(self) -> dict:
        return (
            Study.objects.filter(pk=self.gen.study_id)
            .values_list("media_normalisation", flat=True)
            .first()
            or {}
        )

    def _finish(self, result: Finished) -> str:
        gen, kind = self.gen, self.endpoint.media_kind
        finished_at = timezone.now()
        started = gen.submitted_at or finished_at
        latency_ms = max(0, int((finished_at - started).total_seconds() * 1000))
        try:
            item = output_sanitise(kind, result.content, normalise=self._normalisation())
        except SanitizeError as exc:
            return self.fail("sanitize_failed", f"the output could not be sanitised: {exc}")
        name = output_file_name(item)
        if name:
            if not self._update(staged_file=name):
                return "lost"
            storage.output_write(name, item.content)
        with transaction.atomic():
            done = self._update(
                status=Status.SUCCEEDED,
                finished_at=timezone.now(),
                latency_ms=latency_ms,
                cost=Decimal(self.endpoint.cost_per_call),
                revised_prompt=self.redact(result.revised_prompt or ""),
                metadata=self._clean_metadata(result.metadata),
                staged_file="",
                claim_token="",
                lease_expires_at=None,
                next_attempt_at=None,
            )
            if done:  # still ours: the output goes with the status, in one transaction
                Output.objects.create(generation_id=gen.pk, **output_fields(item))
        if not done:
            if name:
                self._staged_cleanup(name, own=False)
            return "lost"
        logger.info("generation %s succeeded in %d ms", gen.pk, latency_ms)
        return "succeeded"

    def _clean_metadata(self, metadata: dict[str, Any]) -> dict[str, Any]:
        text = self.redact(json.dumps(metadata or {}, default=str, ensure_ascii=False))
        return json.loads(text)

    def _staged_cleanup(self, name: str, *, own: bool = True) -> None:
        """Remove a file a run wrote but did not commit, unless an output (or another
        generation about to commit one: identical bytes share a file) refers to it."""
        referenced = Output.objects.filter(file=name).exists()
        staged_elsewhere = (
            Generation.objects.filter(staged_file=name).exclude(pk=self.gen.pk).exists()
        )
        if not referenced and not staged_elsewhere:
            storage.output_delete(name)
        if own:
            self._update(staged_file="")


class _Heartbeat:
    """Renews a run's lease from a thread every third of the lease while the run works,
    so that a slow provider keeps its generation and a dead worker loses it within one
    lease. Quick runs end before the first beat and never touch the database from here."""

    def __init__(self, step: _Step) -> None:
        self.step = step
        self.every = step.lease / 3
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"lease-{step.gen.pk}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)

    def _beat(self) -> None:
        beats = 0
        try:
            while not self.stopping.wait(self.every):
                beats += 1
                if not self.step.renew():
                    return
        except Exception as exc:  # the run goes on; at worst its lease runs out
            logger.warning(
                "generation %s: lease not renewed (%s)", self.step.gen.pk, type(exc).__name__
            )
        finally:
            if beats:
                connections.close_all()  # this thread's own connections
