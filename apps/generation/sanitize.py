"""The blind protocol's media sanitiser: pure functions from provider bytes to blind bytes.

Nothing that could name a model survives: images are decoded and re-encoded from
their pixels alone (no EXIF, XMP, PNG text chunks, ICC profile, C2PA/JUMBF); videos
are re-encoded by ffmpeg with every container and stream tag dropped and bit-exact
muxing (no encoder strings); texts are cleaned of invisible characters (a possible
watermark channel) and self-identification is *flagged* for the organizer, never
edited. Optional normalisation makes every output of a study the same format and
size, because resolution, frame rate or clip length alone can identify a model.

Videos need Debian's ``ffmpeg`` package (``apt-get install ffmpeg``, which also
provides ``ffprobe``) on every worker. ffmpeg runs with argument lists (never a
shell), a timeout, inputs restricted to local files and to the MP4/MOV and
Matroska/WebM demuxers (so a playlist cannot make it read other files), in a
private temporary directory.

No Django here: callers store the result under its ``sha256``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import struct
import subprocess
import tempfile
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError


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
        if self.format not in _IMAGE_FORMATS:
            raise ValueError(f"format must be one of {sorted(_IMAGE_FORMATS)}, got {self.format!r}")
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


# --------------------------------------------------------------------------- images

# format -> (Pillow name, content type, extension)
_IMAGE_FORMATS = {
    "png": ("PNG", "image/png", "png"),
    "jpeg": ("JPEG", "image/jpeg", "jpg"),
    "webp": ("WEBP", "image/webp", "webp"),
}
# what a generation provider plausibly returns; nothing exotic reaches a decoder
_ACCEPTED = ("PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP", "TIFF", "AVIF")
_DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    ValueError,
    SyntaxError,
    struct.error,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
)
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def sanitize_image(
    data: bytes, *, max_pixels: int = 64_000_000, normalise: ImageNorm | None = None
) -> SanitizedMedia:
    """Decode ``data`` and re-encode its pixels alone (PNG unless ``normalise`` says
    otherwise), with EXIF orientation applied and colours converted to sRGB.
    Raises :class:`SanitizeError` for anything undecodable or larger than ``max_pixels``."""
    norm = normalise or ImageNorm()
    if not data:
        raise SanitizeError("empty image")
    Image.init()
    # WeasyPrint (the report PDFs) switches Pillow's process-wide flag on when it is
    # imported; a truncated output must still be refused here, not half-decoded.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    formats = [f for f in _ACCEPTED if f in Image.OPEN]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=formats) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise SanitizeError(
                        f"image of {w}x{h} pixels is over the limit of "
                        f"{max_pixels} (a decompression bomb?)"
                    )
                im.load()
                pixels = _pixels_only(im)
    except SanitizeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SanitizeError(f"image refused as a decompression bomb: {exc}") from None
    except _DECODE_ERRORS as exc:
        raise SanitizeError(f"undecodable image: {exc}") from None
    pixels = _resize(pixels, norm)
    _, content_type, extension = _IMAGE_FORMATS[norm.format]
    buf = io.BytesIO()
    if norm.format == "jpeg":
        if pixels.mode == "RGBA":
            flat = Image.new("RGB", pixels.size, norm.background)
            flat.paste(pixels, mask=pixels.getchannel("A"))
            pixels = flat
        pixels.save(buf, "JPEG", quality=norm.quality, subsampling=2, optimize=False)
    elif norm.format == "webp":
        pixels.save(buf, "WEBP", quality=norm.quality, method=4)
    else:
        pixels.save(buf, "PNG", compress_level=6)
    content = buf.getvalue()
    return SanitizedMedia(
        content,
        content_type,
        extension,
        hashlib.sha256(content).hexdigest(),
        pixels.width,
        pixels.height,
    )


def _pixels_only(im: Image.Image) -> Image.Image:
    """A new RGB or RGBA image holding nothing but ``im``'s (first frame's) pixels, upright
    and in sRGB. Alpha is kept only where some pixel is not opaque."""
    try:
        upright = ImageOps.exif_transpose(im)
    except _DECODE_ERRORS:  # a broken EXIF block: keep the pixels as stored
        upright = im.copy()
    if upright.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float grey
        upright = upright.point(lambda v: v / 257).convert("L")
    has_alpha = upright.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        "transparency" in upright.info
    )
    mode = "RGBA" if has_alpha else "RGB"
    if upright.mode in ("P", "PA", "1", "LA", "La", "RGBa") or (
        has_alpha and upright.mode != "RGBA"
    ):
        upright = upright.convert(mode)
    icc = im.info.get("icc_profile")
    converted = None
    if icc:  # convert to sRGB so dropping the profile keeps the colours
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(upright, source, _SRGB, outputMode=mode)
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            converted = None  # an unusable profile: treat the pixels as sRGB
    clean = (converted or upright).convert(mode)
    if mode == "RGBA" and clean.getchannel("A").getextrema() == (255, 255):
        clean = clean.convert("RGB")
    # rebuilt from raw bytes, so no info (EXIF, XMP, ICC, text, …) can ride along
    return Image.frombytes(clean.mode, clean.size, clean.tobytes())


def _resize(im: Image.Image, norm: ImageNorm) -> Image.Image:
    lanczos = Image.Resampling.LANCZOS
    if norm.max_side is not None:
        scale = norm.max_side / max(im.size)
        if scale < 1:
            size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
            return im.resize(size, lanczos)
        return im
    if norm.size is None or im.size == tuple(norm.size):
        return im
    if norm.fit == "crop":
        return ImageOps.fit(im, norm.size, lanczos)
    inner = ImageOps.contain(im, norm.size, lanczos)
    fill = (*norm.background, 255) if im.mode == "RGBA" else norm.background
    canvas = Image.new(im.mode, norm.size, fill)
    canvas.paste(inner, ((norm.size[0] - inner.width) // 2, (norm.size[1] - inner.height) // 2))
    return canvas


# --------------------------------------------------------------------------- videos

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


# --------------------------------------------------------------------------- texts

DEFAULT_MAKER_NAMES: tuple[str, ...] = (
    # Chinese models and makers
    "通义千问", "通义万相", "通义", "千问", "文心一言", "文心大模型", "豆包", "智谱清言", "智谱",
    "讯飞星火", "星火大模型", "腾讯混元", "混元", "月之暗面", "深度求索", "百川智能", "商汤科技",
    "日日新", "阶跃星辰", "零一万物", "可灵", "海螺", "即梦", "腾讯元宝", "天工AI", "盘古大模型",
    "百度", "阿里巴巴", "阿里云", "字节跳动", "腾讯", "华为", "科大讯飞", "快手",
    "Qwen", "Tongyi", "ERNIE", "Wenxin", "Doubao", "Seedream", "Seedance", "ByteDance", "ChatGLM",
    "GLM", "Zhipu", "CogView", "Kimi", "Moonshot", "DeepSeek", "Hunyuan", "Baichuan", "SenseNova",
    "MiniMax", "Hailuo", "Kling", "Alibaba", "Baidu", "Tencent", "Huawei", "iFlytek", "Kuaishou",
    # others
    "ChatGPT", "GPT-4o", "GPT-4", "GPT-5", "GPT", "OpenAI", "DALL-E", "DALL·E", "Sora", "Claude",
    "Anthropic", "Gemini", "Imagen", "Veo", "Google", "Llama", "Meta AI", "Mistral",
    "Grok", "xAI", "Copilot", "Midjourney", "Stable Diffusion", "Stability AI", "Runway", "Pika",
)  # fmt: skip

_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"  # tags and variation selectors supplement
)
_ODD_SPACES = re.compile("[\u00a0\u2000-\u200a\u202f\u205f]")  # ideographic space U+3000 stays
_MERGEABLE_GAP = re.compile(r"[\s,，]{0,3}")


@functools.lru_cache(maxsize=16)
def _self_identification(names: tuple[str, ...]) -> list[re.Pattern[str]]:
    alt = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))
    name = rf"(?:{alt})(?![A-Za-z0-9])"
    made = r"(?:开发|训练|研发|打造|推出|创建|创造|提供)"
    zh_intro = r"(?:作为|身为|我是|我叫|我乃|本人是|这里是)\s*(?:一[个款名位])?\s*"
    ai = r"(?:AI|ＡＩ|人工智能)\s*(?:大型?)?(?:语言)?(?:模型|助手|助理)|大型?语言模型"
    en_made = r"(?:developed|trained|created|built|made|designed|released|provided|powered)"
    en_intro = r"(?<![A-Za-z])(?<!such )(?:as|I am|I'm|I’m|this is|my name is)\s+(?:the\s+)?"
    en_ai = (
        r"an?\s+(?:(?:AI|artificial intelligence)(?:\s+(?:language\s+)?"
        r"(?:model|assistant|chatbot))?|(?:large\s+)?language\s+model)(?![A-Za-z])"
    )
    return [
        re.compile(rf"{zh_intro}(?:由\S{{1,12}}?{made}的\s*)?{name}"),
        re.compile(rf"由\s*{name}\s*(?:公司|团队)?\s*{made}"),
        re.compile(rf"{zh_intro}(?:{ai})"),
        re.compile(rf"{en_intro}{name}", re.IGNORECASE),
        re.compile(rf"(?<![A-Za-z]){en_made}\s+by\s+{name}", re.IGNORECASE),
        re.compile(rf"(?<![A-Za-z])(?:as|I am|I'm|I’m)\s+{en_ai}", re.IGNORECASE),
    ]


def sanitize_text(text: str, *, maker_names: Iterable[str] = DEFAULT_MAKER_NAMES) -> SanitizedText:
    """NFC-normalise ``text``, remove invisible characters and replace exotic spaces
    (channels a watermark can hide in), and flag — not edit — phrases where the text
    names its maker ("作为通义千问", "As ChatGPT", "as an AI language model …")."""
    removed = len(_INVISIBLE.findall(text)) + len(_ODD_SPACES.findall(text))
    clean = unicodedata.normalize("NFC", _ODD_SPACES.sub(" ", _INVISIBLE.sub("", text)))
    spans = sorted(
        m.span()
        for pattern in _self_identification(tuple(maker_names))
        for m in pattern.finditer(clean)
    )
    merged: list[list[int]] = []
    for start, end in spans:  # "as an AI model" + "developed by OpenAI" read as one phrase
        if merged and _MERGEABLE_GAP.fullmatch(clean, merged[-1][1], max(start, merged[-1][1])):
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return SanitizedText(clean, [clean[s:e] for s, e in merged], removed)
