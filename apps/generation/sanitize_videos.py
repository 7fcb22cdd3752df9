"""Videos: re-encoded by ffmpeg with every container and stream tag dropped.

Needs Debian's ``ffmpeg`` package (``apt-get install ffmpeg``, which also provides
``ffprobe``) on every worker. ffmpeg runs with argument lists (never a shell), a
timeout, inputs restricted to local files and to the MP4/MOV and Matroska/WebM
demuxers (so a playlist cannot make it read other files), in a private temporary
directory, with bit-exact muxing (no encoder strings).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from .sanitize_types import SanitizedMedia, SanitizeError, VideoNorm

_DEMUXERS = "mov,matroska"  # MP4/MOV and Matroska/WebM: no playlists, no concat lists
_BITEXACT = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact"]


def sanitize_video(
    data: bytes,
    *,
    normalise: VideoNorm | None = None,
    ffmpeg: str = "ffmpeg",
    ffprobe: str = "ffprobe",
    timeout_s: float = 120,
) -> SanitizedMedia:
    """Re-encode ``data`` to H.264/yuv420p MP4 (+faststart) with every container and
    stream tag, chapter, subtitle and data stream dropped, and audio unless kept.
    Raises :class:`SanitizeError` for undecodable input, a missing ffmpeg or a timeout."""
    norm = normalise or VideoNorm()
    if not data:
        raise SanitizeError("empty video")
    with tempfile.TemporaryDirectory(prefix="evalsite-video-") as tmp:  # mode 0700
        src, out = Path(tmp) / "input", Path(tmp) / "output.mp4"
        src.write_bytes(data)
        streams = _probe(ffprobe, src, tmp, timeout_s)["streams"]
        if not any(s.get("codec_type") == "video" for s in streams):
            raise SanitizeError("undecodable video: no video stream")
        audio = norm.keep_audio and any(s.get("codec_type") == "audio" for s in streams)
        cmd = [
            ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-protocol_whitelist", "file", "-format_whitelist", _DEMUXERS, "-i", str(src),
            "-map", "0:v:0", *(["-map", "0:a:0"] if audio else []),
            "-map_metadata", "-1", "-map_chapters", "-1", "-sn", "-dn",
            "-vf", _video_filters(norm),
            "-c:v", "libx264", "-preset", "veryfast", "-crf", str(norm.crf), "-pix_fmt", "yuv420p",
            *(["-af", "asetpts=PTS-STARTPTS", "-c:a", "aac", "-b:a", "128k", "-ac", "2"]
              if audio else ["-an"]),
            *(["-t", f"{norm.max_duration_s:.3f}"] if norm.max_duration_s else []),
            *_BITEXACT, "-movflags", "+faststart", "-f", "mp4", str(out),
        ]  # fmt: skip
        _run(cmd, tmp, timeout_s)
        if not out.exists() or out.stat().st_size == 0:
            raise SanitizeError("undecodable video: ffmpeg produced no output")
        info = _probe(ffprobe, out, tmp, timeout_s)
        content = out.read_bytes()
    video = next((s for s in info["streams"] if s.get("codec_type") == "video"), None)
    if video is None:
        raise SanitizeError("undecodable video: no frame could be decoded")
    duration = float(info.get("format", {}).get("duration") or video.get("duration") or 0)
    return SanitizedMedia(
        content,
        "video/mp4",
        "mp4",
        hashlib.sha256(content).hexdigest(),
        int(video["width"]),
        int(video["height"]),
        round(duration, 3),
        _frame_rate(video),
    )


def _frame_rate(stream: dict[str, Any]) -> float | None:
    """A probed video stream's frames per second (its average rate, which is the
    rate of a constant-rate clip), or None when ffprobe does not know it."""
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = str(stream.get(key) or "").partition("/")
        try:
            rate = float(num) / float(den or 1)
        except (ValueError, ZeroDivisionError):
            continue  # "0/0": unknown
        if 0 < rate <= 1000:
            return round(rate, 3)
    return None


def _video_filters(norm: VideoNorm) -> str:
    chain = ["setpts=PTS-STARTPTS"]  # start at zero: a container's start offset is no signal
    if norm.fps:
        chain.append(f"fps={norm.fps:g}")
    if norm.size is not None:
        w, h = norm.size
        if norm.fit == "crop":
            chain += [
                f"scale={w}:{h}:force_original_aspect_ratio=increase:flags=lanczos",
                f"crop={w}:{h}",
            ]
        else:
            chain += [
                f"scale={w}:{h}:force_original_aspect_ratio=decrease:flags=lanczos",
                f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black",
            ]
    elif norm.max_side is not None:
        s = norm.max_side  # quoted: the commas in min() would otherwise split the graph
        chain.append(
            f"scale='if(gte(iw,ih),min({s},iw),-2)':'if(gte(iw,ih),-2,min({s},ih))':flags=lanczos"
        )
    chain += ["scale=trunc(iw/2)*2:trunc(ih/2)*2", "setsar=1", "format=yuv420p"]
    return ",".join(chain)


def _probe(ffprobe: str, path: Path, tmp: str, timeout_s: float) -> dict[str, Any]:
    cmd = [
        ffprobe,
        "-v",
        "error",
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        _DEMUXERS,
        "-print_format",
        "json",
        "-show_format",
        "-show_streams",
        str(path),
    ]
    done = _run(cmd, tmp, min(timeout_s, 30))
    try:
        info = json.loads(done.stdout or b"{}")
    except ValueError:
        raise SanitizeError("undecodable video: ffprobe gave no readable answer") from None
    info.setdefault("streams", [])
    return info


def _run(cmd: list[str], tmp: str, timeout_s: float) -> subprocess.CompletedProcess[bytes]:
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except FileNotFoundError:
        raise SanitizeError(
            f"{cmd[0]} not found: the server needs Debian's ffmpeg package (apt-get install ffmpeg)"
        ) from None
    except subprocess.TimeoutExpired:
        raise SanitizeError(f"{Path(cmd[0]).name} timed out after {timeout_s:g} s") from None
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").replace(tmp + "/", "").strip()
        if "not on whitelist" in detail:
            detail = "not an MP4/MOV or Matroska/WebM file"
        raise SanitizeError(f"undecodable video: {detail[-300:] or 'ffmpeg failed'}")
    return done
