"""The shared pieces every network adapter relies on (apps/generation/providers/: http.py,
media.py, checks.py)."""

from __future__ import annotations

import base64
import pickle
import socket
from datetime import UTC, datetime

import httpx
import pytest

from apps.generation.providers import (
    ADAPTERS,
    GenerationRequest,
    ParamError,
    checks,
    get_provider,
    media,
)
from apps.generation.providers import http as ph
from apps.generation.providers.base import ProviderError
from tests.generation.fakeserver import MB, MP4_STUB, PNG_1X1, FakeServer, Reply, filler

KEY = "sk-test-7f3a9c1e5b2d-SECRET"
IMAGES = {"image/png", "image/jpeg", "image/webp"}


def outcome(error: ProviderError) -> tuple[str, bool, float | None]:
    return error.code, error.retryable, error.retry_after_s


# --- classify_http_error ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "body", "expected", "reason"),
    [
        (
            429,
            {"Retry-After": "12"},
            "",
            ("rate_limited", True, 12.0),
            "HTTP 429 Too Many Requests",
        ),
        (
            503,
            {"Retry-After": "3"},
            "",
            ("server_error", True, 3.0),
            "HTTP 503 Service Unavailable",
        ),
        (500, {}, "", ("server_error", True, None), "HTTP 500 Internal Server Error"),
        (408, {}, "", ("timeout", True, None), "HTTP 408 Request Timeout"),
        (
            401,
            {},
            '{"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}',
            ("auth", False, None),
            "HTTP 401 Unauthorized: [invalid_api_key] Incorrect API key provided",
        ),
        (
            403,
            {},
            '{"message": "forbidden"}',
            ("auth", False, None),
            "HTTP 403 Forbidden: forbidden",
        ),
        (402, {}, "", ("billing", False, None), "HTTP 402 Payment Required"),
        (
            400,
            {"Retry-After": "5"},  # ignored: a bad request does not get better by waiting
            '{"code": "InvalidParameter", "message": "size is invalid", "request_id": "r1"}',
            ("invalid_request", False, None),
            "HTTP 400 Bad Request: [InvalidParameter] size is invalid",
        ),
        (
            422,
            {},
            '{"detail": "prompt is required"}',
            ("invalid_request", False, None),
            "HTTP 422 Unprocessable Entity: prompt is required",
        ),
        (404, {}, "no such task", ("not_found", False, None), "HTTP 404 Not Found: no such task"),
        (
            502,
            {"Content-Type": "text/html"},
            "<html><body>bad gateway</body></html>",
            ("server_error", True, None),
            "HTTP 502 Bad Gateway",
        ),
        (409, {}, "", ("http_error", False, None), "HTTP 409 Conflict"),
    ],
)
def test_classify_http_error_maps_status_to_kind_retry_and_provider_message(
    status, headers, body, expected, reason
):
    # given an error answer as a provider sends it
    response = httpx.Response(status, headers=headers, content=body.encode())
    # when it is classified
    error = ph.classify_http_error(response)
    # then the kind, retry decision, wait and reason are exactly these
    assert outcome(error) == expected
    assert error.reason == reason


def test_classify_http_error_never_copies_headers_into_the_reason():
    # given an answer whose headers carry secrets (a key echoed back, a cookie)
    response = httpx.Response(
        401,
        headers={"x-api-key": KEY, "set-cookie": f"session={KEY}", "www-authenticate": KEY},
        content=b'{"error": {"message": "bad key"}}',
    )
    # when it is classified
    error = ph.classify_http_error(response)
    # then only status and message make the reason
    assert error.reason == "HTTP 401 Unauthorized: bad key"


def test_provider_message_is_shortened_to_a_bounded_length():
    response = httpx.Response(400, content=("x" * 5000).encode())
    assert len(ph.provider_message(response)) == ph.MESSAGE_MAX_CHARS


# --- Retry-After ------------------------------------------------------------------------

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after": "120"}, 120.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "Sat, 01 Mar 2025 12:00:30 GMT"}, 30.0),
        ({"retry-after": "Sat, 01 Mar 2025 11:59:00 GMT"}, 0.0),  # already past
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "250"}, 0.25),
        ({}, None),
    ],
)
def test_parse_retry_after_reads_seconds_http_dates_and_milliseconds(headers, seconds):
    assert ph.parse_retry_after(httpx.Headers(headers), now=NOW) == seconds


