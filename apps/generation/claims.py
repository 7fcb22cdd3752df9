"""Which run may work on a generation: a claim by conditional update, held under a
lease that a heartbeat renews.

* **Claim by conditional update.** A run owns a generation only if it turned it
  from pending-and-due (or running under an expired lease) into running, with its
  own ``claim_token``. A run that cannot claim does nothing; every later write is
  conditional on the token (:class:`Claim`), so a run that lost its lease cannot
  overwrite anything.
* **Leases and a heartbeat.** A claim lasts ``GENERATION_LEASE_S`` seconds (60);
  while the run works — however long its provider takes — a thread renews it every
  third of that (:class:`Heartbeat`). A generation whose worker died is claimed
  again within one lease.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from .models import Generation
from .scheduling import schedule_next

logger = logging.getLogger("apps.generation")
Status = Generation.Status


def lease_s() -> float:
    """How long a claim lasts unless renewed (the heartbeat renews it every third)."""
    return float(getattr(settings, "GENERATION_LEASE_S", 60.0))


def generation_claim(generation_id: int) -> Claim | None:
    """Claim the generation for this run — pending and due, or running under an
    expired lease (its worker died) — or None if it is not to be worked on now."""
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
            return None
        logger.warning(
            "generation %s: claimed again, its lease ran out (worker died?)", generation_id
        )
    return Claim(generation_id, token)


def not_claimed(generation_id: int) -> str:
    """What a run that could not claim its generation does: ``missing``, ``early``
    (rescheduled for when it is due) or ``skipped``."""
    row = Generation.objects.filter(pk=generation_id).values("status", "next_attempt_at").first()
    if row is None:
        return "missing"
    now = timezone.now()
    due = row["next_attempt_at"]
    if row["status"] == Status.PENDING and due is not None and due > now:
        # delivered before it is due (another machine's clock, a resumed duplicate):
        # come back then rather than drop the only task that may exist
        schedule_next(generation_id, countdown=(due - now).total_seconds() + 0.05)
        return "early"
    return "skipped"


class Claim:
    """A run's hold on one generation: each write goes through only while the
    generation is still running under this run's token."""

    def __init__(self, generation_id: int, token: str) -> None:
        self.generation_id = generation_id
        self.token = token
        self.lease = lease_s()

    def _mine(self):
        return Generation.objects.filter(
            pk=self.generation_id, status=Status.RUNNING, claim_token=self.token
        )

    def update(self, **fields: Any) -> bool:
        """Write ``fields`` if the generation is still ours; False once it is not."""
        return bool(self._mine().update(updated_at=timezone.now(), **fields))

    def renew(self) -> bool:
        """Extend the lease; False once the generation is not ours."""
        return self.update(lease_expires_at=timezone.now() + timedelta(seconds=self.lease))

    def back_to_pending(
        self, *, countdown: float, due_in: float | None = None, **fields: Any
    ) -> bool:
        """Give the generation back (pending, due in ``due_in`` seconds) and schedule its
        task in ``countdown`` seconds. False if it was not ours."""
        now = timezone.now()
        due = now + timedelta(seconds=countdown if due_in is None else due_in)
        with transaction.atomic():
            if not self.update(
                status=Status.PENDING,
                claim_token="",
                lease_expires_at=None,
                next_attempt_at=due,
                **fields,
            ):
                return False
            schedule_next(self.generation_id, countdown=countdown)
        return True


class Heartbeat:
    """Calls ``renew`` from a thread every third of the lease while the run works, so
    that a slow provider keeps its generation and a dead worker loses it within one
    lease. Quick runs end before the first beat and never touch the database from here."""

    def __init__(self, renew: Callable[[], bool], *, lease: float, generation_id: int) -> None:
        self.renew = renew
        self.generation_id = generation_id
        self.every = lease / 3
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=self._beat, name=f"lease-{generation_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
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
                if not self.renew():
                    return
        except Exception as exc:  # the run goes on; at worst its lease runs out
            logger.warning(
                "generation %s: lease not renewed (%s)", self.generation_id, type(exc).__name__
            )
        finally:
            if beats:
                connections.close_all()  # this thread's own connections
