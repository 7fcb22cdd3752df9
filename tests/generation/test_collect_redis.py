"""Redis away (restarting, loading its dump, restarted empty) is a transient fault:
the limiter says so, a run goes on or comes back later, and the periodic recovery
queues again what the broker lost. Scheduling is recorded instead of sent."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.utils import timezone
from kombu.exceptions import OperationalError

from apps.generation import claims, scheduling, steps
from apps.generation.limits import DatabaseLimiter, LimiterUnavailable, RedisLimiter
from apps.generation.models import EndpointSlot, Generation, Output
from apps.generation.providers import Finished, Pending
from apps.generation.services import generation_step
from apps.generation.tasks import generation_recover
from tests.generation.collect_support import make_due, make_generations, png
from tests.registry.factories import ModelEndpointFactory
from tests.services import free_port

Status = Generation.Status


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def scheduled(monkeypatch) -> list[tuple[int, float]]:
    """Tasks the steps would have sent: (generation id, countdown)."""
    sent: list[tuple[int, float]] = []
    monkeypatch.setattr(scheduling, "_enqueue", lambda gid, wait: sent.append((gid, wait)))
    return sent


class Images:
    """A provider that answers every submission with a new image (or first "pending")."""

    name = "images"
    media_kinds = frozenset({"image"})

    def __init__(self, *, pending_first: bool = False, on_call=None) -> None:
        self.calls: list[str] = []
        self.pending_first = pending_first
        self.on_call = on_call or (lambda: None)

    def validate_params(self, params, *, media_kind):
        return dict(params)

    def start(self, request):
        self.calls.append("start")
        self.on_call()
        if self.pending_first:
            return Pending("task-1", poll_after_s=1)
        return Finished(png(len(self.calls)), "image/png")

    def poll(self, request, task_id):
        self.calls.append(f"poll {task_id}")
        self.on_call()
        return Finished(png(len(self.calls)), "image/png")


@pytest.fixture
def provider(monkeypatch) -> Images:
    images = Images()
    monkeypatch.setattr(steps, "get_provider", lambda name: images)
    return images


class FlakyLimiter(DatabaseLimiter):
    """The database limiter, with the methods named in ``away`` not answering."""

    def __init__(self, *away: str) -> None:
        self.away = set(away)

    def _maybe_away(self, method: str) -> None:
        if method in self.away:
            raise LimiterUnavailable("Redis: ConnectionError: Connection refused.")

    def acquire(self, endpoint, *, holder, hold_s, submit=True):
        self._maybe_away("acquire")
        return super().acquire(endpoint, holder=holder, hold_s=hold_s, submit=submit)

    def renew(self, endpoint, *, holder, hold_s):
        self._maybe_away("renew")
        super().renew(endpoint, holder=holder, hold_s=hold_s)

    def release(self, endpoint, *, holder):
        self._maybe_away("release")
        super().release(endpoint, holder=holder)


@pytest.fixture
def flaky(monkeypatch):
    def install(*away: str) -> FlakyLimiter:
        limiter = FlakyLimiter(*away)
        monkeypatch.setattr(steps, "limiter", lambda: limiter)
        return limiter

    return install


# --- the Redis limiter -------------------------------------------------------------


@pytest.mark.django_db
def test_a_redis_limiter_without_its_server_is_unavailable_not_broken():
    # given a limiter whose Redis does not answer (nothing listens on its port)
    endpoint = ModelEndpointFactory()
    limiter = RedisLimiter(f"redis://127.0.0.1:{free_port()}/0", prefix="test:away")
    # then every call says "unavailable", a transient error
    calls = [
        lambda: limiter.acquire(endpoint, holder="a", hold_s=60),
        lambda: limiter.renew(endpoint, holder="a", hold_s=60),
        lambda: limiter.release(endpoint, holder="a"),
        lambda: limiter.pause(endpoint, seconds=5),
        lambda: limiter.in_flight(endpoint),
    ]
    for call in calls:
        with pytest.raises(LimiterUnavailable, match="ConnectionError"):
            call()


@pytest.mark.django_db
def test_a_redis_loading_its_dump_is_unavailable_too(monkeypatch):
    endpoint = ModelEndpointFactory()
    limiter = RedisLimiter("redis://127.0.0.1:6379/0", prefix="test:loading")

    def loading(**kwargs):
        raise redis.BusyLoadingError("Redis is loading the dataset in memory")

    monkeypatch.setattr(limiter, "_acquire", loading)
    with pytest.raises(LimiterUnavailable, match="BusyLoadingError"):
        limiter.acquire(endpoint, holder="a", hold_s=60)


@pytest.mark.redis
@pytest.mark.django_db
def test_a_redis_limiter_works_again_after_its_server_forgot_everything(redis_url):
    # given a slot taken, then Redis restarted empty (data and Lua scripts gone)
    endpoint = ModelEndpointFactory(concurrency_limit=1)
    limiter = RedisLimiter(redis_url, prefix="test:restarted")
    assert limiter.acquire(endpoint, holder="before", hold_s=60) is None
    limiter.client.delete(*limiter._keys(endpoint))
    limiter.client.script_flush()
    # then the limiter works at once, and the old holder counts no more
    assert limiter.in_flight(endpoint) == 0
    assert limiter.acquire(endpoint, holder="after", hold_s=60) is None
    assert limiter.in_flight(endpoint) == 1


# --- a run with the limiter away ------------------------------------------------------


@pytest.mark.django_db
def test_no_answer_from_the_limiter_before_submitting_means_again_later_not_failed(
    provider, flaky, scheduled, django_capture_on_commit_callbacks
):
    # given the limiter away when a generation's task runs
    flaky("acquire")
    (generation,) = make_generations(ModelEndpointFactory())
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        outcome = generation_step(generation_id=generation.pk)
    # then nothing was sent, and the generation waits a few seconds, its budget intact
    assert outcome == "retrying"
    assert provider.calls == []
    generation.refresh_from_db()
    assert (generation.status, generation.retries, generation.attempts) == (Status.PENDING, 0, 0)
    assert generation.error_code == "limiter_unavailable"
    assert "Connection refused" in generation.last_error
    assert generation.claim_token == "" and generation.lease_expires_at is None
    assert before + timedelta(seconds=2) <= generation.next_attempt_at
    assert generation.next_attempt_at <= timezone.now() + timedelta(seconds=10)
    ((gid, countdown),) = scheduled
    assert gid == generation.pk and 2 <= countdown <= 10
    # when the limiter is back and the time has come, the generation succeeds
    flaky()
    make_due(generation)
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_step(generation_id=generation.pk) == "succeeded"
    assert provider.calls == ["start"]
    assert Output.objects.filter(generation=generation).count() == 1


@pytest.mark.django_db
def test_no_answer_from_the_limiter_after_the_provider_answered_keeps_the_work(
    provider, flaky, scheduled, django_capture_on_commit_callbacks, caplog
):
    # given a slot taken, then the limiter away while the provider works
    limiter = flaky()
    provider.on_call = lambda: limiter.away.update({"release", "renew"})
    (generation,) = make_generations(ModelEndpointFactory())
    with django_capture_on_commit_callbacks(execute=True):
        outcome = generation_step(generation_id=generation.pk)
    # then the image is kept: one output, no failure
    assert outcome == "succeeded"
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.SUCCEEDED, "")
    assert Output.objects.filter(generation=generation).count() == 1
    assert "slot not released" in caplog.text
    # and the slot it could not release expires with its hold (the lease)
    slot = EndpointSlot.objects.get(holder=str(generation.pk))
    assert slot.expires_at <= timezone.now() + timedelta(seconds=claims.lease_s())


@pytest.mark.django_db
def test_no_answer_from_the_limiter_while_polling_polls_anyway(
    monkeypatch, flaky, scheduled, django_capture_on_commit_callbacks
):
    images = Images(pending_first=True)
    monkeypatch.setattr(steps, "get_provider", lambda name: images)
    limiter = flaky()
    (generation,) = make_generations(ModelEndpointFactory())
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_step(generation_id=generation.pk) == "polling"
    # when the limiter is away at the poll, the poll happens and the result is kept
    limiter.away.update({"renew", "release"})
    make_due(generation)
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_step(generation_id=generation.pk) == "succeeded"
    assert images.calls == ["start", "poll task-1"]
    assert Output.objects.filter(generation=generation).count() == 1


@pytest.mark.django_db
def test_a_broker_away_leaves_the_generation_pending_for_the_recovery(
    provider, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    # given a generation that must wait for a slot, and a broker that takes no task
    def broker_away(gid, countdown):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(scheduling, "_enqueue", broker_away)
    endpoint = ModelEndpointFactory(concurrency_limit=1)
    (generation,) = make_generations(endpoint)
    DatabaseLimiter().acquire(endpoint, holder="someone-else", hold_s=60)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        outcome = generation_step(generation_id=generation.pk)
    # then it waits in the database, not failed, and the log says who takes over
    assert outcome == "waiting"
    generation.refresh_from_db()
    assert (generation.status, generation.error_code) == (Status.PENDING, "")
    assert "the periodic recovery will queue it" in caplog.text


# --- the periodic recovery ----------------------------------------------------------


@pytest.mark.django_db
def test_recovery_queues_only_the_generations_without_a_live_task(
    provider, scheduled, settings, django_capture_on_commit_callbacks
):
    settings.GENERATION_RECOVER_AFTER_S = 600
    now = timezone.now()
    long_ago = now - timedelta(seconds=601)
    gens = make_generations(ModelEndpointFactory(), 7)
    states = {
        # running, but its worker stopped renewing the lease
        "expired lease": dict(status=Status.RUNNING, claim_token="x", lease_expires_at=now),
        # running under a live lease
        "live lease": dict(
            status=Status.RUNNING, claim_token="y", lease_expires_at=now + timedelta(seconds=30)
        ),
        # due for ten minutes, and nobody touched it since: its task was lost
        "lost": dict(next_attempt_at=long_ago, updated_at=long_ago),
        # due long ago but written a moment ago: waiting for a slot, its task ahead
        "waiting": dict(next_attempt_at=long_ago, updated_at=now - timedelta(seconds=290)),
        # a retry not yet due
        "retry later": dict(next_attempt_at=now + timedelta(seconds=60), updated_at=long_ago),
        "succeeded": dict(status=Status.SUCCEEDED, next_attempt_at=None, updated_at=long_ago),
        "failed": dict(status=Status.FAILED, next_attempt_at=None, updated_at=long_ago),
    }
    for generation, fields in zip(gens, states.values(), strict=True):
        Generation.objects.filter(pk=generation.pk).update(**fields)
    by_state = dict(zip(states, gens, strict=True))

    # when the recovery runs (the beat's task)
    with django_capture_on_commit_callbacks(execute=True):
        queued = generation_recover()

    # then it queued the expired lease and the lost one, at once, and nothing else
    assert queued == 2
    assert sorted(scheduled) == sorted(
        [(by_state["expired lease"].pk, 0.0), (by_state["lost"].pk, 0.0)]
    )


@pytest.mark.django_db
def test_recovery_beside_a_live_task_makes_no_second_output(
    provider, scheduled, settings, django_capture_on_commit_callbacks
):
    # given a generation whose task is in fact alive, taken for lost by the recovery
    settings.GENERATION_RECOVER_AFTER_S = 0
    (generation,) = make_generations(ModelEndpointFactory())
    make_due(generation)
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_recover() == 1
    # when both tasks run
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = [generation_step(generation_id=generation.pk) for _ in range(2)]
    # then the work was done once
    assert outcomes == ["succeeded", "skipped"]
    assert provider.calls == ["start"]
    assert Output.objects.filter(generation=generation).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_recover() == 0


def test_the_beat_schedule_runs_the_recovery(settings):
    from evalsite.celery import app

    entry = app.conf.beat_schedule["generation-recover"]
    assert entry["task"] == "generation.recover"
    assert entry["schedule"] == settings.GENERATION_RECOVER_EVERY_S == 60.0
    assert "generation.recover" in app.tasks