# --- JSON ---------------------------------------------------------------------------------


def test_malformed_json_is_a_retryable_malformed_response():
    # when a body that is not JSON is decoded
    with pytest.raises(ProviderError) as caught:
        ph.decode_json(b'{"data": [', what="image generation")
    # then it is treated as transient
    assert outcome(caught.value) == ("malformed_response", True, None)
    assert (
        caught.value.reason
        == "image generation: the provider's answer is not valid JSON (10 bytes)"
    )


def test_json_missing_a_promised_field_is_a_final_unexpected_response():
    with pytest.raises(ProviderError) as caught:
        ph.dig({"output": {}}, "output", "task_id", what="DashScope submission")
    assert outcome(caught.value) == ("unexpected_response", False, None)
    assert caught.value.reason == "DashScope submission: the answer has no output.task_id"


# --- guarded ----------------------------------------------------------------------------


def test_guarded_scrubs_the_key_out_of_a_provider_error():
    # given an error whose reason repeats the key (some providers echo it)
    with pytest.raises(ProviderError) as caught, ph.guarded(KEY):
        raise ProviderError(f"HTTP 401 Unauthorized: bad key {KEY}", retryable=False, code="auth")
    # then the reason no longer contains it, and nothing else changed
    assert caught.value.reason == "HTTP 401 Unauthorized: bad key [redacted]"
    assert outcome(caught.value) == ("auth", False, None)
    assert KEY not in repr(caught.value) and KEY not in str(caught.value)


def test_guarded_turns_a_refused_connection_into_a_retryable_connection_error():
    # given a port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # when a request is made there
    with (
        pytest.raises(ProviderError) as caught,
        ph.guarded(KEY),
        ph.build_client(timeout_s=0.5) as client,
    ):
        client.get(f"http://127.0.0.1:{port}/")
    # then it is a transient connection error with no chained httpx exception
    assert outcome(caught.value) == ("connection_error", True, None)
    assert caught.value.__suppress_context__ is True


def test_guarded_turns_a_param_error_into_a_final_invalid_params_error():
    with pytest.raises(ProviderError) as caught, ph.guarded():
        raise ParamError("size", "must look like '1024x1024', not 'huge'")
    assert outcome(caught.value) == ("invalid_params", False, None)
    assert caught.value.reason == (
        "invalid endpoint parameter 'size': must look like '1024x1024', not 'huge'"
    )


# --- fetch_media ------------------------------------------------------------------------


def fetch(server: FakeServer, path: str = "/media/x", **kwargs):
    options = {"max_bytes": MB, "allowed_types": IMAGES, "timeout_s": 2.0} | kwargs
    return media.fetch_media(server.url + path, **options)


def test_fetch_media_returns_the_bytes_and_media_type(fake_server):
    fake_server.on("GET", "/media/x", Reply(body=PNG_1X1, content_type="image/png; charset=binary"))
    assert fetch(fake_server) == (PNG_1X1, "image/png")


def test_fetch_media_accepts_octet_stream_whose_bytes_are_an_allowed_type(fake_server):
    fake_server.on("GET", "/media/x", Reply(body=MP4_STUB, content_type="application/octet-stream"))
    assert fetch(fake_server, allowed_types={"video/*"}) == (MP4_STUB, "video/mp4")


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        (
            "text/html",
            b"<html>login</html>",
            "the result has content type text/html, expected one of image/jpeg, image/png, "
            "image/webp",
        ),
        (
            "application/octet-stream",
            b"just some bytes",
            "the result has content type application/octet-stream (content: unknown), expected "
            "one of image/jpeg, image/png, image/webp",
        ),
        (
            "video/mp4",
            MP4_STUB,
            "the result has content type video/mp4, expected one of image/jpeg, image/png, "
            "image/webp",
        ),
    ],
    ids=["html", "octet-stream-unknown", "video-for-image"],
)
def test_fetch_media_rejects_a_wrong_content_type(fake_server, content_type, body, reason):
    fake_server.on("GET", "/media/x", Reply(body=body, content_type=content_type))
    with pytest.raises(ProviderError) as caught:
        fetch(fake_server)
    assert outcome(caught.value) == ("bad_content_type", False, None)
    assert caught.value.reason == reason


