"""``openai-chat``: OpenAI-style chat completions with an image input.

For the text-analysis study: a model is shown a painting (the prompt's reference
image, sent inline as a ``data:`` URL so no public image host is needed) and
writes about it. ``POST {base_url}/chat/completions``; the answer's
``choices[0].message.content`` comes back as ``text/plain; charset=utf-8``. Covers
the OpenAI-compatible endpoints of Qwen-VL (DashScope compatible mode), Doubao
(Ark), GLM-4V (BigModel), Gemini and others.

A refusal — ``finish_reason == "content_filter"`` or a ``message.refusal`` — is a
final ``content_refused`` error; an answer cut off by ``max_tokens`` is kept and
flagged in the metadata (``finish_reason: "length"``).

httpx rather than the ``openai`` SDK, for the reasons given in
:mod:`.openai_images`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from . import checks, http, media
from .base import Finished, GenerationRequest, ParamError, Pending, ProviderError

FIELDS: dict[str, checks.Check] = {
    "system": checks.text(20_000),
    "temperature": checks.number(0, 2),
    "top_p": checks.number(0, 1),
    "max_tokens": checks.integer(1, 65_536),
    "image_detail": checks.one_of("auto", "low", "high"),
}
IMAGE_INPUT_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})


class OpenAIChat:
    name: ClassVar[str] = "openai-chat"
    media_kinds: ClassVar[frozenset[str]] = frozenset({"text"})
    default_base_url: ClassVar[str] = "https://api.openai.com/v1"

    def validate_params(self, params: dict[str, Any], *, media_kind: str) -> dict[str, Any]:
        if media_kind not in self.media_kinds:
            raise ParamError("media_kind", f"{self.name} writes text, not {media_kind}")
        return checks.check_params(params, FIELDS, defaults={})

    def start(self, request: GenerationRequest) -> Finished | Pending:
        with http.guarded(request.api_key):
            params = self.validate_params(request.params, media_kind=request.media_kind)
            body = self._body(request, params)
            base_url = (request.base_url or self.default_base_url).rstrip("/")
            with http.build_client(
                timeout_s=request.timeout_s, headers=http.bearer(request.api_key)
            ) as client:
                answer = http.send_json(
                    client,
                    "POST",
                    f"{base_url}/chat/completions",
                    json=body,
                    what="chat completion",
                    deadline_s=request.timeout_s,
                )
            return self._finish(answer)

    def poll(self, request: GenerationRequest, task_id: str) -> Finished | Pending:
        raise NotImplementedError(f"{self.name} is synchronous; there is nothing to poll")

    def _body(self, request: GenerationRequest, params: dict[str, Any]) -> dict[str, Any]:
        content: str | list[dict[str, Any]] = request.prompt
        if request.reference_image is not None:
            if request.reference_image_type not in IMAGE_INPUT_TYPES:
                raise ParamError(
                    "reference_image_type",
                    f"must be one of {', '.join(sorted(IMAGE_INPUT_TYPES))}",
                )
            image_url: dict[str, Any] = {
                "url": media.data_url(request.reference_image, request.reference_image_type)
            }
            if "image_detail" in params:
                image_url["detail"] = params["image_detail"]
            content = [
                {"type": "text", "text": request.prompt},
                {"type": "image_url", "image_url": image_url},
            ]
        messages: list[dict[str, Any]] = []
        if params.get("system"):
            messages.append({"role": "system", "content": params["system"]})
        messages.append({"role": "user", "content": content})
        body: dict[str, Any] = {"model": request.model_id, "messages": messages}
        for name in ("temperature", "top_p", "max_tokens"):
            if name in params:
                body[name] = params[name]
        if request.seed is not None:
            body["seed"] = request.seed
        return body

    def _finish(self, answer: Any) -> Finished:
        choice = http.dig(answer, "choices", 0, what="chat completion")
        message = http.dig(choice, "message", what="chat completion")
        finish_reason = choice.get("finish_reason") if isinstance(choice, dict) else None
        refusal = message.get("refusal") if isinstance(message, dict) else None
        if finish_reason == "content_filter" or refusal:
            raise ProviderError(
                f"the model refused: {refusal or 'finish_reason content_filter'}",
                retryable=False,
                code=http.CONTENT_REFUSED,
            )
        text = _text_of(message.get("content") if isinstance(message, dict) else None)
        if not text.strip():
            raise ProviderError(
                "chat completion: the model returned no text",
                retryable=False,
                code=http.UNEXPECTED_RESPONSE,
            )
        metadata = {k: answer.get(k) for k in ("id", "model", "usage", "system_fingerprint")}
        metadata["finish_reason"] = finish_reason
        return Finished(
            content=text.encode("utf-8"),
            content_type="text/plain; charset=utf-8",
            metadata={k: v for k, v in metadata.items() if v is not None},
        )


def _text_of(content: Any) -> str:
    """``content`` is a string, or (some compatible servers) a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "output_text")
        )
    return ""
