"""The blind protocol's media sanitiser: pure functions from provider bytes to blind bytes.

Nothing that could name a model survives: images are decoded and re-encoded from
their pixels alone (no EXIF, XMP, PNG text chunks, ICC profile, C2PA/JUMBF); videos
are re-encoded by ffmpeg with every container and stream tag dropped and bit-exact
muxing (no encoder strings); texts are cleaned of invisible characters (a possible
watermark channel) and self-identification is *flagged* for the organizer, never
edited. Optional normalisation makes every output of a study the same format and
size, because resolution, frame rate or clip length alone can identify a model.

This module is the one callers import from; the work is done in

* ``sanitize_types`` — the error, the results and the normalisation settings;
* ``sanitize_images`` — images rebuilt from their pixels;
* ``sanitize_videos`` — videos re-encoded by ffmpeg (Debian's ``ffmpeg`` package,
  which also provides ``ffprobe``, on every worker);
* ``sanitize_texts`` — texts cleaned, and maker names flagged.

No Django here: callers store the result under its ``sha256``.
"""

from __future__ import annotations

from .sanitize_images import sanitize_image
from .sanitize_texts import DEFAULT_MAKER_NAMES, sanitize_text
from .sanitize_types import ImageNorm, SanitizedMedia, SanitizedText, SanitizeError, VideoNorm
from .sanitize_videos import _frame_rate as _frame_rate  # tested on its own
from .sanitize_videos import sanitize_video

__all__ = [
    "DEFAULT_MAKER_NAMES",
    "ImageNorm",
    "SanitizeError",
    "SanitizedMedia",
    "SanitizedText",
    "VideoNorm",
    "sanitize_image",
    "sanitize_text",
    "sanitize_video",
]