def test_fetch_media_refuses_a_declared_length_over_the_cap_before_reading(fake_server):
    # given a result that announces 64 MB
    fake_server.on(
        "GET", "/media/x", Reply(body=PNG_1X1, content_type="image/png", content_length=64 * MB)
    )
    # when it is fetched with a 1 MB cap
    with pytest.raises(ProviderError) as caught:
        fetch(fake_server)
    # then it is refused on the header alone
    assert outcome(caught.value) == ("too_large", False, None)
    assert caught.value.reason == (
        f"download: larger than the endpoint's limit of {MB} bytes (declared {64 * MB} bytes)"
    )


def test_fetch_media_aborts_an_undeclared_body_as_soon_as_it_passes_the_cap(fake_server):
    # given a result with no Content-Length that would go on for 64 MB
    total = 64 * MB
    fake_server.on(
        "GET",
        "/media/x",
        Reply(stream=filler(total, prefix=PNG_1X1), content_type="image/png", chunked=True),
    )
    # when it is fetched with a 1 MB cap
    with pytest.raises(ProviderError) as caught:
        fetch(fake_server)
    # then the client stopped reading: the server could not send the whole body
    assert outcome(caught.value) == ("too_large", False, None)
    assert caught.value.reason == (
        f"download: larger than the endpoint's limit of {MB} bytes (more than {MB} bytes received)"
    )
    assert fake_server.wait_idle()
    (served,) = fake_server.requests_to("/media/x")
    assert served.aborted is True
    assert served.bytes_sent < total // 2


@pytest.mark.parametrize("status", [403, 404, 410])
def test_fetch_media_reports_an_expired_signed_url_as_final_result_expired(fake_server, status):
    fake_server.on(
        "GET", "/media/x", Reply(status=status, body="<Error>Request has expired</Error>")
    )
    with pytest.raises(ProviderError) as caught:
        fetch(fake_server)
    assert outcome(caught.value) == ("result_expired", False, None)
    assert caught.value.reason == (
        f"the result URL is no longer available (HTTP {status}); it has probably expired. "
        "Retrying the generation submits it again."
    )


def test_fetch_media_with_credentials_reports_403_as_auth_not_expiry(fake_server):
    fake_server.on("GET", "/media/x", Reply(status=403, json={"error": {"message": "no access"}}))
    with pytest.raises(ProviderError) as caught:
        fetch(fake_server, headers={"Authorization": f"Bearer {KEY}"})
    assert outcome(caught.value) == ("auth", False, None)


def test_fetch_media_server_error_is_retryable_with_its_retry_after(fake_server):
    fake_server.on("GET", "/media/x", Reply(status=503, headers={"Retry-After": "9"}))
    with pytest.raises(ProviderError) as caught:
        fetch(fake_server)
    assert outcome(caught.value) == ("server_error", True, 9.0)


def test_fetch_media_from_a_hung_server_times_out_retryably(fake_server):
    fake_server.on("GET", "/media/x", Reply(hang=True))
    with pytest.raises(ProviderError) as caught:
        fetch(fake_server, timeout_s=0.5)
    assert outcome(caught.value) == ("timeout", True, None)


def test_fetch_media_gives_up_on_a_slow_drip_at_the_total_deadline(fake_server):
    # given a server that sends a little every 50 ms, forever (never a silent read timeout)
    fake_server.on(
        "GET",
        "/media/x",
        Reply(
            stream=filler(64 * 1024, prefix=PNG_1X1),
            content_type="image/png",
            chunked=True,
            chunk_size=256,
            chunk_delay_s=0.05,
        ),
    )
    # when fetched with a 0.5 s budget
    with pytest.raises(ProviderError) as caught:
        fetch(fake_server, timeout_s=0.5)
    # then the total deadline ends it, as a retryable timeout
    assert outcome(caught.value) == ("timeout", True, None)
    assert caught.value.reason == "download: the transfer did not finish in time"


