"""``dashscope``: Alibaba DashScope (Model Studio) asynchronous tasks for Wan.

* Submit with ``X-DashScope-Async: enable``:
  images ``POST {base_url}/services/aigc/text2image/image-synthesis``, videos
  (text-to-video, or image-to-video when the prompt has a reference image, sent
  inline as a ``data:`` URL in ``input.img_url``)
  ``POST {base_url}/services/aigc/video-generation/video-synthesis``. The answer's
  ``output.task_id`` becomes :class:`Pending`.
* Poll ``GET {base_url}/tasks/{task_id}``: ``PENDING``/``RUNNING`` -> poll again;
  ``SUCCEEDED`` -> download ``output.results[0].url`` (image) or
  ``output.video_url`` at once, since those URLs expire after 24 hours;
  ``FAILED``/``CANCELED`` -> final ``task_failed`` with DashScope's code and message;
  ``UNKNOWN`` (the task id expired after 24 h or never existed) -> final
  ``task_lost``.

``watermark`` and ``prompt_extend`` (DashScope's prompt rewriting) default to
``false``; if an organizer turns rewriting on, ``actual_prompt`` is recorded as the
revised prompt. ``base_url`` is the API root, e.g.
``https://dashscope-intl.aliyuncs.com/api/v1`` for Singapore (the default is
Beijing); the region of the key and of the URL must match.

httpx rather than the ``dashscope`` SDK: the SDK keeps its API key and base URL in
module globals (``dashscope.api_key``, ``dashscope.base_http_api_url``), which one
worker serving endpoints in several regions would have to mutate per call, and its
calls do not take the per-call timeouts, size cap and error classification shared
in :mod:`.http`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from . import checks, http, media
from .base import Finished, GenerationRequest, ParamError, Pending, ProviderError

POLL_AFTER_S = {"image": 5.0, "video": 15.0}
_COMMON: dict[str, checks.Check] = {
    "negative_prompt": checks.text(500),
    "prompt_extend": checks.boolean,
    "watermark": checks.boolean,
    "seed": checks.integer(0, 2**31 - 1),
}
FIELDS: dict[str, dict[str, checks.Check]] = {
    "image": {**_COMMON, "size": checks.pattern(r"\d{3,4}\*\d{3,4}", "'1024*1024'")},
    "video": {
        **_COMMON,
        "size": checks.pattern(r"\d{3,4}\*\d{3,4}", "'1280*720'"),
        "resolution": checks.one_of("480P", "720P", "1080P"),
        "duration": checks.integer(1, 15),
    },
}
DEFAULTS = {"prompt_extend": False, "watermark": False}
PATHS = {
    "image": "/services/aigc/text2image/image-synthesis",
    "video": "/services/aigc/video-generation/video-synthesis",
}
RUNNING = frozenset({"PENDING", "RUNNING"})


class DashScope:
    name: ClassVar[str] = "dashscope"
    media_kinds: ClassVar[frozenset[str]] = frozenset({"image", "video"})
    default_base_url: ClassVar[str] = "https://dashscope.aliyuncs.com/api/v1"

    def validate_params(self, params: dict[str, Any], *, media_kind: str) -> dict[str, Any]:
        if media_kind not in self.media_kinds:
            raise ParamError("media_kind", f"{self.name} makes images and videos, not {media_kind}")
        params = dict(params)
        checks.forced(1)("n", params.pop("n", 1))
        return checks.check_params(params, FIELDS[media_kind], defaults=DEFAULTS)

    def start(self, request: GenerationRequest) -> Finished | Pending:
        key = _require_key(request)
        with http.guarded(key):
            params = self.validate_params(request.params, media_kind=request.media_kind)
            task_input: dict[str, Any] = {"prompt": request.prompt}
            if "negative_prompt" in params:
                task_input["negative_prompt"] = params.pop("negative_prompt")
            if request.media_kind == "video" and request.reference_image is not None:
                task_input["img_url"] = media.data_url(
                    request.reference_image, request.reference_image_type
                )
            if request.seed is not None and "seed" not in params:
                params["seed"] = request.seed
            if request.media_kind == "image":
                params["n"] = 1
            body = {"model": request.model_id, "input": task_input, "parameters": params}
            with self._client(request, key) as client:
                answer = _send(
                    client,
                    "POST",
                    f"{self._base(request)}{PATHS[request.media_kind]}",
                    json=body,
                    headers={"X-DashScope-Async": "enable"},
                    what="DashScope submission",
                    deadline_s=request.timeout_s,
                )
            task_id = http.dig(answer, "output", "task_id", what="DashScope submission")
            return Pending(task_id=str(task_id), poll_after_s=POLL_AFTER_S[request.media_kind])

    def poll(self, request: GenerationRequest, task_id: str) -> Finished | Pending:
        key = _require_key(request)
        with http.guarded(key):
            with self._client(request, key) as client:
                answer = _send(
                    client,
                    "GET",
                    f"{self._base(request)}/tasks/{http.segment(task_id)}",
                    what="DashScope task status",
                    deadline_s=request.timeout_s,
                )
            output = http.dig(answer, "output", what="DashScope task status")
            status = http.dig(output, "task_status", what="DashScope task status")
            if status in RUNNING:
                return Pending(task_id=task_id, poll_after_s=POLL_AFTER_S[request.media_kind])
            if status in ("FAILED", "CANCELED"):
                detail = _code_message(output) or "no reason given"
                raise ProviderError(
                    f"DashScope task {status.lower()}: {detail}",
                    retryable=False,
                    code=http.CONTENT_REFUSED if _refused(output) else http.TASK_FAILED,
                )
            if status == "UNKNOWN":
                raise ProviderError(
                    "DashScope no longer knows this task (task ids expire after 24 hours). "
                    "Retrying the generation submits it again.",
                    retryable=False,
                    code=http.TASK_LOST,
                )
            if status != "SUCCEEDED":
                raise ProviderError(
                    f"DashScope task status: unknown status {status!r}",
                    retryable=False,
                    code=http.UNEXPECTED_RESPONSE,
                )
            return self._finish(request, answer, output)

    def _finish(self, request: GenerationRequest, answer: Any, output: Any) -> Finished:
        what = "DashScope result"
        if request.media_kind == "image":
            result = http.dig(output, "results", 0, what=what)
            if isinstance(result, dict) and not result.get("url") and result.get("code"):
                raise ProviderError(
                    f"DashScope image failed: {_code_message(result)}",
                    retryable=False,
                    code=http.CONTENT_REFUSED if _refused(result) else http.TASK_FAILED,
                )
            url = http.dig(result, "url", what=what)
            allowed = media.IMAGE_TYPES
        else:
            result = output
            url = http.dig(output, "video_url", what=what)
            allowed = frozenset({"video/mp4"})
        content, content_type = media.fetch_media(
            url, max_bytes=request.max_bytes, allowed_types=allowed, timeout_s=request.timeout_s
        )
        actual = result.get("actual_prompt") if isinstance(result, dict) else None
        keep = ("task_id", "submit_time", "end_time", "task_metrics", "orig_prompt")
        metadata = {k: output[k] for k in keep if output.get(k) is not None}
        metadata.update({k: answer[k] for k in ("request_id", "usage") if answer.get(k)})
        return Finished(
            content=content,
            content_type=content_type,
            revised_prompt=actual if actual and actual != request.prompt else None,
            metadata=metadata,
        )

    def _base(self, request: GenerationRequest) -> str:
        return (request.base_url or self.default_base_url).rstrip("/")

    def _client(self, request: GenerationRequest, key: str):
        return http.build_client(timeout_s=request.timeout_s, headers=http.bearer(key))


def _send(client: Any, method: str, url: str, **kwargs: Any) -> Any:
    return http.send_json(client, method, url, classify=_classify, **kwargs)


def _classify(response: httpx.Response) -> ProviderError:
    """HTTP classification, refined by DashScope's ``code``: ``Throttling*`` is a
    rate limit (retry), ``Arrearage`` an unpaid account, ``DataInspectionFailed`` a
    content refusal (both final)."""
    error = http.classify_http_error(response)
    body = http.json_body(response)
    code = str(body.get("code", "")) if isinstance(body, dict) else ""
    if code.startswith("Throttling"):
        kind = http.RATE_LIMITED
    elif code == "Arrearage":
        kind = http.BILLING
    elif _refused({"code": code}):
        kind = http.CONTENT_REFUSED
    else:
        return error
    retryable = kind == http.RATE_LIMITED
    return ProviderError(
        error.reason,
        retryable=retryable,
        retry_after_s=http.parse_retry_after(response.headers) if retryable else None,
        code=kind,
    )


def _code_message(data: dict[str, Any]) -> str:
    return ": ".join(str(data[k]) for k in ("code", "message") if data.get(k))


def _refused(data: dict[str, Any]) -> bool:
    return str(data.get("code", "")).startswith(("DataInspection", "IPInfringement"))


def _require_key(request: GenerationRequest) -> str:
    if not request.api_key:
        raise ProviderError(
            "no API key: the environment variable named by the endpoint is empty or unset",
            retryable=False,
            code=http.AUTH,
        )
    return request.api_key
