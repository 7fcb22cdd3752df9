"""The local adapter's files: a picture encoded as PNG or JPEG, or a clip encoded
as H.264 MP4 by ffmpeg. Both deliberately carry identifying metadata (PNG text
chunks, EXIF, MP4 title/artist/comment/handler tags naming
``evalsite-local/<style>``), so that the sanitiser and the blindness tests strip
something real.

ffmpeg (Debian's ``ffmpeg`` package) runs with an argument list and a timeout, never
through a shell.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from .base import ProviderError
from .local_scenes import blend, noise2d, render

SOFTWARE = "evalsite-local"
FFMPEG_TIMEOUT_S = 60.0


def image_encode(img: Image.Image, params: dict[str, Any], model_id: str) -> tuple[bytes, str]:
    software = f"{SOFTWARE}/{params['style']}"
    exif = Image.Exif()
    exif[0x010F] = SOFTWARE  # Make
    exif[0x0110] = model_id or software  # Model
    exif[0x0131] = software  # Software
    buf = io.BytesIO()
    if params["format"] == "jpeg":
        img.save(buf, "JPEG", quality=90, exif=exif.tobytes(), comment=software.encode())
        return buf.getvalue(), "image/jpeg"
    info = PngInfo()
    info.add_text("Software", software)
    info.add_text("Source", model_id or software)
    img.save(buf, "PNG", pnginfo=info, exif=exif.tobytes(), compress_level=6)
    return buf.getvalue(), "image/png"


def video_make(
    prompt: str, params: dict[str, Any], w: int, h: int, rng: np.random.Generator, timeout_s: float
) -> bytes:
    """A slow pan across the scroll (handscroll prompts) or a still view, with drifting mist."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ProviderError(
            "ffmpeg is not installed on this worker (apt-get install ffmpeg)",
            retryable=False,
            code="ffmpeg_missing",
        )
    fps, style = params["fps"], params["style"]
    frames = max(2, round(params["duration_s"] * fps))
    pans = any(k in prompt.lower() for k in ("手卷", "展开", "平移", "handscroll", "unroll", "pan"))
    pano_w = int(w * 1.5) if pans else w
    scene = np.asarray(render(prompt, style, pano_w, h, rng), np.float32)
    mist = (
        noise2d(rng, pano_w + w, h, 8) * np.exp(-(((np.arange(h) / h - 0.6) / 0.12) ** 2))[:, None]
    )
    mist_colour = {"anime": (255, 255, 255), "photographic": (230, 220, 210)}.get(
        style, (240, 232, 214)
    )
    raw = bytearray()
    for i in range(frames):
        t = i / (frames - 1)
        x0 = round((pano_w - w) * (1 - t))  # right to left, as a handscroll unrolls
        frame = scene[:, x0 : x0 + w].copy()
        drift = round(t * w * 0.5)
        m = mist[:, drift : drift + w] * 0.7
        if style == "anime":
            m = (m > 0.3).astype(np.float32)
        blend(frame, mist_colour, m)
        raw += (frame + 0.5).astype(np.uint8).tobytes()
    tag = f"{SOFTWARE}/{style}"
    with tempfile.TemporaryDirectory(prefix="evalsite-local-") as tmp:
        out = Path(tmp) / "out.mp4"
        cmd = [
            ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-framerate", str(fps),
            "-i", "pipe:0",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p",
            "-movflags", "+faststart",
            # ffmpeg writes its own "encoder" tag over ours, so the name goes in these
            "-metadata", f"title={tag}", "-metadata", f"artist={SOFTWARE}",
            "-metadata", f"comment=made by {tag}", "-metadata:s:v:0", f"handler_name={tag}",
            str(out),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                cmd,
                input=bytes(raw),
                capture_output=True,
                timeout=min(timeout_s, FFMPEG_TIMEOUT_S),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ProviderError("ffmpeg timed out encoding the video", retryable=True) from None
        if done.returncode != 0:
            reason = done.stderr.decode(errors="replace").strip()[-300:]
            raise ProviderError(f"ffmpeg failed: {reason}", retryable=False, code="ffmpeg")
        return out.read_bytes()
