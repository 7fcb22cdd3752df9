"""One run of a collection task: claim a generation, take the next step with its
provider, and leave it finished or waiting with a task scheduled to go on.

The rules that make re-delivery and crashes safe:

* **Claim by conditional update, under a lease a heartbeat renews** (``claims.py``):
  a run that cannot claim does nothing, and one that lost its lease cannot overwrite
  anything. A generation whose worker died is claimed again within one lease.
* **Network outside transactions;** the output file is written before the row that
  refers to it commits, and named on the generation first (``staged_file``), so a
  run killed in between leaves a file the next claim removes, never an orphan.
* **Whoever puts a generation back to pending schedules the task that goes on**
  (``scheduling.py``); ``services.generations_resume`` repairs what a killed worker
  dropped, and ``services.generations_recover`` (run by celery beat) what a broker
  lost.
* **Redis away is transient.** The limiter not answering before a submission puts
  the generation back with a short delay (nothing was sent); after a submission the
  slot is left to expire on its own rather than throw the provider's work away
  (``slots.py``). A next task the broker would not take is recovered from the
  database later.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import random
import traceback
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from apps.registry.models import ApiKeyMissing
from apps.studies.models import Study

from . import storage
from .claims import Claim, Heartbeat, generation_claim, not_claimed
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
from .slots import Slot

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


def max_retries() -> int:
    return int(getattr(settings, "GENERATION_MAX_RETRIES", 6))


def backoff_s(retry: int, *, retry_after_s: float | None = None) -> float:
    """Exponential backoff with full jitter, never sooner than the provider's Retry-After."""
    delay = random.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(0, retry - 1)))
    if retry_after_s:
        delay = max(delay, float(retry_after_s))
    return delay


def generation_step(*, generation_id: int) -> str:
    """Take the next step of one generation; returns what happened (for logs and
    tests): ``succeeded``, ``failed``, ``polling``, ``retrying``, ``waiting``,
    ``early``, ``skipped``, ``lost`` or ``missing``."""
    claim = generation_claim(generation_id)
    if claim is None:
        return not_claimed(generation_id)
    generation = Generation.objects.select_related("endpoint", "prompt", "study").get(
        pk=generation_id
    )
    step = _Step(generation, claim)
    try:
        with Heartbeat(step.renew, lease=step.lease, generation_id=generation_id):
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


class _Step:
    def __init__(self, generation: Generation, claim: Claim) -> None:
        self.gen = generation
        self.claim = claim
        self.endpoint = generation.endpoint
        self.lease = claim.lease
        self.slot = Slot(
            generation.endpoint,
            generation_id=generation.pk,
            limiter=limiter(),
            held=bool(generation.provider_task_id),  # kept through the polls
        )
        self.api_key: str | None = None

    def renew(self) -> bool:
        """Extend the lease (and the provider slot, if held); False once not ours."""
        if not self.claim.renew():
            return False
        if self.slot.held:
            self.slot.renew(self.lease)
        return True

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
                denied = self.slot.acquire(hold_s=self.lease)
            except LimiterUnavailable as exc:
                return self._limiter_unavailable(exc)
            if denied is not None:
                return self._wait_for_slot(denied)
            gen.submitted_at = timezone.now()
            if not self.claim.update(
                attempts=F("attempts") + 1,
                submitted_at=gen.submitted_at,
                request=self._snapshot(request, params),
            ):
                return "lost"
        else:
            self.slot.renew(self.lease)
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
        self.slot.release()
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
        countdown, due_in = self.slot.wait(denied)
        if not self.claim.back_to_pending(
            countdown=countdown, due_in=due_in, slot_waits=F("slot_waits") + 1
        ):
            return "lost"
        return "waiting"

    def _pending(self, result: Pending) -> str:
        poll_after = max(MIN_POLL_S, float(result.poll_after_s))
        # the provider is still working on it: keep its slot until the next poll is done
        self.slot.renew(poll_after + self.lease)
        self.slot.held = False  # this run lets go; the next poll's run takes it up
        if not self.claim.back_to_pending(
            countdown=poll_after, provider_task_id=result.task_id[:200]
        ):
            return "lost"
        return "polling"

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
            self.slot.pause(float(exc.retry_after_s))
        if submitting:
            self.slot.release()  # nothing runs at the provider; the retry queues again
        else:
            self.slot.renew(delay + self.lease)
            self.slot.held = False
        logger.info(
            "generation %s: retry %d in %.1f s after [%s] %s",
            self.gen.pk,
            retry,
            delay,
            code,
            reason,
        )
        if not self.claim.back_to_pending(
            countdown=delay, retries=F("retries") + 1, error_code=code, last_error=reason
        ):
            return "lost"
        return "retrying"

    def _limiter_unavailable(self, exc: LimiterUnavailable) -> str:
        """No answer from the limiter before a submission: nothing was sent, so go back
        to the queue for a moment. Not a retry of the provider's: the budget stays."""
        delay = random.uniform(*LIMITER_RETRY_S)
        reason = self.redact(str(exc))[:2000]
        logger.warning(
            "generation %s: the limiter is away, again in %.1f s (%s)", self.gen.pk, delay, reason
        )
        if not self.claim.back_to_pending(
            countdown=delay, error_code="limiter_unavailable", last_error=reason
        ):
            return "lost"
        return "retrying"

    def fail(self, code: str, reason: str) -> str:
        reason = self.redact(reason)
        if not self.claim.update(
            status=Status.FAILED,
            error_code=code[:40],
            last_error=reason,
            finished_at=timezone.now(),
            claim_token="",
            lease_expires_at=None,
            next_attempt_at=None,
        ):
            return "lost"
        self.slot.release()
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
            if not self.claim.update(staged_file=name):
                return "lost"
            storage.output_write(name, item.content)
        with transaction.atomic():
            done = self.claim.update(
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
            self.claim.update(staged_file="")