def test_fetch_media_refuses_non_http_urls_without_a_request(fake_server):
    with pytest.raises(ProviderError) as caught:
        media.fetch_media("file:///etc/passwd", max_bytes=MB, allowed_types=IMAGES, timeout_s=1)
    assert outcome(caught.value) == ("unexpected_response", False, None)
    assert fake_server.requests == []


# --- b64 results ------------------------------------------------------------------------


def test_decode_b64_media_returns_bytes_and_sniffed_type():
    value = base64.b64encode(PNG_1X1).decode()
    assert media.decode_b64_media(value, max_bytes=MB, allowed_types=IMAGES) == (
        PNG_1X1,
        "image/png",
    )


@pytest.mark.parametrize(
    ("value", "max_bytes", "code", "retryable"),
    [
        ("not base64!!", MB, "malformed_response", True),
        (base64.b64encode(b"hello, not an image").decode(), MB, "bad_content_type", False),
        (base64.b64encode(PNG_1X1).decode(), 10, "too_large", False),
    ],
)
def test_decode_b64_media_rejects_bad_payloads(value, max_bytes, code, retryable):
    with pytest.raises(ProviderError) as caught:
        media.decode_b64_media(value, max_bytes=max_bytes, allowed_types=IMAGES)
    assert outcome(caught.value) == (code, retryable, None)


# --- parameters, errors across processes, the registry -----------------------------------


def test_check_params_names_an_unknown_field():
    fields = {"size": checks.pattern(r"\d+x\d+", "'1024x1024'"), "n": checks.forced(1)}
    with pytest.raises(ParamError) as caught:
        checks.check_params({"size": "512x512", "stlye": "vivid"}, fields, defaults={})
    assert (caught.value.field, caught.value.message) == (
        "stlye",
        "unknown parameter (accepted: n, size)",
    )


def test_check_params_fills_defaults_and_keeps_given_values():
    fields = {"watermark": checks.boolean, "seed": checks.integer(0, 10)}
    checked = checks.check_params({"seed": 3}, fields, defaults={"watermark": False})
    assert checked == {"watermark": False, "seed": 3}


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (checks.boolean, "false"),
        (checks.integer(0, 10), 11),
        (checks.integer(0, 10), True),
        (checks.number(0, 1), 1.5),
        (checks.one_of("std", "pro"), "max"),
        (checks.text(3), "four"),
        (checks.forced(1), 2),
    ],
)
def test_each_check_rejects_a_bad_value_naming_the_field(check, value):
    with pytest.raises(ParamError) as caught:
        check("the_field", value)
    assert caught.value.field == "the_field"


def test_provider_errors_and_param_errors_survive_pickling():
    # given the errors a Celery task may raise or store
    error = ProviderError(
        "HTTP 429 Too Many Requests", retryable=True, retry_after_s=4.0, code="rate_limited"
    )
    param = ParamError("size", "must look like '1024x1024'")
    # when pickled and loaded (as Celery does between processes)
    error_back, param_back = pickle.loads(pickle.dumps((error, param)))  # noqa: S301  (our own bytes)
    # then nothing is lost
    assert (error_back.reason, *outcome(error_back)) == (
        "HTTP 429 Too Many Requests",
        "rate_limited",
        True,
        4.0,
    )
    assert (param_back.field, param_back.message) == ("size", "must look like '1024x1024'")


def test_a_request_repr_never_shows_the_key():
    request = GenerationRequest(prompt="p", media_kind="image", model_id="m", api_key=KEY)
    assert KEY not in repr(request) and KEY not in str(request)


@pytest.mark.parametrize(
    ("name", "media_kinds"),
    [
        ("openai-images", {"image"}),
        ("openai-chat", {"text"}),
        ("openai-videos", {"video"}),
        ("dashscope", {"image", "video"}),
        ("kling", {"video"}),
    ],
)
def test_each_network_adapter_is_registered_under_its_name(name, media_kinds):
    provider = get_provider(name)
    assert name in ADAPTERS
    assert (provider.name, set(provider.media_kinds)) == (name, media_kinds)
