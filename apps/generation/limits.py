"""Per-endpoint concurrency and rate limits, shared by every worker process.

A generation takes a *slot* before it submits to the provider and keeps it until the
provider is done with it (through every poll of an asynchronous task), because
providers count their running tasks against the account's concurrency. Slots expire,
so a worker that dies cannot hold one for ever; the generation, claimed again, finds
its own slot (a slot is keyed by the generation) and renews it.

The rate limit is GCRA (a leaky bucket held as one "theoretical arrival time"):
submissions are spaced ``60 / rate_per_minute`` seconds apart. A provider's
``Retry-After`` pushes that time forward for every worker (:meth:`Limiter.pause`).

Two implementations with one interface: Redis (one Lua script, the Redis server's
clock) when the broker is Redis, the database otherwise (a locked row per endpoint
and a table of slots). ``acquire`` never waits: it answers at once, and a task that
gets no slot reschedules itself with a countdown instead of sleeping in a worker.

A Redis that does not answer (down, restarting, still loading its dump) makes every
method raise :class:`LimiterUnavailable`, a transient error: the caller tries again
later. A slot taken before Redis went away is never counted for ever: it expires with
its hold (and a Redis restarted empty has forgotten it already).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.registry.models import ModelEndpoint

from .models import EndpointSlot, EndpointThrottle


@dataclass(frozen=True)
class Denied:
    """No slot now. ``wait_s`` is known for the rate limit; ``None`` means all slots
    are taken (how long that lasts depends on the requests in flight)."""

    reason: str  # "concurrency" | "rate"
    wait_s: float | None = None


class LimiterUnavailable(Exception):
    """The limiter's store does not answer now; nothing was decided. Transient."""


class Limiter(Protocol):
    def acquire(
        self, endpoint: ModelEndpoint, *, holder: str, hold_s: float, submit: bool = True
    ) -> Denied | None:
        """Take (or renew) ``holder``'s slot for ``hold_s`` seconds; with ``submit``,
        also take a place under the rate limit. None when granted."""

    def renew(self, endpoint: ModelEndpoint, *, holder: str, hold_s: float) -> None: ...

    def release(self, endpoint: ModelEndpoint, *, holder: str) -> None: ...

    def pause(self, endpoint: ModelEndpoint, *, seconds: float) -> None:
        """No submission to ``endpoint`` for ``seconds`` (a provider's Retry-After)."""

    def in_flight(self, endpoint: ModelEndpoint) -> int: ...


def _interval_s(endpoint: ModelEndpoint) -> float:
    return 60.0 / endpoint.rate_per_minute if endpoint.rate_per_minute else 0.0


class DatabaseLimiter:
    """Slots as rows; the endpoint's throttle row, locked, serialises the accounting.
    (On SQLite ``select_for_update`` does nothing, but transactions start IMMEDIATE
    there, which serialises writers all the same.)"""

    def _locked_throttle(self, endpoint: ModelEndpoint) -> EndpointThrottle:
        try:
            with transaction.atomic():
                EndpointThrottle.objects.get_or_create(endpoint=endpoint)
        except IntegrityError:  # created by another worker in the meantime
            pass
        return EndpointThrottle.objects.select_for_update().get(endpoint=endpoint)

    def acquire(
        self, endpoint: ModelEndpoint, *, holder: str, hold_s: float, submit: bool = True
    ) -> Denied | None:
        with transaction.atomic():
            throttle = self._locked_throttle(endpoint)
            now = timezone.now()
            slots = EndpointSlot.objects.filter(endpoint=endpoint)
            slots.filter(expires_at__lte=now).delete()
            held = slots.filter(holder=holder).exists()
            if not held and slots.count() >= endpoint.concurrency_limit:
                return Denied("concurrency")
            if submit:
                tat = max(throttle.tat or now, now)
                if tat > now:
                    return Denied("rate", (tat - now).total_seconds())
                interval = _interval_s(endpoint)
                if interval:
                    throttle.tat = tat + timedelta(seconds=interval)
                    throttle.save(update_fields=["tat"])
            expires = now + timedelta(seconds=hold_s)
            if held:
                slots.filter(holder=holder).update(expires_at=expires)
            else:
                EndpointSlot.objects.create(endpoint=endpoint, holder=holder, expires_at=expires)
        return None

    def renew(self, endpoint: ModelEndpoint, *, holder: str, hold_s: float) -> None:
        expires = timezone.now() + timedelta(seconds=hold_s)
        EndpointSlot.objects.filter(endpoint=endpoint, holder=holder).update(expires_at=expires)

    def release(self, endpoint: ModelEndpoint, *, holder: str) -> None:
        EndpointSlot.objects.filter(endpoint=endpoint, holder=holder).delete()

    def pause(self, endpoint: ModelEndpoint, *, seconds: float) -> None:
        with transaction.atomic():
            throttle = self._locked_throttle(endpoint)
            until = timezone.now() + timedelta(seconds=seconds)
            if throttle.tat is None or throttle.tat < until:
                throttle.tat = until
                throttle.save(update_fields=["tat"])

    def in_flight(self, endpoint: ModelEndpoint) -> int:
        return EndpointSlot.objects.filter(endpoint=endpoint, expires_at__gt=timezone.now()).count()


