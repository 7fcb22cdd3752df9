"""A sanitised video knows its frame rate (the expert page steps one frame at that
rate), as ffprobe finds it in the re-encoded file; images have none."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from apps.generation.outputs import output_fields
from apps.generation.sanitize import VideoNorm, _frame_rate, sanitize_image, sanitize_video
from tests.scoring.factories import png_bytes
from tests.services import service_missing


@pytest.fixture
def ffmpeg_installed() -> None:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        service_missing("ffmpeg not installed (apt-get install ffmpeg)")


def test_a_video_keeps_its_frame_rate_and_a_normalised_one_has_the_studys(
    ffmpeg_installed, tmp_path
):
    out = tmp_path / "ten.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
         "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out)],
        check=True, timeout=60,
    )  # fmt: skip
    clip = out.read_bytes()  # 10 frames a second
    assert sanitize_video(clip).fps == 10
    assert sanitize_video(clip, normalise=VideoNorm(fps=5)).fps == 5
    assert output_fields(sanitize_video(clip))["fps"] == 10


def test_an_image_has_no_frame_rate():
    assert output_fields(sanitize_image(png_bytes(1)))["fps"] is None


@pytest.mark.parametrize(
    ("stream", "fps"),
    [
        ({"avg_frame_rate": "30000/1001", "r_frame_rate": "30000/1001"}, 29.97),
        ({"avg_frame_rate": "0/0", "r_frame_rate": "24/1"}, 24),
        ({"avg_frame_rate": "0/0", "r_frame_rate": "0/0"}, None),
        ({}, None),
    ],
)
def test_the_rate_is_read_from_ffprobes_fractions(stream, fps):
    assert _frame_rate(stream) == fps
