"""A run's use of its endpoint's slot (the limits in ``limits.py``): taken before a
submission, kept while the provider works — across polls — and released when the work
is done, which wakes a generation waiting for it.

Redis away is transient: after a submission the slot is left to expire with its hold
rather than throw the provider's work away, so renewing, releasing and pausing log
the limiter's absence and go on. (Taking a slot does not: nothing was sent yet, and
the caller puts the generation back for a moment.)
"""

from __future__ import annotations

import logging
import random

from django.utils import timezone

from apps.registry.models import ModelEndpoint

from .limits import Denied, Limiter, LimiterUnavailable
from .models import Generation
from .scheduling import schedule_next

logger = logging.getLogger("apps.generation")


class Slot:
    """The slot of one generation at its endpoint. ``held``: this run keeps the slot
    alive (renewed with the lease) and must let it go."""

    def __init__(
        self, endpoint: ModelEndpoint, *, generation_id: int, limiter: Limiter, held: bool
    ) -> None:
        self.endpoint = endpoint
        self.generation_id = generation_id
        self.holder = str(generation_id)  # a slot is keyed by its generation
        self.limiter = limiter
        self.held = held

    def acquire(self, *, hold_s: float) -> Denied | None:
        """Take the slot for a submission; raises LimiterUnavailable."""
        denied = self.limiter.acquire(self.endpoint, holder=self.holder, hold_s=hold_s)
        if denied is None:
            self.held = True
        return denied

    def renew(self, hold_s: float) -> None:
        """Extend the slot the provider's work holds. Without the limiter the slot keeps
        its expiry (at worst it runs out early): better than losing that work."""
        try:
            self.limiter.renew(self.endpoint, holder=self.holder, hold_s=hold_s)
        except LimiterUnavailable as exc:
            logger.warning("generation %s: slot not renewed (%s)", self.generation_id, exc)

    def release(self) -> None:
        """Let the slot go and hand it to a waiting generation."""
        self.held = False
        try:
            self.limiter.release(self.endpoint, holder=self.holder)
        except LimiterUnavailable as exc:
            # the slot expires with its hold; the work done is not thrown away for it
            logger.warning("generation %s: slot not released (%s)", self.generation_id, exc)
        self._kick()

    def pause(self, seconds: float) -> None:
        """The provider asked everyone to wait, not only this request."""
        try:
            self.limiter.pause(self.endpoint, seconds=seconds)
        except LimiterUnavailable as unavailable:
            logger.warning("generation %s: pause not shared (%s)", self.generation_id, unavailable)

    def wait(self, denied: Denied) -> tuple[float, float]:
        """``(countdown, due_in)`` in seconds for a generation denied a slot: when its
        task comes back, and when it may be claimed again."""
        endpoint, now = self.endpoint, timezone.now()
        ahead = (
            Generation.objects.waiting_for_slot(endpoint.pk, now)
            .filter(pk__lt=self.generation_id)
            .count()
        )
        if denied.reason == "rate":
            interval = 60.0 / max(1, endpoint.rate_per_minute)
            wait = float(denied.wait_s or 0)
            return wait + ahead * interval + random.uniform(0, interval), wait
        # A freed slot wakes the next waiting generation at once (``_kick``); this
        # countdown is the fallback, timed by the place in the queue.
        recent = list(
            Generation.objects.filter(endpoint=endpoint, status=Generation.Status.SUCCEEDED)
            .exclude(latency_ms=None)
            .order_by("-finished_at")
            .values_list("latency_ms", flat=True)[:50]
        )
        typical_s = (sum(recent) / len(recent) if recent else 5000) / 1000
        countdown = ahead / endpoint.concurrency_limit * typical_s * 1.5
        return min(300.0, max(1.0, countdown)) + random.uniform(0, 1), 0

    def _kick(self) -> None:
        """Hand the freed slot to a waiting generation now, rather than when its
        fallback countdown runs out. One of the first few, at random, so that two
        workers freeing slots at once rarely wake the same one."""
        waiting = list(
            Generation.objects.waiting_for_slot(self.endpoint.pk, timezone.now())
            .exclude(pk=self.generation_id)
            .order_by("pk")
            .values_list("pk", flat=True)[: self.endpoint.concurrency_limit]
        )
        if waiting:
            schedule_next(random.choice(waiting))
