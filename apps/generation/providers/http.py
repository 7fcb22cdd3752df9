"""Shared HTTP plumbing for the network adapters (httpx, no ORM).

Every adapter goes through the helpers here, so they all fail the same way:

* :func:`build_client` — one short-lived ``httpx.Client`` per call, with a connect
  and a read timeout; :func:`send_json` (and ``media.fetch_media``) add a total
  deadline, so a server that drips one byte at a time cannot hold a worker either.
* :func:`classify_http_error` — turns a non-2xx answer into a :class:`ProviderError`:
  429, 408 and 5xx are retryable (``Retry-After`` in seconds or as an HTTP-date is
  honoured); 401/403 (auth), 402 (billing), 400/422 (the provider's message is
  kept), 404 and the rest are final. Reasons never contain headers.
* :func:`decode_json` — a body that is not JSON is **retryable**
  (``malformed_response``): in practice it is a truncated read or a gateway's HTML
  error page, both transient, and the collection task's bounded retries turn a
  persistent one into a failure. Well-formed JSON that lacks what the protocol
  promises (:func:`dig`) is **final** (``unexpected_response``): asking again gets
  the same answer, it means a wrong base URL or adapter.
* :func:`guarded` maps transport exceptions to ProviderError and scrubs secrets out
  of every reason (some providers echo a bad key back in their error message).

Result downloads and inline media live in ``media.py``; parameter checks in
``checks.py``.
"""

from __future__ import annotations

import functools
import json
import math
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from .base import ParamError, ProviderError

# ProviderError.code values, one vocabulary for every adapter
RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
CONNECTION_ERROR = "connection_error"
AUTH = "auth"
BILLING = "billing"
CONTENT_REFUSED = "content_refused"
INVALID_REQUEST = "invalid_request"
INVALID_PARAMS = "invalid_params"
NOT_FOUND = "not_found"
HTTP_ERROR = "http_error"
MALFORMED_RESPONSE = "malformed_response"
UNEXPECTED_RESPONSE = "unexpected_response"
BAD_CONTENT_TYPE = "bad_content_type"
TOO_LARGE = "too_large"
RESULT_EXPIRED = "result_expired"
TASK_FAILED = "task_failed"
TASK_LOST = "task_lost"

CONNECT_TIMEOUT_S = 10.0
JSON_MAX_BYTES = 8 * 1024 * 1024  # control-plane answers (task status, errors)
ERROR_BODY_MAX_BYTES = 64 * 1024  # enough for any provider's error message
MESSAGE_MAX_CHARS = 500


def build_client(*, timeout_s: float, headers: Mapping[str, str] | None = None) -> httpx.Client:
    """A client for one call. ``timeout_s`` bounds each read and write; the connect
    timeout is at most :data:`CONNECT_TIMEOUT_S`. Redirects are followed (result URLs
    often redirect to a CDN); httpx drops ``Authorization`` on a cross-origin redirect."""
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_S))
    return httpx.Client(
        timeout=timeout,
        headers=dict(headers or {}),
        follow_redirects=True,
        verify=_tls_context(),
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verification (certifi, or ``SSL_CERT_FILE``), built once per
    process: loading the CA bundle costs ~0.2 s, and a context is safe to share."""
    return httpx.create_ssl_context()


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


# ---------------------------------------------------------------------------
# errors


def redact(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


@contextmanager
def guarded(*secrets: str | None) -> Iterator[None]:
    """Turn transport failures into ProviderError and keep ``secrets`` out of reasons.
    The httpx exception is not chained (``from None``): it holds the request, and
    with it the Authorization header."""
    try:
        yield
    except ProviderError as exc:
        reason = redact(exc.reason, secrets)
        if reason == exc.reason:
            raise
        raise ProviderError(
            reason, retryable=exc.retryable, retry_after_s=exc.retry_after_s, code=exc.code
        ) from None
    except ParamError as exc:
        raise ProviderError(
            f"invalid endpoint parameter {exc.field!r}: {exc.message}",
            retryable=False,
            code=INVALID_PARAMS,
        ) from None
    except httpx.TimeoutException as exc:
        raise ProviderError(
            f"the provider did not answer in time ({type(exc).__name__})",
            retryable=True,
            code=TIMEOUT,
        ) from None
    except httpx.TransportError as exc:
        reason = redact(f"connection to the provider failed: {type(exc).__name__}: {exc}", secrets)
        raise ProviderError(reason, retryable=True, code=CONNECTION_ERROR) from None


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (delay-seconds or HTTP-date, RFC 9110) or
    the ``retry-after-ms`` header some OpenAI-style APIs send; ``None`` if absent or
    unparseable. Never negative."""
    value = (headers.get("retry-after") or "").strip()
    if value:
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - (now or datetime.now(UTC))).total_seconds()
        return max(0.0, seconds) if math.isfinite(seconds) else None
    millis = (headers.get("retry-after-ms") or "").strip()
    if millis:
        try:
            seconds = float(millis) / 1000
        except ValueError:
            return None
        return max(0.0, seconds) if math.isfinite(seconds) else None
    return None


def json_body(response: httpx.Response) -> Any:
    """The read body of an error answer as JSON, or ``None``."""
    try:
        return json.loads(response.content[:ERROR_BODY_MAX_BYTES])
    except (ValueError, httpx.ResponseNotRead):
        return None


