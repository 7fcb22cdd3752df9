"""What the sanitiser takes and gives: its error, its results, and the study-wide
normalisation settings (``ImageNorm``, ``VideoNorm``) checked when they are made.

No Django here, nor any decoder: the sanitising itself is in ``sanitize_images``,
``sanitize_videos`` and ``sanitize_texts``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# format -> (Pillow name, content type, extension)
IMAGE_FORMATS = {
    "png": ("PNG", "image/png", "png"),
    "jpeg": ("JPEG", "image/jpeg", "jpg"),
    "webp": ("WEBP", "image/webp", "webp"),
}


class SanitizeError(ValueError):
    """The input cannot be decoded or sanitised; the message says why."""


@dataclass(frozen=True)
class SanitizedMedia:
    content: bytes = field(repr=False)
    content_type: str
    extension: str
    sha256: str  # of ``content``: the same pixels always give the same hash
    width: int
    height: int
    duration_s: float | None = None
    fps: float | None = None  # videos: frames per second, as ffprobe finds them


@dataclass(frozen=True)
class SanitizedText:
    text: str
    flags: list[str]  # self-identifying phrases, exactly as they appear in ``text``
    invisible_removed: int = 0  # invisible or exotic-space characters removed or replaced


def _check_box(size: tuple[int, int] | None, max_side: int | None, fit: str) -> None:
    if size is not None and max_side is not None:
        raise ValueError("give either size or max_side, not both")
    if size is not None and (len(size) != 2 or min(size) < 16 or max(size) > 8192):
        raise ValueError(f"size must be (width, height) between 16 and 8192, got {size!r}")
    if max_side is not None and not 16 <= max_side <= 8192:
        raise ValueError(f"max_side must be between 16 and 8192, got {max_side!r}")
    if fit not in ("letterbox", "crop"):
        raise ValueError(f"fit must be 'letterbox' or 'crop', got {fit!r}")


@dataclass(frozen=True)
class ImageNorm:
    """A study's common image format. ``size`` is exact (``fit``: letterbox or crop);
    ``max_side`` only shrinks, keeping the aspect ratio."""

    format: str = "png"  # "png" | "jpeg" | "webp"
    max_side: int | None = None
    size: tuple[int, int] | None = None
    fit: str = "letterbox"
    quality: int = 90  # jpeg and webp
    background: tuple[int, int, int] = (0, 0, 0)  # letterbox bars; behind alpha in jpeg

    def __post_init__(self) -> None:
        if self.format not in IMAGE_FORMATS:
            raise ValueError(f"format must be one of {sorted(IMAGE_FORMATS)}, got {self.format!r}")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"quality must be between 1 and 100, got {self.quality!r}")
        _check_box(self.size, self.max_side, self.fit)


@dataclass(frozen=True)
class VideoNorm:
    """A study's common video shape: exact ``size`` (even numbers) or ``max_side``,
    constant ``fps``, clips cut at ``max_duration_s``; audio dropped unless kept."""

    size: tuple[int, int] | None = None
    max_side: int | None = None
    fit: str = "letterbox"
    fps: float | None = None
    max_duration_s: float | None = None
    keep_audio: bool = False
    crf: int = 20

    def __post_init__(self) -> None:
        _check_box(self.size, self.max_side, self.fit)
        if self.size is not None and (self.size[0] % 2 or self.size[1] % 2):
            raise ValueError("video width and height must be even (H.264 4:2:0)")
        if self.fps is not None and not 1 <= self.fps <= 120:
            raise ValueError(f"fps must be between 1 and 120, got {self.fps!r}")
        if self.max_duration_s is not None and self.max_duration_s <= 0:
            raise ValueError("max_duration_s must be positive")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be between 0 and 51, got {self.crf!r}")
