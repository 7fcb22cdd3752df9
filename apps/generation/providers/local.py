"""The ``local`` adapter: an offline stand-in for a generative model.

It makes procedural ink-landscape images, short videos and short critiques from
the prompt, with no network, deterministically per (prompt, seed, style, model id).
The demo and most tests use it. The ``style`` parameter gives each "model" a
visible aesthetic bias, so the demo's bias profiles show something real:

- ``ink``: faithful — pale washes, a one-corner composition, much empty paper;
- ``photographic``: saturated colour, a hard light with cast shadows, a centred
  peak — leans toward Western realism;
- ``overfill``: the frame filled edge to edge with dense, high-contrast ink;
- ``anime``: flat cel colours with bright outlines.

The pictures are drawn in ``local_scenes``, the critiques written in ``local_texts``,
and the files encoded in ``local_media`` — with identifying metadata, on purpose,
so that the sanitiser and the blindness tests strip something real.

Videos need Debian's ``ffmpeg`` package (``apt-get install ffmpeg``) on the worker.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from typing import Any, ClassVar

import numpy as np

from .base import Finished, GenerationRequest, ParamError, Pending, ProviderError
from .local_media import image_encode, video_make
from .local_scenes import STYLES, render
from .local_texts import critique

_DEFAULTS: dict[str, dict[str, Any]] = {
    "image": {"size": "768x512", "format": "png"},
    "video": {"size": "480x320", "duration_s": 3.0, "fps": 8},
    "text": {"language": "auto", "self_name": ""},
}
_COMMON = {"style": "ink", "latency_s": 0.0, "fail_rate": 0.0}


def _number(params: dict[str, Any], name: str, low: float, high: float) -> float:
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParamError(name, f"must be a number, got {value!r}")
    if not low <= value <= high:
        raise ParamError(name, f"must be between {low} and {high}, got {value}")
    return float(value)


def _size(value: Any, *, media_kind: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*", str(value))
    if not match:
        raise ParamError("size", f"must look like '768x512', got {value!r}")
    w, h = int(match[1]), int(match[2])
    high = 4096 if media_kind == "image" else 1920
    if not (64 <= w <= high and 64 <= h <= high):
        raise ParamError("size", f"width and height must be between 64 and {high}")
    if media_kind == "video" and (w % 2 or h % 2):
        raise ParamError("size", "video width and height must be even (H.264 4:2:0)")
    return w, h


def _unit(*parts: object) -> float:
    """A number in [0, 1) fixed by ``parts``: the adapter's only source of chance."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class LocalProvider:
    """Endpoint parameters: ``style`` (ink | photographic | overfill | anime), ``size``
    ("WxH"; images 768x512, videos 480x320), ``format`` (png | jpeg, images),
    ``duration_s`` and ``fps`` (videos, 3 s at 8 fps), ``language`` (auto | zh | en) and
    ``self_name`` (texts open with "作为<name>，" to exercise the sanitiser's flags),
    ``latency_s`` (a fake delay for benchmarks) and ``fail_rate`` (0..1: the share of
    seeds that fail, retryably, for demos of failure)."""

    name: ClassVar[str] = "local"
    media_kinds: ClassVar[frozenset[str]] = frozenset({"image", "video", "text"})

    def validate_params(self, params: dict[str, Any], *, media_kind: str) -> dict[str, Any]:
        if media_kind not in self.media_kinds:
            raise ParamError("media_kind", f"the local adapter makes {sorted(self.media_kinds)}")
        out = {**_COMMON, **_DEFAULTS[media_kind], **(params or {})}
        known = set(_COMMON) | set(_DEFAULTS[media_kind])
        for key in out:
            if key not in known:
                raise ParamError(
                    key,
                    f"not a {media_kind} parameter of the local adapter; known: {sorted(known)}",
                )
        if out["style"] not in STYLES:
            raise ParamError("style", f"must be one of {list(STYLES)}, got {out['style']!r}")
        out["latency_s"] = _number(out, "latency_s", 0, 600)
        out["fail_rate"] = _number(out, "fail_rate", 0, 1)
        if media_kind in ("image", "video"):
            w, h = _size(out["size"], media_kind=media_kind)
            out["size"] = f"{w}x{h}"
        if media_kind == "image" and out["format"] not in ("png", "jpeg"):
            raise ParamError("format", f"must be 'png' or 'jpeg', got {out['format']!r}")
        if media_kind == "video":
            out["duration_s"] = _number(out, "duration_s", 0.5, 20)
            fps = out["fps"]
            if isinstance(fps, bool) or not isinstance(fps, int) or not 4 <= fps <= 30:
                raise ParamError("fps", f"must be a whole number from 4 to 30, got {fps!r}")
        if media_kind == "text":
            if out["language"] not in ("auto", "zh", "en"):
                raise ParamError("language", "must be 'auto', 'zh' or 'en'")
            if not isinstance(out["self_name"], str) or len(out["self_name"]) > 40:
                raise ParamError("self_name", "must be a string of at most 40 characters")
        return out

    def start(self, request: GenerationRequest) -> Finished | Pending:
        params = self.validate_params(request.params, media_kind=request.media_kind)
        seed = request.seed or 0
        key = (request.prompt, seed, params["style"], request.model_id)
        if params["latency_s"]:
            time.sleep(params["latency_s"])  # a fake delay for benchmarks, nothing else
        if _unit("fail", *key) < params["fail_rate"]:
            raise ProviderError(
                "local generator: simulated transient failure", retryable=True, code="simulated"
            )
        meta = {"adapter": self.name, "style": params["style"], "seed": seed}
        if request.media_kind == "text":
            text = critique(
                request.prompt,
                style=params["style"],
                language=params["language"],
                self_name=params["self_name"],
                rng=random.Random(_unit(*key)),
            )
            return Finished(text.encode(), "text/plain; charset=utf-8", metadata=meta)
        w, h = map(int, params["size"].split("x"))
        rng = np.random.default_rng(int(_unit(*key) * 2**63))
        if request.media_kind == "image":
            img = render(request.prompt, params["style"], w, h, rng)
            data, ctype = image_encode(img, params, request.model_id)
            return Finished(data, ctype, metadata=meta)
        data = video_make(request.prompt, params, w, h, rng, request.timeout_s)
        return Finished(data, "video/mp4", metadata=meta)

    def poll(self, request: GenerationRequest, task_id: str) -> Finished | Pending:
        raise ProviderError("the local adapter never returns a pending task", retryable=False)
