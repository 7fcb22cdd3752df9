"""From provider bytes to the fields of a blind Output: sanitise by media kind, then
describe the result. Shared by fetched (``steps``) and uploaded (``manual_import``) outputs."""

from __future__ import annotations

import hashlib
from typing import Any

from .sanitize import (
    ImageNorm,
    SanitizedMedia,
    SanitizedText,
    SanitizeError,
    VideoNorm,
    sanitize_image,
    sanitize_text,
    sanitize_video,
)
from .storage import output_name

Sanitized = SanitizedMedia | SanitizedText


def media_norms(spec: dict[str, Any] | None) -> tuple[ImageNorm | None, VideoNorm | None]:
    """A study's ``media_normalisation`` as sanitiser settings, e.g.
    ``{"image": {"format": "png", "size": [1024, 683]}, "video": {"max_side": 720,
    "fps": 24, "max_duration_s": 5}}``. Raises ValueError or TypeError for a bad one."""
    spec = spec or {}
    unknown = set(spec) - {"image", "video"}
    if unknown:
        raise ValueError(f"unknown media kind(s) {sorted(unknown)}: use 'image' and 'video'")

    def build(cls, values):
        if not values:
            return None
        values = dict(values)
        for key in ("size", "background"):
            if key in values and values[key] is not None:
                values[key] = tuple(values[key])
        return cls(**values)

    return build(ImageNorm, spec.get("image")), build(VideoNorm, spec.get("video"))


def output_sanitise(kind: str, content: bytes, *, normalise: dict | None = None) -> Sanitized:
    """Sanitise ``content`` as the endpoint's media kind, normalised to the study's
    common image/video shape when it sets one (resolution alone can identify a
    model); raises SanitizeError."""
    if kind == "text":
        try:
            return sanitize_text(content.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise SanitizeError("a text output must be UTF-8") from None
    image_norm, video_norm = media_norms(normalise)
    if kind == "video":
        return sanitize_video(content, normalise=video_norm)
    return sanitize_image(content, normalise=image_norm)


def output_sha256(item: Sanitized) -> str:
    if isinstance(item, SanitizedMedia):
        return item.sha256
    return hashlib.sha256(item.text.encode()).hexdigest()


def output_file_name(item: Sanitized) -> str:
    """Where a sanitised medium is stored ("" for a text, kept in the database)."""
    if isinstance(item, SanitizedMedia):
        return output_name(item.sha256, item.extension)
    return ""


def output_fields(item: Sanitized) -> dict[str, Any]:
    """The Output fields describing ``item`` (the public id is made by the model)."""
    if isinstance(item, SanitizedMedia):
        return {
            "sha256": item.sha256,
            "file": output_file_name(item),
            "content_type": item.content_type,
            "width": item.width,
            "height": item.height,
            "duration_s": item.duration_s,
            "fps": item.fps,
        }
    return {
        "sha256": output_sha256(item),
        "content_type": "text/plain; charset=utf-8",
        "text": item.text,
        "text_flags": list(item.flags),
    }
