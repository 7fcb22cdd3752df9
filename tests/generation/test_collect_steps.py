"""One task run at a time: retries and Retry-After, final errors, polling, slots,
leases and lost claims. Scheduling is recorded instead of sent, and each test drives
the steps itself, so no test waits for a countdown."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.generation import limits, scheduling, steps, storage
from apps.generation.models import EndpointSlot, Generation, Output
from apps.generation.providers import Finished, Pending, ProviderError
from apps.generation.services import generation_step
from tests.generation.collect_support import (
    ImageAPI,
    make_due,
    make_generations,
    png,
    serve_images,
)
from tests.generation.fakeserver import Reply
from tests.registry.factories import ModelEndpointFactory

pytestmark = pytest.mark.django_db
Status = Generation.Status
KEY = "sk-test-0123456789abcdef"


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


@pytest.fixture
def image_endpoint(fake_server, monkeypatch):
    monkeypatch.setenv("FAKE_IMAGES_KEY", KEY)
    return ModelEndpointFactory(
        adapter="openai-images",
        base_url=fake_server.url + "/v1",
        model_id="fake-image-1",
        params={"dialect": "compatible"},
        api_key_env="FAKE_IMAGES_KEY",
        timeout_s=5,
    )


def test_a_429_is_retried_no_earlier_than_retry_after(
    image_endpoint, fake_server, scheduled, django_capture_on_commit_callbacks
):
    # given a provider that answers 429 with Retry-After: 7, then an image
    fake_server.on(
        "POST",
        "/v1/images/generations",
        Reply(status=429, headers={"Retry-After": "7"}, json={"error": {"message": "slow down"}}),
        ImageAPI(),
    )
    (generation,) = make_generations(image_endpoint)
    before = timezone.now()
    # when the task runs
    with django_capture_on_commit_callbacks(execute=True):
        outcome = generation_step(generation_id=generation.pk)
    # then the next attempt is scheduled no earlier than the provider asked
    assert outcome == "retrying"
    assert scheduled[-1][0] == generation.pk and scheduled[-1][1] >= 7
    generation.refresh_from_db()
    assert generation.status == Status.PENDING
    assert generation.next_attempt_at >= before + timedelta(seconds=7)
    assert (generation.retries, generation.error_code) == (1, "rate_limited")
    assert "slow down" in generation.last_error
    # and a task delivered before then does not call the provider
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_step(generation_id=generation.pk) == "early"
    assert len(fake_server.requests) == 1
    # and every worker holds back its submissions to this endpoint until then
    assert limits.DatabaseLimiter().acquire(image_endpoint, holder="other", hold_s=10).reason == (
        "rate"
    )
    # when the time has come, the retry succeeds
    make_due(generation)
    from apps.generation.models import EndpointThrottle

    EndpointThrottle.objects.filter(endpoint=image_endpoint).update(tat=None)
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_step(generation_id=generation.pk) == "succeeded"
    generation.refresh_from_db()
    assert (generation.status, generation.attempts) == (Status.SUCCEEDED, 2)


def test_backoff_is_exponential_with_full_jitter_and_honours_retry_after():
    for retry in range(1, 8):
        for _ in range(50):
            delay = steps.backoff_s(retry)
            assert 0 <= delay <= min(steps.BACKOFF_CAP_S, steps.BACKOFF_BASE_S * 2 ** (retry - 1))
    assert all(steps.backoff_s(1, retry_after_s=30) >= 30 for _ in range(50))


def test_a_refusal_fails_at_once_with_the_providers_reason_and_no_key(
    image_endpoint, fake_server, scheduled, django_capture_on_commit_callbacks
):
    # given a provider that refuses the prompt and echoes the API key in its message
    serve_images(fake_server, ImageAPI(refuse="富春", echo_key_on_refusal=True))
    (generation,) = make_generations(image_endpoint)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = generation_step(generation_id=generation.pk)
    # then it failed at once, with the provider's reason shown and the key nowhere
    assert outcome == "failed"
    assert [gid for gid, _ in scheduled if gid == generation.pk] == []
    generation.refresh_from_db()
    assert (generation.status, generation.attempts, generation.retries) == (Status.FAILED, 1, 0)
    assert generation.error_code == "invalid_request"
    assert "content policy" in generation.last_error
    assert KEY not in generation.last_error
    assert len(fake_server.requests) == 1
    assert fake_server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_transient_errors_give_up_after_the_retry_budget(
    image_endpoint, fake_server, scheduled, settings, django_capture_on_commit_callbacks
):
    settings.GENERATION_MAX_RETRIES = 2
    fake_server.on("POST", "/v1/images/generations", Reply(status=503, body="busy"))
    (generation,) = make_generations(image_endpoint)
    outcomes = []
    for _ in range(3):
        make_due(generation)
        with django_capture_on_commit_callbacks(execute=True):
            outcomes.append(generation_step(generation_id=generation.pk))
    assert outcomes == ["retrying", "retrying", "failed"]
    generation.refresh_from_db()
    assert generation.status == Status.FAILED
    assert generation.last_error.startswith("gave up after 3 attempts: HTTP 503")


def test_a_missing_key_fails_naming_the_variable(
    image_endpoint, monkeypatch, scheduled, django_capture_on_commit_callbacks
):
    monkeypatch.delenv("FAKE_IMAGES_KEY")
    (generation,) = make_generations(image_endpoint)
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_step(generation_id=generation.pk) == "failed"
    generation.refresh_from_db()
    assert generation.error_code == "api_key_missing"
    assert "FAKE_IMAGES_KEY is not set" in generation.last_error


class ScriptedProvider:
    """A provider whose answers (or errors) are given in advance."""

    name = "scripted"
    media_kinds = frozenset({"image"})

    def __init__(self, *answers, on_call=None):
        self.answers = list(answers)
        self.calls: list[str] = []
        self.on_call = on_call

    def validate_params(self, params, *, media_kind):
        return dict(params)

    def _next(self, what: str):
        self.calls.append(what)
        if self.on_call:
            self.on_call()
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def start(self, request):
        return self._next("start")

    def poll(self, request, task_id):
        return self._next(f"poll {task_id}")


@pytest.fixture
def scripted(monkeypatch):
    def install(*answers, on_call=None) -> ScriptedProvider:
        provider = ScriptedProvider(*answers, on_call=on_call)
        monkeypatch.setattr(steps, "get_provider", lambda name: provider)
        return provider

    return install


def test_polling_reschedules_with_a_countdown_and_keeps_the_slot(
    scripted, scheduled, django_capture_on_commit_callbacks
):
    # given an asynchronous provider: submitted, still running, then done
    provider = scripted(
        Pending("task-1", poll_after_s=5),
        Pending("task-1", poll_after_s=8),
        Finished(png(1), "image/png", revised_prompt="a rewritten prompt", metadata={"id": 1}),
    )
    endpoint = ModelEndpointFactory(concurrency_limit=1)
    (generation,) = make_generations(endpoint)
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_step(generation_id=generation.pk) == "polling"
    # then the task did not wait: it scheduled the poll, and the provider's slot stays taken
    assert scheduled[-1] == (generation.pk, 5)
    generation.refresh_from_db()
    assert (generation.status, generation.provider_task_id) == (Status.PENDING, "task-1")
    assert limits.DatabaseLimiter().in_flight(endpoint) == 1
    for expected in ("polling", "succeeded"):
        make_due(generation)
        with django_capture_on_commit_callbacks(execute=True):
            assert generation_step(generation_id=generation.pk) == expected
    assert provider.calls == ["start", "poll task-1", "poll task-1"]
    generation.refresh_from_db()
    assert (generation.status, generation.attempts) == (Status.SUCCEEDED, 1)
    assert generation.revised_prompt == "a rewritten prompt"
    assert generation.metadata == {"id": 1}
    assert limits.DatabaseLimiter().in_flight(endpoint) == 0


def test_no_free_slot_means_a_countdown_and_a_freed_slot_wakes_a_waiter(
    scripted, scheduled, django_capture_on_commit_callbacks
):
    scripted(Finished(png(1), "image/png"), Finished(png(2), "image/png"))
    endpoint = ModelEndpointFactory(concurrency_limit=1)
    first, second = make_generations(endpoint, 2)
    # given the only slot is taken
    limits.DatabaseLimiter().acquire(endpoint, holder=str(first.pk), hold_s=60)
    # when the second generation's task runs
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_step(generation_id=second.pk) == "waiting"
    # then it goes back to the queue with a countdown, without calling the provider
    second.refresh_from_db()
    assert (second.status, second.slot_waits, second.attempts) == (Status.PENDING, 1, 0)
    assert scheduled[-1][0] == second.pk and scheduled[-1][1] >= 1
    # when the first finishes, its slot is handed to the waiting one at once
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_step(generation_id=first.pk) == "succeeded"
    assert scheduled[-1] == (second.pk, 0)
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_step(generation_id=second.pk) == "succeeded"


def test_an_expired_lease_is_claimed_again_and_its_unfinished_file_removed(
    scripted, scheduled, media_root, django_capture_on_commit_callbacks
):
    # given a generation whose worker died after writing a file it never committed
    scripted(Finished(png(7), "image/png"))
    endpoint = ModelEndpointFactory()
    (generation,) = make_generations(endpoint)
    stale = storage.output_write(storage.output_name("ab" * 32, "png"), b"half-done")
    Generation.objects.filter(pk=generation.pk).update(
        status=Status.RUNNING,
        claim_token="dead-worker",
        lease_expires_at=timezone.now() + timedelta(seconds=60),
        staged_file=stale,
    )
    # when its task comes again while the lease runs, nothing happens
    assert generation_step(generation_id=generation.pk) == "skipped"
    # when the lease has run out, the task claims it, cleans up, and does the work once
    Generation.objects.filter(pk=generation.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_step(generation_id=generation.pk) == "succeeded"
    assert not (media_root / stale).exists()
    assert Output.objects.filter(generation=generation).count() == 1
    assert sorted(storage.output_names_stored()) == [generation.output.file.name]


def test_a_run_that_lost_its_claim_writes_nothing(
    scripted, scheduled, media_root, django_capture_on_commit_callbacks
):
    endpoint = ModelEndpointFactory()
    (generation,) = make_generations(endpoint)

    def reclaimed_by_another_worker():
        Generation.objects.filter(pk=generation.pk).update(claim_token="another-worker")

    # given a provider call during which another worker took the generation over
    scripted(Finished(png(3), "image/png"), on_call=reclaimed_by_another_worker)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = generation_step(generation_id=generation.pk)
    # then this run stores no output and leaves no file behind
    assert outcome == "lost"
    assert not Output.objects.exists()
    assert list(storage.output_names_stored()) == []
    generation.refresh_from_db()
    assert (generation.status, generation.claim_token) == (Status.RUNNING, "another-worker")


def test_a_sanitiser_refusal_fails_the_generation(
    scripted, scheduled, django_capture_on_commit_callbacks
):
    scripted(Finished(b"not an image", "image/png"))
    (generation,) = make_generations(ModelEndpointFactory())
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_step(generation_id=generation.pk) == "failed"
    generation.refresh_from_db()
    assert generation.error_code == "sanitize_failed"
    assert not EndpointSlot.objects.exists()


def test_a_retryable_error_while_polling_polls_again_without_resubmitting(
    scripted, scheduled, django_capture_on_commit_callbacks
):
    provider = scripted(
        Pending("t-9", poll_after_s=1),
        ProviderError("HTTP 502", retryable=True, code="server_error"),
        Finished(png(9), "image/png"),
    )
    (generation,) = make_generations(ModelEndpointFactory())
    for expected in ("polling", "retrying", "succeeded"):
        make_due(generation)
        with django_capture_on_commit_callbacks(execute=True):
            assert generation_step(generation_id=generation.pk) == expected
    assert provider.calls == ["start", "poll t-9", "poll t-9"]
    generation.refresh_from_db()
    assert (generation.attempts, generation.retries) == (1, 1)


def test_an_unexpected_error_fails_the_generation_without_leaking_the_key(
    scripted, scheduled, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    monkeypatch.setenv("SCRIPTED_KEY", KEY)
    scripted(RuntimeError(f"adapter bug while using {KEY}"))
    (generation,) = make_generations(ModelEndpointFactory(api_key_env="SCRIPTED_KEY"))
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_step(generation_id=generation.pk) == "failed"
    generation.refresh_from_db()
    assert generation.error_code == "internal_error"
    assert (
        generation.last_error == "internal error: RuntimeError: adapter bug while using [redacted]"
    )
    assert KEY not in caplog.text
    assert "adapter bug" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_keeps_the_lease_of_a_slow_call(scripted, scheduled, settings):
    # given a lease of 1.5 s and a provider call that takes 2.5 s
    settings.GENERATION_LEASE_S = 1.5
    (generation,) = make_generations(ModelEndpointFactory())
    seen = {}

    def slow_call():
        time.sleep(2.5)
        generation.refresh_from_db()
        seen["lease_left"] = (generation.lease_expires_at - timezone.now()).total_seconds()

    scripted(Finished(png(5), "image/png"), on_call=slow_call)
    # when the run works through the call
    assert generation_step(generation_id=generation.pk) == "succeeded"
    # then its lease was renewed meanwhile: no other worker could have claimed it
    assert seen["lease_left"] > 0
