"""``openai-videos``: OpenAI Sora-style video jobs.

* ``POST {base_url}/videos`` as ``multipart/form-data`` (``model``, ``prompt``,
  ``seconds``, ``size``, and ``input_reference`` — the prompt's reference image —
  for image-to-video) returns a video object with an ``id`` and a ``status``;
* ``GET {base_url}/videos/{id}`` until ``status`` leaves ``queued``/``in_progress``
  (``completed`` or ``failed``, with ``error.code``/``error.message``);
* ``GET {base_url}/videos/{id}/content`` streams the MP4 (with the same bearer
  key, capped and type-checked). A 404/410 there means the rendered file has
  expired (``result_expired``, final; see :mod:`.http`).

Sora has no watermark or prompt-rewriting switch in the API; the C2PA manifest it
embeds is removed by the sanitiser. httpx rather than the ``openai`` SDK, for the
reasons given in :mod:`.openai_images`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from . import checks, http, media
from .base import Finished, GenerationRequest, ParamError, Pending, ProviderError

POLL_AFTER_S = 15.0
FIELDS: dict[str, checks.Check] = {
    "seconds": lambda name, value: str(checks.integer(1, 60)(name, _as_int(value))),
    "size": checks.pattern(r"[1-9]\d{2,4}x[1-9]\d{2,4}", "'1280x720'"),
}
RUNNING = frozenset({"queued", "in_progress"})


def _as_int(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.isdigit() else value


class OpenAIVideos:
    name: ClassVar[str] = "openai-videos"
    media_kinds: ClassVar[frozenset[str]] = frozenset({"video"})
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"

    def validate_params(self, params: dict[str, Any], *, media_kind: str) -> dict[str, Any]:
        if media_kind not in self.media_kinds:
            raise ParamError("media_kind", f"{self.name} makes videos, not {media_kind}")
        return checks.check_params(params, FIELDS, defaults={})

    def start(self, request: GenerationRequest) -> Finished | Pending:
        with http.guarded(request.api_key):
            params = self.validate_params(request.params, media_kind=request.media_kind)
            fields: dict[str, Any] = {
                "model": (None, request.model_id),
                "prompt": (None, request.prompt),
            }
            fields.update({name: (None, str(value)) for name, value in params.items()})
            if request.reference_image is not None:
                suffix = request.reference_image_type.rsplit("/", 1)[-1]
                fields["input_reference"] = (
                    f"reference.{suffix}",
                    request.reference_image,
                    request.reference_image_type,
                )
            with self._client(request) as client:
                video = http.send_json(
                    client,
                    "POST",
                    f"{self._base(request)}/videos",
                    files=fields,  # multipart/form-data, as the Videos API documents
                    what="video submission",
                    deadline_s=request.timeout_s,
                )
            return self._next(request, video, what="video submission")

    def poll(self, request: GenerationRequest, task_id: str) -> Finished | Pending:
        with http.guarded(request.api_key):
            with self._client(request) as client:
                video = http.send_json(
                    client,
                    "GET",
                    f"{self._base(request)}/videos/{http.segment(task_id)}",
                    what="video status",
                    deadline_s=request.timeout_s,
                )
            return self._next(request, video, what="video status")

    def _next(self, request: GenerationRequest, video: Any, *, what: str) -> Finished | Pending:
        video_id = str(http.dig(video, "id", what=what))
        status = http.dig(video, "status", what=what)
        if status in RUNNING:
            return Pending(task_id=video_id, poll_after_s=POLL_AFTER_S)
        if status == "failed":
            error = video.get("error") or {}
            detail = ": ".join(str(error[k]) for k in ("code", "message") if error.get(k))
            raise ProviderError(
                f"the video job failed: {detail or 'no reason given'}",
                retryable=False,
                code=http.TASK_FAILED,
            )
        if status != "completed":
            raise ProviderError(
                f"{what}: unknown status {status!r}",
                retryable=False,
                code=http.UNEXPECTED_RESPONSE,
            )
        content, content_type = media.fetch_media(
            f"{self._base(request)}/videos/{http.segment(video_id)}/content",
            max_bytes=request.max_bytes,
            allowed_types={"video/mp4"},
            timeout_s=request.timeout_s,
            headers=http.bearer(request.api_key),
        )
        keep = ("id", "model", "seconds", "size", "created_at", "completed_at", "expires_at")
        return Finished(
            content=content,
            content_type=content_type,
            metadata={k: video[k] for k in keep if video.get(k) is not None},
        )

    def _base(self, request: GenerationRequest) -> str:
        return (request.base_url or self.default_base_url).rstrip("/")

    def _client(self, request: GenerationRequest):
        return http.build_client(timeout_s=request.timeout_s, headers=http.bearer(request.api_key))
