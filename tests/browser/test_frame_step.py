"""Frame stepping (the "," and "." keys) moves by one frame of the video shown, at
its own frame rate: 10 frames a second here, not the 25 the viewer used to assume.

The rate comes from the browser itself (``requestVideoFrameCallback`` reports the
media time of every presented frame, measured while the video plays) and, before
the video has played, from the rate ffprobe found at collection (``Output.fps``).
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from apps.generation.outputs import output_sanitise
from tests.browser.item_page import browser_session, item_page_build
from tests.services import service_missing

FPS = 10
VIDEO = "document.querySelector('[data-viewer=video] video')"
SEEK_DONE = f"() => !{VIDEO}.seeking && {VIDEO}.readyState >= 2"


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_X_ACCEL_PREFIX = ""
    return settings.MEDIA_ROOT


@pytest.fixture
def clip(tmp_path):
    """A 3-second test pattern at 10 frames a second, sanitised as collection does."""
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        service_missing("ffmpeg not installed (apt-get install ffmpeg)")
    raw = tmp_path / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=160x96:rate={FPS}",
         "-t", "3", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(raw)],
        check=True, timeout=60,
    )  # fmt: skip
    return output_sanitise("video", raw.read_bytes())


def _open(chromium, base: str, item):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    browser_session(context, base, item.expert)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(base + item.path)
    page.wait_for_function(f"() => {VIDEO}.readyState >= 1")
    return context, page


def _step(page, key: str) -> float:
    page.keyboard.press(key)
    page.wait_for_function(SEEK_DONE)
    return page.evaluate(f"{VIDEO}.currentTime")


def test_the_collected_frame_rate_sets_the_step_of_a_video_not_yet_played(
    chromium, live_server, media_root, clip
):
    # given a 10 fps video, probed at collection
    assert clip.fps == FPS
    item = item_page_build(media=clip)
    context, page = _open(chromium, live_server.url, item)
    assert page.evaluate(f"{VIDEO}.currentTime") == 0
    # when the expert steps one frame forward, twice, and one back
    first = _step(page, ".")
    second = _step(page, ".")
    back = _step(page, ",")
    # then each step is one tenth of a second
    assert first == pytest.approx(1 / FPS, abs=0.01)
    assert second == pytest.approx(2 / FPS, abs=0.01)
    assert back == pytest.approx(1 / FPS, abs=0.01)
    assert page.get_attribute("[data-viewer=video]", "data-frame-rate") == "10.00"
    context.close()


def test_without_a_collected_rate_the_browser_measures_it_while_the_video_plays(
    chromium, live_server, media_root, clip
):
    # given a 10 fps video collected before the rate was stored
    item = item_page_build(media=clip, fps=None)
    context, page = _open(chromium, live_server.url, item)
    viewer = "[data-viewer=video]"
    assert page.get_attribute(viewer, "data-frame-rate-source") == "default"
    # when it plays for a moment (the browser reports each presented frame) and pauses
    page.click(f"{viewer} [data-video-action=play]")
    page.wait_for_function(f"() => {VIDEO}.parentElement.dataset.frameRateSource === 'browser'")
    page.click(f"{viewer} [data-video-action=play]")
    page.wait_for_function(f"() => {VIDEO}.paused")
    start = page.evaluate(f"{VIDEO}.currentTime")
    # then a step forward lands on the start of the next tenth of a second
    after = _step(page, ".")
    frame = int(start * FPS + 1e-3)
    assert after == pytest.approx((frame + 1) / FPS, abs=0.01)
    assert page.get_attribute(viewer, "data-frame-rate") == "10.00"
    context.close()