def provider_message(response: httpx.Response) -> str:
    """The provider's own error message (and code), read from the shapes in use:
    OpenAI ``{"error": {"message", "code"}}``, DashScope and Kling
    ``{"code", "message"}``, ``{"detail"}``, ``{"msg"}``; plain text as is; HTML
    dropped (a gateway page says nothing useful). Never headers."""
    try:
        text = response.content[:ERROR_BODY_MAX_BYTES].decode("utf-8", errors="replace").strip()
    except httpx.ResponseNotRead:
        return ""
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if data is None:
        if text.startswith("<") or "html" in response.headers.get("content-type", ""):
            return ""
        return _shorten(text)
    if isinstance(data, dict):
        error = data.get("error")
        source = error if isinstance(error, dict) else data
        message = next(
            (source[k] for k in ("message", "detail", "msg") if isinstance(source.get(k), str)),
            error if isinstance(error, str) else "",
        )
        code = source.get("code") or source.get("type") or ""
        if code and str(code) not in message:
            message = f"[{code}] {message}".strip()
        return _shorten(message)
    return _shorten(text)


def classify_http_error(response: httpx.Response) -> ProviderError:
    """A ProviderError for a non-2xx answer (the body must have been read)."""
    status = response.status_code
    retry_after = parse_retry_after(response.headers)
    if status == 429:
        code, retryable = RATE_LIMITED, True
    elif status == 408:
        code, retryable = TIMEOUT, True
    elif status >= 500:
        code, retryable = SERVER_ERROR, True
    elif status in (401, 403):
        code, retryable = AUTH, False
    elif status == 402:
        code, retryable = BILLING, False
    elif status in (400, 413, 422):
        code, retryable = INVALID_REQUEST, False
    elif status == 404:
        code, retryable = NOT_FOUND, False
    else:
        code, retryable = HTTP_ERROR, False
    reason = f"HTTP {status} {_phrase(status)}"
    message = provider_message(response)
    if message:
        reason = f"{reason}: {message}"
    return ProviderError(
        reason, retryable=retryable, retry_after_s=retry_after if retryable else None, code=code
    )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_MAX_CHARS else text[: MESSAGE_MAX_CHARS - 1] + "…"


# ---------------------------------------------------------------------------
# requests and bodies


def decode_json(body: bytes, *, what: str) -> Any:
    """Parse a JSON body; malformed JSON is retryable (see the module docstring)."""
    try:
        return json.loads(body)
    except ValueError:
        raise ProviderError(
            f"{what}: the provider's answer is not valid JSON ({len(body)} bytes)",
            retryable=True,
            code=MALFORMED_RESPONSE,
        ) from None


def dig(data: Any, *path: str | int, what: str) -> Any:
    """``data[path[0]][path[1]]…`` or a final ``unexpected_response`` naming the path."""
    node = data
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            node = None
        if node is None:
            dotted = ".".join(str(s) for s in path)
            raise ProviderError(
                f"{what}: the answer has no {dotted}", retryable=False, code=UNEXPECTED_RESPONSE
            )
    return node


def send_json(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    what: str,
    deadline_s: float,
    max_bytes: int = JSON_MAX_BYTES,
    classify: Callable[[httpx.Response], ProviderError] | None = None,
    **kwargs: Any,
) -> Any:
    """Send one request and return the decoded JSON of a 2xx answer; anything else
    raises the ProviderError that ``classify`` (default :func:`classify_http_error`)
    makes of it. ``kwargs`` go to ``client.stream``."""
    deadline = time.monotonic() + deadline_s
    with client.stream(method, url, **kwargs) as response:
        if response.is_error:
            raise error_from(response, deadline, classify or classify_http_error)
        body = read_capped(response, max_bytes=max_bytes, deadline=deadline, what=what)
    return decode_json(body, what=what)


def read_capped(response: httpx.Response, *, max_bytes: int, deadline: float, what: str) -> bytes:
    """Read a streamed body, aborting as soon as it passes ``max_bytes`` or the
    deadline (``time.monotonic()`` value)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large(what, max_bytes, f"declared {int(declared)} bytes")
    chunks: list[bytes] = []
    received = 0
    for chunk in response.iter_bytes():
        received += len(chunk)
        if received > max_bytes:
            raise too_large(what, max_bytes, f"more than {max_bytes} bytes received")
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise ProviderError(
                f"{what}: the transfer did not finish in time", retryable=True, code=TIMEOUT
            )
    return b"".join(chunks)


def too_large(what: str, max_bytes: int, detail: str) -> ProviderError:
    """The final error for a body over the endpoint's size limit."""
    return ProviderError(
        f"{what}: larger than the endpoint's limit of {max_bytes} bytes ({detail})",
        retryable=False,
        code=TOO_LARGE,
    )


def error_from(
    response: httpx.Response,
    deadline: float,
    classify: Callable[[httpx.Response], ProviderError] | None = None,
) -> ProviderError:
    """The ProviderError for a non-2xx streamed answer, from at most
    :data:`ERROR_BODY_MAX_BYTES` of its body (read before ``deadline``)."""
    try:
        body = read_capped(
            response, max_bytes=ERROR_BODY_MAX_BYTES, deadline=deadline, what="error body"
        )
    except ProviderError:
        body = b""
    copy = httpx.Response(response.status_code, headers=response.headers, content=body)
    return (classify or classify_http_error)(copy)


def segment(value: str) -> str:
    """``value`` quoted for use as one URL path segment (task ids come from outside)."""
    return quote(str(value), safe="")
