"""Images: decoded and re-encoded from their pixels alone.

Nothing but pixels survives — no EXIF, XMP, PNG text chunks, ICC profile or
C2PA/JUMBF — with EXIF orientation applied and colours converted to sRGB first,
so that dropping them changes nothing a viewer sees.
"""

from __future__ import annotations

import hashlib
import io
import struct
import warnings

from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from .sanitize_types import IMAGE_FORMATS, ImageNorm, SanitizedMedia, SanitizeError

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
    _, content_type, extension = IMAGE_FORMATS[norm.format]
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
