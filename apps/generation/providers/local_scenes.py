"""The local adapter's pictures: one procedural landscape per style.

Each style is an aesthetic bias, which is what a study measures: ``ink`` (pale washes,
a one-corner composition, empty paper), ``photographic`` (saturated colour, a hard
light, a centred peak), ``overfill`` (dense high-contrast ink edge to edge) and
``anime`` (flat cel colour, bright outlines). No style draws a mark of its own — no
seal, signature or logo: experts would tell the "models" apart by it rather than by
their aesthetics, against the blind protocol.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw

STYLES = ("ink", "photographic", "overfill", "anime")


def _noise1d(rng: np.random.Generator, n: int, points: int = 4, octaves: int = 5) -> np.ndarray:
    """Fractal ridge noise in about [-1, 1] over ``n`` columns."""
    x = np.linspace(0.0, 1.0, n)
    out, amp, total = np.zeros(n), 1.0, 0.0
    for octave in range(octaves):
        k = points * 2**octave + 1
        out += amp * np.interp(x, np.linspace(0.0, 1.0, k), rng.uniform(-1, 1, k))
        total, amp = total + amp, amp * 0.5
    return out / total


def noise2d(rng: np.random.Generator, w: int, h: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1] with about ``cells`` features across the width."""
    small = rng.random((max(2, round(cells * h / w)), max(2, cells))).astype(np.float32)
    big = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(big), 0.0, 1.0)


def _smooth(values: np.ndarray, width: int) -> np.ndarray:
    width = max(1, width)
    padded = np.pad(values, width, mode="edge")
    return np.convolve(padded, np.ones(2 * width + 1) / (2 * width + 1), mode="same")[width:-width]


def blend(img: np.ndarray, colour: Any, alpha: np.ndarray) -> None:
    """Lay ``colour`` over ``img`` in place with opacity ``alpha`` (h x w)."""
    a = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    keep = 1.0 - a
    for c in range(3):  # channel by channel: broadcasting over a last axis of 3 is 7x slower
        channel = img[..., c]
        channel *= keep
        channel += a * np.float32(colour[c])


def render(prompt: str, style: str, w: int, h: int, rng: np.random.Generator) -> Image.Image:
    """One landscape in the given style, as an RGB image."""
    ys = (np.arange(h, dtype=np.float32) / h)[:, None]
    xs = np.linspace(0.0, 1.0, w, dtype=np.float32)
    scene = {"ink": _ink, "photographic": _photo, "overfill": _overfill, "anime": _anime}[style]
    img = scene(rng, w, h, xs, ys, _blue_green(prompt))
    out = Image.fromarray((np.clip(img, 0.0, 1.0) * 255 + 0.5).astype(np.uint8), "RGB")
    if style in ("ink", "overfill"):
        _boat_and_birds(ImageDraw.Draw(out), rng, w, h, dark=style == "overfill")
    return out


def _blue_green(prompt: str) -> bool:
    return "青绿" in prompt or "blue-green" in prompt.lower()


def _ridge(rng, w, base, amp, envelope, points=4) -> np.ndarray:
    peaks = np.abs(_noise1d(rng, w, points, octaves=6)) ** 0.8  # sharp crests, soft valleys
    ridge = base - amp * envelope * (0.25 + 0.75 * peaks / max(peaks.max(), 1e-6))
    return ridge.astype(np.float32)


