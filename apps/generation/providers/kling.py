"""``kling``: Kling (Kuaishou) text-to-video and image-to-video tasks.

Authentication: Kling issues an *access key* and a *secret key*. The endpoint's
``api_key_env`` names one environment variable holding both as
``ACCESS_KEY:SECRET_KEY``; every call signs a fresh JWT (HS256, header
``typ: JWT``; claims ``iss`` = access key, ``nbf`` = now - 5 s, ``exp`` = now +
30 min) and sends it as ``Authorization: Bearer <token>``. Neither key nor token
appears in a reason.

* ``POST {base_url}/v1/videos/text2video`` (or ``/image2video`` with the prompt's
  reference image as base64 in ``image``) -> ``data.task_id``;
* ``GET {base_url}/v1/videos/text2video/{task_id}``: ``data.task_status``
  ``submitted``/``processing`` -> poll again, ``succeed`` -> download
  ``data.task_result.videos[0].url`` at once, ``failed`` -> final ``task_failed``
  with ``task_status_msg``.

Kling answers errors with a service ``code`` that decides retrying, not the HTTP
status (its billing errors come as HTTP 429 too): 1302 (rate limit) and 1303
(concurrency over the resource pack's limit) and 5000-5002 (server) are retried;
1000-1004 (auth), 1100-1102 (account, arrears, resource pack used up), 1103
(no access to the model), 1200-1203 (parameters), 1300/1301 (platform or content
policy) and 1304 (IP whitelist) are final.

``watermark`` defaults to ``false`` and is sent as ``watermark_info.enabled``;
set it to ``null`` for a model that rejects the field. Kling has no prompt
rewriting switch. httpx (not a vendor SDK: there is no official Python one) with
no global state: key and base URL come with each request.
"""

from __future__ import annotations

import base64
import time
from typing import Any, ClassVar

import httpx
import jwt

from . import checks, http, media
from .base import Finished, GenerationRequest, ParamError, Pending, ProviderError

POLL_AFTER_S = 15.0
TOKEN_TTL_S = 1800
RUNNING = frozenset({"submitted", "processing"})


def _duration(name: str, value: Any) -> str:
    number = int(value) if isinstance(value, str) and value.isdigit() else value
    return str(checks.integer(1, 15)(name, number))


def _watermark(name: str, value: Any) -> bool | None:
    return None if value is None else checks.boolean(name, value)


FIELDS: dict[str, checks.Check] = {
    "mode": checks.one_of("std", "pro"),
    "aspect_ratio": checks.one_of("16:9", "9:16", "1:1"),
    "duration": _duration,
    "negative_prompt": checks.text(2500),
    "cfg_scale": checks.number(0, 1),
    "watermark": _watermark,
}
DEFAULTS = {"watermark": False}


def _kind(service_code: int) -> tuple[str, bool] | None:
    """(our error kind, retryable) for a Kling service code, per its error table."""
    if service_code in (1302, 1303):
        return http.RATE_LIMITED, True
    if 5000 <= service_code <= 5002:
        return http.SERVER_ERROR, True
    if 1000 <= service_code <= 1004 or service_code in (1103, 1304):
        return http.AUTH, False
    if 1100 <= service_code <= 1102:
        return http.BILLING, False
    if 1200 <= service_code <= 1203:
        return http.INVALID_REQUEST, False
    if service_code in (1300, 1301):
        return http.CONTENT_REFUSED, False
    return None


