"""``openai-images``: synchronous OpenAI-style image generation.

``POST {base_url}/images/generations`` with ``{"model", "prompt", "n": 1, ...}``;
the answer's ``data[0]`` holds a ``url`` (downloaded at once, capped and
type-checked) or a ``b64_json``; a ``revised_prompt`` is recorded.

One adapter covers OpenAI (gpt-image, DALL·E) and the OpenAI-compatible image APIs
of Volcengine Ark (Seedream), Zhipu BigModel (CogView) and Baidu Qianfan. They
accept different extra fields, so an endpoint's parameters name a ``dialect``
(default ``openai``) and are checked against that dialect's fields; an unknown
field is a ParamError naming it, because sending it would fail at the provider (or
worse, be ignored silently). Watermarks are off by default where the dialect has a
switch: Seedream ``watermark``, CogView ``watermark_enabled``. DALL·E 3 rewrites
prompts and cannot be told not to; its ``revised_prompt`` is recorded. A reference
image is not sent (this is text-to-image); ``metadata["reference_image_ignored"]``
says so when one was given.

Why httpx and not the official ``openai`` SDK: the SDK (3.x) would let us switch
off its retries (``max_retries=0``) and set timeouts, but it reads process-wide
environment variables on every client it builds — ``OPENAI_ORG_ID``,
``OPENAI_PROJECT_ID``, ``OPENAI_BASE_URL``, ``OPENAI_CUSTOM_HEADERS`` (which may
carry an ``Authorization``) — and sends them to whatever base URL it is given, so
an OpenAI organisation id or a custom header would reach Volcengine or Baidu
endpoints configured in the same worker. It also runs on its own HTTP stack
(httpx2), so the size cap, deadline and error classification shared with the
DashScope and Kling adapters (``http.py``, ``media.py``) would be written twice. The
three OpenAI endpoints we use are small JSON/multipart calls; plain httpx keeps
every header we send explicit.
"""

from __future__ import annotations

from typing import Any, ClassVar

from . import checks, http, media
from .base import Finished, GenerationRequest, ParamError, Pending, ProviderError

_OPENAI_SIZES = ("auto", "256x256", "512x512", "1024x1024", "1536x1024", "1024x1536")
_OPENAI_SIZES += ("1792x1024", "1024x1792")
_PIXELS = checks.pattern(r"[1-9]\d{2,4}x[1-9]\d{2,4}", "'1024x1024'")
_RESPONSE_FORMAT = checks.one_of("url", "b64_json")
_SEED = checks.integer(-1, 2**31 - 1)


def _seedream_size(name: str, value: Any) -> str:
    if value in ("1K", "2K", "3K", "4K", "adaptive"):
        return value
    return _PIXELS(name, value)


# dialect -> (accepted fields, defaults, whether the request seed is sent)
DIALECTS: dict[str, tuple[dict[str, checks.Check], dict[str, Any], bool]] = {
    "openai": (
        {
            "size": checks.one_of(*_OPENAI_SIZES),
            "quality": checks.one_of("auto", "low", "medium", "high", "standard", "hd"),
            "response_format": _RESPONSE_FORMAT,  # DALL·E only; gpt-image always sends b64
            "style": checks.one_of("vivid", "natural"),
            "background": checks.one_of("auto", "transparent", "opaque"),
            "output_format": checks.one_of("png", "jpeg", "webp"),
            "output_compression": checks.integer(0, 100),
            "moderation": checks.one_of("auto", "low"),
        },
        {},
        False,
    ),
    "seedream": (
        {
            "size": _seedream_size,
            "response_format": _RESPONSE_FORMAT,
            "watermark": checks.boolean,
            "seed": _SEED,
            "guidance_scale": checks.number(1, 10),
        },
        {"watermark": False},
        True,
    ),
    "cogview": (
        {
            "size": _PIXELS,
            "quality": checks.one_of("standard", "hd"),
            "watermark_enabled": checks.boolean,
        },
        {"watermark_enabled": False},
        False,
    ),
    "qianfan": (
        {
            "size": _PIXELS,
            "seed": _SEED,
            "negative_prompt": checks.text(2000),
            "steps": checks.integer(1, 100),
        },
        {},
        True,
    ),
    "compatible": (  # any other OpenAI-compatible endpoint: the common subset only
        {"size": _PIXELS, "quality": checks.text(20), "response_format": _RESPONSE_FORMAT},
        {},
        False,
    ),
}


class OpenAIImages:
    name: ClassVar[str] = "openai-images"
    media_kinds: ClassVar[frozenset[str]] = frozenset({"image"})
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"

    def validate_params(self, params: dict[str, Any], *, media_kind: str) -> dict[str, Any]:
        if media_kind not in self.media_kinds:
            raise ParamError("media_kind", f"{self.name} makes images, not {media_kind}")
        params = dict(params)
        dialect = params.pop("dialect", "openai")
        if dialect not in DIALECTS:
            raise ParamError("dialect", f"must be one of {', '.join(DIALECTS)}, not {dialect!r}")
        fields, defaults, _ = DIALECTS[dialect]
        n = params.pop("n", 1)
        checks.forced(1)("n", n)
        return {"dialect": dialect, **checks.check_params(params, fields, defaults=defaults)}

    def start(self, request: GenerationRequest) -> Finished | Pending:
        with http.guarded(request.api_key):
            params = self.validate_params(request.params, media_kind=request.media_kind)
            dialect = params.pop("dialect")
            body: dict[str, Any] = {"model": request.model_id, "prompt": request.prompt, "n": 1}
            if DIALECTS[dialect][2] and request.seed is not None and "seed" not in params:
                body["seed"] = request.seed
            body.update(params)
            base_url = (request.base_url or self.default_base_url).rstrip("/")
            with http.build_client(
                timeout_s=request.timeout_s, headers=http.bearer(request.api_key)
            ) as client:
                answer = http.send_json(
                    client,
                    "POST",
                    f"{base_url}/images/generations",
                    json=body,
                    what="image generation",
                    deadline_s=request.timeout_s,
                    max_bytes=request.max_bytes * 4 // 3 + http.JSON_MAX_BYTES,
                )
            return self._finish(request, answer)

    def poll(self, request: GenerationRequest, task_id: str) -> Finished | Pending:
        raise NotImplementedError(f"{self.name} is synchronous; there is nothing to poll")

    def _finish(self, request: GenerationRequest, answer: Any) -> Finished:
        image = http.dig(answer, "data", 0, what="image generation")
        if not isinstance(image, dict):
            raise ProviderError(
                "image generation: data[0] is not an object",
                retryable=False,
                code=http.UNEXPECTED_RESPONSE,
            )
        if image.get("b64_json"):
            content, content_type = media.decode_b64_media(
                image["b64_json"], max_bytes=request.max_bytes, allowed_types=media.IMAGE_TYPES
            )
        elif image.get("url"):
            content, content_type = media.fetch_media(
                image["url"],
                max_bytes=request.max_bytes,
                allowed_types=media.IMAGE_TYPES,
                timeout_s=request.timeout_s,
            )
        else:
            raise ProviderError(
                "image generation: data[0] has neither url nor b64_json",
                retryable=False,
                code=http.UNEXPECTED_RESPONSE,
            )
        revised = image.get("revised_prompt") or None
        metadata = {k: v for k, v in answer.items() if k != "data"}
        metadata["result"] = "b64_json" if image.get("b64_json") else "url"
        if request.reference_image is not None:
            metadata["reference_image_ignored"] = True
        return Finished(
            content=content,
            content_type=content_type,
            revised_prompt=revised if revised != request.prompt else None,
            metadata=metadata,
        )