def _relief(ridge: np.ndarray, depth_px: np.ndarray, light: int, hard: float) -> np.ndarray:
    """0..1 per pixel: how far a mountain face turns toward a light from the left (-1) or the
    right (+1). Each pixel takes the ridge slope of a column shifted by its depth, so a peak's
    shadow edge runs down the slope at a lean instead of straight down."""
    w = ridge.size
    slope = np.gradient(_smooth(ridge, max(1, w // 80))) * w
    cols = np.arange(w)[None, :] + (0.5 * light * np.maximum(depth_px, 0)).astype(np.int64)
    return 1 / (1 + np.exp(-hard * light * slope[np.clip(cols, 0, w - 1)]))


def _ink(rng, w, h, xs, ys, blue_green):
    paper = np.array([0.94, 0.91, 0.84], np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = paper
    img += rng.normal(0.0, 0.012, (h, w, 1)).astype(np.float32)  # grain
    img += (noise2d(rng, w, h, 90)[..., None] - 0.5) * 0.03  # fibres
    texture = noise2d(rng, w, h, 40)
    strokes = noise2d(rng, w, h, 120)
    edge = xs if rng.random() < 0.5 else 1.0 - xs  # the mountains hold one side only
    inks = (
        [(0.35, 0.52, 0.58), (0.25, 0.45, 0.42), (0.15, 0.22, 0.2)]
        if blue_green
        else [(0.32, 0.33, 0.36), (0.2, 0.2, 0.22), (0.08, 0.08, 0.09)]
    )
    layers = [(0.6, 0.4, 1.0, 0.15, 0.12), (0.74, 0.5, 0.75, 0.3, 0.1), (0.95, 0.6, 0.5, 0.6, 0.09)]
    for (base, amp, reach, alpha, fade), ink in zip(layers, inks, strict=True):
        env = np.clip(1.0 - edge / reach, 0.0, 1.0) ** 0.7
        ridge = _ridge(rng, w, base, amp, env, points=3)
        depth = ys - ridge
        near = np.clip(env * 4, 0.0, 1.0)
        wash = np.exp(-np.maximum(depth, 0) / fade) * (0.7 + 0.6 * texture)
        cun = (
            (strokes > 0.62) * np.exp(-np.maximum(depth, 0) / (fade * 0.6)) * 0.8
        )  # texture strokes
        line = 1.3 * np.exp(-((depth / 0.004) ** 2))
        blend(img, ink, alpha * near * ((depth > 0) * (wash + cun) + line))
    for centre in rng.uniform(0.5, 0.85, 2):
        band = np.exp(-(((ys - centre) / 0.05) ** 2)) * noise2d(rng, w, h, 6)
        blend(img, paper, band * 0.85)
    return img


def _photo(rng, w, h, xs, ys, blue_green):
    t = np.clip(ys / 0.62, 0.0, 1.0) ** 1.4
    top, horizon = np.array([0.1, 0.3, 0.8]), np.array([0.98, 0.6, 0.25])
    img = np.broadcast_to(((1 - t)[..., None] * top + t[..., None] * horizon), (h, w, 3))
    img = img.astype(np.float32).copy()
    light = rng.choice([-1, 1])
    sun_x = 0.5 + light * rng.uniform(0.15, 0.3)
    dist = np.hypot((xs - sun_x) * w / h, ys - 0.3)
    blend(img, (1.0, 0.93, 0.7), np.exp(-dist / 0.06) + (dist < 0.045))
    blend(img, (0.35, 0.45, 0.7), (ys > _ridge(rng, w, 0.62, 0.16, np.ones(w), 3)) * 0.9)
    peak = np.exp(-(((xs - 0.5) / 0.2) ** 2)) * 0.9 + 0.1  # one central summit
    ridge = _ridge(rng, w, 0.84, 0.62, peak, 2)
    depth = ys - ridge
    rock = np.clip(depth / 0.25, 0.0, 1.0)[..., None]
    ground = (1 - rock) * np.array([0.6, 0.42, 0.25]) + rock * np.array([0.15, 0.52, 0.12])
    relief = _relief(ridge, depth * h, light, 6.0) * (0.8 + 0.4 * noise2d(rng, w, h, 60))
    shade = 0.25 + 1.0 * relief  # a hard light and a dark cast side
    img = np.where((depth > 0)[..., None], ground * shade[..., None], img).astype(np.float32)
    shore = int(h * 0.86)
    mirror = img[2 * shore - h : shore][::-1]
    img[shore:] = mirror[: h - shore] * 0.7 + np.array([0.02, 0.08, 0.2], np.float32)
    return img


def _overfill(rng, w, h, xs, ys, blue_green):
    img = np.empty((h, w, 3), np.float32)
    img[:] = (0.72, 0.66, 0.55)
    strokes = noise2d(rng, w, h, 160)
    inks = (
        [(0.1, 0.1, 0.1), (0.3, 0.22, 0.12), (0.05, 0.35, 0.25)]
        if blue_green
        else [(0.08, 0.08, 0.08), (0.35, 0.25, 0.14), (0.2, 0.2, 0.18)]
    )
    texture = 0.35 + 0.4 * noise2d(rng, w, h, 50) + 0.5 * (strokes > 0.58)
    for i, base in enumerate(np.linspace(0.1, 1.05, 9)):
        ridge = _ridge(rng, w, base, 0.3, np.ones(w), 6)
        depth = ys - ridge
        wash = np.roll(texture, i * w // 9, axis=1)
        blend(img, inks[i % 3], (depth > 0) * wash * np.exp(-np.maximum(depth, 0) / 0.3))
        blend(img, (0.04, 0.04, 0.04), np.exp(-((depth / 0.003) ** 2)))
    return np.clip((img - 0.4) * 1.6 + 0.4, 0.0, 1.0)


def _anime(rng, w, h, xs, ys, blue_green):
    img = np.empty((h, w, 3), np.float32)
    sky = [(0.3, 0.6, 1.0), (0.45, 0.74, 1.0), (0.66, 0.87, 1.0)]
    img[:] = np.asarray(sky, np.float32)[np.digitize(ys[:, 0], [0.22, 0.42])][:, None, :]
    sun_x = rng.uniform(0.2, 0.8)
    img[np.hypot((xs - sun_x) * w / h, ys - 0.2) < 0.07] = (1.0, 0.95, 0.45)
    img[(noise2d(rng, w, h, 9) > 0.7) & (ys < 0.45)] = (1.0, 1.0, 1.0)  # flat clouds
    light = 1 if sun_x > 0.5 else -1
    colours = [
        ((0.62, 0.6, 0.98), (0.45, 0.42, 0.85)),
        ((0.25, 0.8, 0.72), (0.12, 0.55, 0.6)),
        ((0.3, 0.78, 0.3), (0.12, 0.5, 0.22)),
    ]
    for (base, amp), (lit, dark) in zip(
        [(0.6, 0.35), (0.8, 0.4), (1.0, 0.35)], colours, strict=True
    ):
        ridge = _ridge(rng, w, base, amp, np.ones(w), 3)
        depth = (ys - ridge) * h
        cel = np.where((_relief(ridge, depth, light, 1.0) > 0.5)[..., None], lit, dark)
        img = np.where((depth > 0)[..., None], cel, img).astype(np.float32)
        img[np.abs(depth) < 1.5] = (1.0, 0.98, 0.7)  # bright outline
    img[rng.random((h, w)) < 0.0015] = (1.0, 0.72, 0.85)  # petals
    return img


def _boat_and_birds(draw: ImageDraw.ImageDraw, rng, w: int, h: int, *, dark: bool) -> None:
    ink = (25, 25, 28) if not dark else (235, 228, 210)
    x, y, s = rng.uniform(0.2, 0.8) * w, rng.uniform(0.72, 0.86) * h, w / 90
    draw.polygon(
        [(x - 2 * s, y), (x + 2 * s, y), (x + 1.4 * s, y + 0.5 * s), (x - 1.4 * s, y + 0.5 * s)],
        fill=ink,
    )
    draw.line([(x, y), (x + 0.3 * s, y - 1.2 * s)], fill=ink, width=max(1, int(s / 3)))
    for _ in range(rng.integers(2, 5)):
        bx, by, b = rng.uniform(0.1, 0.9) * w, rng.uniform(0.08, 0.3) * h, w / 160
        draw.line([(bx - b, by - b / 2), (bx, by), (bx + b, by - b / 2)], fill=ink, width=1)
