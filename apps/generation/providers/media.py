"""Result media for the network adapters: download a result URL (:func:`fetch_media`),
decode an inline ``b64_json`` result (:func:`decode_b64_media`), and send a reference
image inline (:func:`data_url`).

A download is streamed with a size cap (checked against the declared
``Content-Length`` *and* the bytes actually received, so a missing or understated
length cannot get more past it), a content-type check (with magic-byte sniffing for
``application/octet-stream``) and a total deadline. An expired result URL
(403/404/410 on a signed URL) is **final** (``result_expired``): polling again returns
the same dead URL, and re-submitting is a new, paid generation — the organizer decides
that with "retry failed".
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterable, Mapping

from .base import ProviderError
from .http import (
    BAD_CONTENT_TYPE,
    MALFORMED_RESPONSE,
    RESULT_EXPIRED,
    UNEXPECTED_RESPONSE,
    build_client,
    error_from,
    guarded,
    read_capped,
    too_large,
)

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})
_OCTET_TYPES = frozenset({"application/octet-stream", "binary/octet-stream", ""})


def fetch_media(
    url: str,
    *,
    max_bytes: int,
    allowed_types: Iterable[str],
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
) -> tuple[bytes, str]:
    """Download a result and return ``(bytes, content type)``.

    ``allowed_types`` holds media types (``"image/png"``) or wildcards
    (``"image/*"``). A 404/410 — or a 403 when no credentials are sent, which is how
    signed OSS/S3/TOS URLs say "expired" — is a final ``result_expired``.
    ``headers`` carries credentials for result endpoints that need them
    (OpenAI's ``/videos/{id}/content``)."""
    with guarded():
        return _fetch_media(url, max_bytes, frozenset(allowed_types), timeout_s, headers)


def _fetch_media(
    url: str,
    max_bytes: int,
    allowed: frozenset[str],
    timeout_s: float,
    headers: Mapping[str, str] | None,
) -> tuple[bytes, str]:
    if not url.startswith(("https://", "http://")):
        raise ProviderError(
            "the result URL is not an http(s) URL", retryable=False, code=UNEXPECTED_RESPONSE
        )
    deadline = time.monotonic() + timeout_s
    expired_statuses = {404, 410} if headers else {403, 404, 410}
    with (
        build_client(timeout_s=timeout_s, headers=headers) as client,
        client.stream("GET", url) as response,
    ):
        if response.status_code in expired_statuses:
            raise ProviderError(
                f"the result URL is no longer available (HTTP {response.status_code}); it "
                "has probably expired. Retrying the generation submits it again.",
                retryable=False,
                code=RESULT_EXPIRED,
            )
        if response.is_error:
            raise error_from(response, deadline)
        media_type = _media_type(response.headers.get("content-type", ""))
        if media_type not in _OCTET_TYPES and not _type_allowed(media_type, allowed):
            raise _bad_type(media_type or "none", allowed)
        body = read_capped(response, max_bytes=max_bytes, deadline=deadline, what="download")
    if media_type in _OCTET_TYPES:
        sniffed = sniff_media_type(body)
        if sniffed is None or not _type_allowed(sniffed, allowed):
            raise _bad_type(f"{media_type or 'none'} (content: {sniffed or 'unknown'})", allowed)
        media_type = sniffed
    return body, media_type


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _type_allowed(media_type: str, allowed: frozenset[str]) -> bool:
    return media_type in allowed or f"{media_type.split('/', 1)[0]}/*" in allowed


def _bad_type(got: str, allowed: frozenset[str]) -> ProviderError:
    return ProviderError(
        f"the result has content type {got}, expected one of {', '.join(sorted(allowed))}",
        retryable=False,
        code=BAD_CONTENT_TYPE,
    )


def sniff_media_type(data: bytes) -> str | None:
    """The media type given by the first bytes, for the formats providers return."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/quicktime" if data[8:10] == b"qt" else "video/mp4"
    if data.startswith(b"\x1aE\xdf\xa3"):
        return "video/webm"
    return None


def decode_b64_media(
    value: str, *, max_bytes: int, allowed_types: Iterable[str]
) -> tuple[bytes, str]:
    """Bytes and sniffed media type of a ``b64_json`` result."""
    if len(value) * 3 // 4 > max_bytes:
        raise too_large("b64_json result", max_bytes, "declared by its length")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ProviderError(
            "the b64_json result is not valid base64", retryable=True, code=MALFORMED_RESPONSE
        ) from None
    media_type = sniff_media_type(data)
    allowed = frozenset(allowed_types)
    if media_type is None or not _type_allowed(media_type, allowed):
        raise _bad_type(f"b64_json of {media_type or 'unknown format'}", allowed)
    return data, media_type


def data_url(content: bytes, content_type: str) -> str:
    return f"data:{content_type};base64,{base64.b64encode(content).decode('ascii')}"