# KEYS: slots (sorted set holder -> expiry ms), tat (ms); ARGV: holder, limit, hold ms,
# interval ms, submit (0/1). Returns {1, 0} granted, {0, -1} no slot, {0, wait ms} rate.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not held) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return {0, -1}
end
if ARGV[5] == '1' then
  local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
  if tat > now then return {0, tat - now} end
  local interval = tonumber(ARGV[4])
  if interval > 0 then
    redis.call('SET', KEYS[2], now + interval, 'PX', interval + 60000)
  end
end
local hold = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + hold, ARGV[1])
redis.call('PEXPIRE', KEYS[1], hold + 60000)
return {1, 0}
"""
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local hold = tonumber(ARGV[2])
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + hold, ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], hold + 60000)
end
return 1
"""
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untl = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if untl > tat then redis.call('SET', KEYS[1], untl, 'PX', tonumber(ARGV[1]) + 60000) end
return 1
"""
_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""


class RedisLimiter:
    """Slots in a sorted set per endpoint (member: holder, score: expiry), the GCRA
    time in a plain key; every decision is one Lua script, atomic on the server."""

    TIMEOUT_S = 5.0  # a Redis that hangs must not hold a worker for ever

    def __init__(self, url: str, *, prefix: str = "evalsite:limits") -> None:
        import redis

        self.client = redis.Redis.from_url(
            url, socket_timeout=self.TIMEOUT_S, socket_connect_timeout=self.TIMEOUT_S
        )
        self.prefix = prefix
        self._acquire = self.client.register_script(_ACQUIRE)
        self._renew = self.client.register_script(_RENEW)
        self._pause = self.client.register_script(_PAUSE)
        self._count = self.client.register_script(_COUNT)

    def _keys(self, endpoint: ModelEndpoint) -> tuple[str, str]:
        base = f"{self.prefix}:{endpoint.pk}"
        return f"{base}:slots", f"{base}:tat"

    @staticmethod
    @contextlib.contextmanager
    def _answering() -> Iterator[None]:
        """Redis's connection errors (BusyLoadingError, while it loads its dump, is one)
        and timeouts as :class:`LimiterUnavailable`."""
        import redis

        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise LimiterUnavailable(f"Redis: {type(exc).__name__}: {exc}") from exc

    def acquire(
        self, endpoint: ModelEndpoint, *, holder: str, hold_s: float, submit: bool = True
    ) -> Denied | None:
        with self._answering():
            granted, wait_ms = self._acquire(
                keys=self._keys(endpoint),
                args=[
                    holder,
                    endpoint.concurrency_limit,
                    int(hold_s * 1000),
                    int(_interval_s(endpoint) * 1000),
                    "1" if submit else "0",
                ],
            )
        if granted:
            return None
        if wait_ms < 0:
            return Denied("concurrency")
        return Denied("rate", wait_ms / 1000)

    def renew(self, endpoint: ModelEndpoint, *, holder: str, hold_s: float) -> None:
        with self._answering():
            self._renew(keys=self._keys(endpoint)[:1], args=[holder, int(hold_s * 1000)])

    def release(self, endpoint: ModelEndpoint, *, holder: str) -> None:
        with self._answering():
            self.client.zrem(self._keys(endpoint)[0], holder)

    def pause(self, endpoint: ModelEndpoint, *, seconds: float) -> None:
        with self._answering():
            self._pause(keys=self._keys(endpoint)[1:], args=[int(seconds * 1000)])

    def in_flight(self, endpoint: ModelEndpoint) -> int:
        with self._answering():
            return int(self._count(keys=self._keys(endpoint)[:1]))


@functools.cache
def _redis_limiter(url: str, prefix: str) -> RedisLimiter:
    return RedisLimiter(url, prefix=prefix)


def limiter() -> Limiter:
    """Redis when the broker is Redis, the database otherwise. The broker URL is
    read from the Celery app (what the workers really use)."""
    from evalsite.celery import app

    url = str(app.conf.broker_url or "")
    if url.startswith(("redis://", "rediss://")):
        prefix = getattr(settings, "GENERATION_LIMITS_PREFIX", "evalsite:limits")
        return _redis_limiter(url, prefix)
    return DatabaseLimiter()