def encode_token(access_key: str, secret_key: str, *, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {"iss": access_key, "exp": issued + TOKEN_TTL_S, "nbf": issued - 5}
    return jwt.encode(claims, secret_key, algorithm="HS256", headers={"typ": "JWT"})


class Kling:
    name: ClassVar[str] = "kling"
    media_kinds: ClassVar[frozenset[str]] = frozenset({"video"})
    default_base_url: ClassVar[str] = "https://api-beijing.klingai.com"

    def validate_params(self, params: dict[str, Any], *, media_kind: str) -> dict[str, Any]:
        if media_kind not in self.media_kinds:
            raise ParamError("media_kind", f"{self.name} makes videos, not {media_kind}")
        return checks.check_params(params, FIELDS, defaults=DEFAULTS)

    def start(self, request: GenerationRequest) -> Finished | Pending:
        access_key, secret_key = _keys(request)
        with http.guarded(access_key, secret_key):
            params = self.validate_params(request.params, media_kind=request.media_kind)
            watermark = params.pop("watermark")
            body: dict[str, Any] = {"model_name": request.model_id, "prompt": request.prompt}
            body.update(params)
            if watermark is not None:
                body["watermark_info"] = {"enabled": watermark}
            if request.reference_image is not None:
                body["image"] = base64.b64encode(request.reference_image).decode("ascii")
            answer = self._call(request, access_key, secret_key, "POST", _route(request), json=body)
            task_id = http.dig(answer, "data", "task_id", what="Kling submission")
            return Pending(task_id=str(task_id), poll_after_s=POLL_AFTER_S)

    def poll(self, request: GenerationRequest, task_id: str) -> Finished | Pending:
        access_key, secret_key = _keys(request)
        with http.guarded(access_key, secret_key):
            path = f"{_route(request)}/{http.segment(task_id)}"
            answer = self._call(request, access_key, secret_key, "GET", path)
            what = "Kling task status"
            data = http.dig(answer, "data", what=what)
            status = http.dig(data, "task_status", what=what)
            if status in RUNNING:
                return Pending(task_id=task_id, poll_after_s=POLL_AFTER_S)
            if status == "failed":
                raise ProviderError(
                    f"Kling task failed: {data.get('task_status_msg') or 'no reason given'}",
                    retryable=False,
                    code=http.TASK_FAILED,
                )
            if status != "succeed":
                raise ProviderError(
                    f"{what}: unknown status {status!r}",
                    retryable=False,
                    code=http.UNEXPECTED_RESPONSE,
                )
            video = http.dig(data, "task_result", "videos", 0, what=what)
            content, content_type = media.fetch_media(
                http.dig(video, "url", what=what),
                max_bytes=request.max_bytes,
                allowed_types={"video/mp4"},
                timeout_s=request.timeout_s,
            )
            metadata = {k: data[k] for k in ("task_id", "created_at", "updated_at") if k in data}
            metadata.update({k: video[k] for k in ("id", "duration") if k in video})
            if answer.get("request_id"):
                metadata["request_id"] = answer["request_id"]
            return Finished(content=content, content_type=content_type, metadata=metadata)

    def _call(
        self,
        request: GenerationRequest,
        access_key: str,
        secret_key: str,
        method: str,
        path: str,
        **kwargs: Any,
    ) -> Any:
        token = encode_token(access_key, secret_key)
        base_url = (request.base_url or self.default_base_url).rstrip("/")
        with (
            http.guarded(token),
            http.build_client(timeout_s=request.timeout_s, headers=http.bearer(token)) as client,
        ):
            answer = http.send_json(
                client,
                method,
                f"{base_url}{path}",
                what=f"Kling {path}",
                deadline_s=request.timeout_s,
                classify=_classify,
                **kwargs,
            )
        service_code = answer.get("code", 0) if isinstance(answer, dict) else 0
        if service_code not in (0, None):  # an error inside a 200 answer
            known = _kind(service_code) if isinstance(service_code, int) else None
            kind, retryable = known or (http.HTTP_ERROR, False)
            raise ProviderError(
                f"Kling {service_code}: {answer.get('message') or 'no message'}",
                retryable=retryable,
                code=kind,
            )
        return answer


def _route(request: GenerationRequest) -> str:
    if request.reference_image is not None:
        return "/v1/videos/image2video"
    return "/v1/videos/text2video"


def _classify(response: httpx.Response) -> ProviderError:
    error = http.classify_http_error(response)
    body = http.json_body(response)
    service_code = body.get("code") if isinstance(body, dict) else None
    if not isinstance(service_code, int) or (kind := _kind(service_code)) is None:
        return error
    code, retryable = kind
    return ProviderError(
        error.reason,
        retryable=retryable,
        retry_after_s=http.parse_retry_after(response.headers) if retryable else None,
        code=code,
    )


def _keys(request: GenerationRequest) -> tuple[str, str]:
    access_key, _, secret_key = (request.api_key or "").partition(":")
    if not access_key.strip() or not secret_key.strip():
        raise ProviderError(
            "Kling needs the endpoint's key variable to hold ACCESS_KEY:SECRET_KEY "
            "(both parts, separated by a colon)",
            retryable=False,
            code=http.AUTH,
        )
    return access_key.strip(), secret_key.strip()
