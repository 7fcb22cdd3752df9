"""The local adapter: offline, deterministic per seed, and visibly biased per style."""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess

import numpy as np
import pytest
from PIL import Image

from apps.generation.providers import (
    GenerationRequest,
    ParamError,
    ProviderError,
    get_provider,
    local,
)
from apps.generation.providers.local import LocalProvider
from tests.services import service_missing

FCSJ_ZH = "以元黄公望《富春山居图》为本，作山水一幅，水墨，手卷画幅，得其笔墨与意境，不要照片质感。"
XSXL_ZH = "以北宋范宽《溪山行旅图》为本，作山水一幅，水墨，立轴画幅，得其笔墨与意境，不要照片质感。"
QLJS_EN = (
    'A Chinese landscape painting after Wang Ximeng\'s "A Thousand Li of Rivers and Mountains" '
    "(Northern Song), blue-green, handscroll format; capture its brushwork and mood."
)


def request(kind: str, prompt: str = FCSJ_ZH, seed: int | None = 7, **params) -> GenerationRequest:
    return GenerationRequest(
        prompt=prompt, media_kind=kind, model_id="local-test", params=params, seed=seed
    )


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def negative_space(rgb: np.ndarray) -> float:
    """Share of near-white (paper) pixels."""
    return float(((rgb @ np.array([0.299, 0.587, 0.114])) >= 200).mean())


def chroma(rgb: np.ndarray) -> float:
    """Mean colourfulness, max - min channel in 0..1 (dark pixels count as grey)."""
    return float(((rgb.max(axis=2).astype(int) - rgb.min(axis=2)) / 255).mean())


def top16_share(rgb: np.ndarray) -> float:
    """Share of pixels painted in the 16 commonest colours: near 1 for flat cel colour."""
    packed = (
        (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    )
    _, counts = np.unique(packed, return_counts=True)
    return float(np.sort(counts)[::-1][:16].sum() / counts.sum())


def seal_like_patch(rgb: np.ndarray, side: int = 8) -> bool:
    """True if some ``side`` x ``side`` window is at least half saturated seal red
    (R >= 150, G <= 80, B <= 80): a vermilion seal, not a warm sky or a petal."""
    red = (rgb[..., 0] >= 150) & (rgb[..., 1] <= 80) & (rgb[..., 2] <= 80)
    table = np.pad(red.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    windows = (
        table[side:, side:] - table[:-side, side:] - table[side:, :-side] + table[:-side, :-side]
    )
    return bool((windows >= side * side // 2).any())


def ffprobe(data: bytes, tmp_path) -> dict:
    path = tmp_path / "probe.mp4"
    path.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
         "-count_frames", str(path)],
        capture_output=True, timeout=30, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


@pytest.fixture
def provider() -> LocalProvider:
    return LocalProvider()


@pytest.fixture
def ffmpeg_installed() -> None:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        service_missing("ffmpeg not installed (apt-get install ffmpeg)")


def test_the_registry_resolves_local_to_the_adapter():
    # when
    provider = get_provider("local")
    # then
    assert isinstance(provider, LocalProvider)
    assert provider.name == "local"
    assert provider.media_kinds == {"image", "video", "text"}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("image", {"style": "ink", "latency_s": 0.0, "fail_rate": 0.0, "size": "768x512",
                   "format": "png"}),
        ("video", {"style": "ink", "latency_s": 0.0, "fail_rate": 0.0, "size": "480x320",
                   "duration_s": 3.0, "fps": 8}),
        ("text", {"style": "ink", "latency_s": 0.0, "fail_rate": 0.0, "language": "auto",
                  "self_name": ""}),
    ],
)  # fmt: skip
def test_validate_params_fills_in_the_defaults(provider, kind, expected):
    # when
    params = provider.validate_params({}, media_kind=kind)
    # then
    assert params == expected


def test_validate_params_normalises_the_size_and_keeps_given_values(provider):
    # when
    params = provider.validate_params(
        {"style": "anime", "size": " 640 X 360 ", "fail_rate": 1}, media_kind="image"
    )
    # then
    assert (params["style"], params["size"], params["fail_rate"]) == ("anime", "640x360", 1.0)


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("image", {"style": "cubist"}, "style"),
        ("image", {"size": "large"}, "size"),
        ("image", {"size": "32x32"}, "size"),
        ("image", {"size": "5000x512"}, "size"),
        ("video", {"size": "481x320"}, "size"),
        ("video", {"duration_s": 0}, "duration_s"),
        ("video", {"duration_s": "3"}, "duration_s"),
        ("video", {"fps": 2.5}, "fps"),
        ("image", {"duration_s": 3}, "duration_s"),
        ("text", {"size": "768x512"}, "size"),
        ("image", {"fail_rate": 1.5}, "fail_rate"),
        ("image", {"latency_s": -1}, "latency_s"),
        ("image", {"latency_s": True}, "latency_s"),
        ("image", {"format": "gif"}, "format"),
        ("image", {"seal": True}, "seal"),  # no maker's mark, not even on request
        ("text", {"language": "fr"}, "language"),
        ("text", {"self_name": 42}, "self_name"),
        ("audio", {}, "media_kind"),
    ],
)
def test_validate_params_names_the_bad_field(provider, kind, params, field):
    # when / then
    with pytest.raises(ParamError) as caught:
        provider.validate_params(params, media_kind=kind)
    assert caught.value.field == field


def test_start_refuses_bad_params_before_generating(provider):
    # when / then
    with pytest.raises(ParamError) as caught:
        provider.start(request("image", style="watercolour"))
    assert caught.value.field == "style"


@pytest.mark.parametrize("kind", ["image", "text"])
def test_the_same_prompt_seed_and_style_give_the_same_bytes(provider, kind):
    # given
    params = {"size": "256x160"} if kind == "image" else {}
    # when
    first = provider.start(request(kind, **params))
    again = provider.start(request(kind, **params))
    other_seed = provider.start(request(kind, seed=8, **params))
    other_style = provider.start(request(kind, style="overfill", **params))
    # then
    assert first.content == again.content
    assert other_seed.content != first.content
    assert other_style.content != first.content


def test_generation_needs_no_network(provider, monkeypatch):
    # given: any attempt to open a socket fails the test
    def no_socket(*args, **kwargs):
        raise AssertionError("the local adapter opened a socket")

    monkeypatch.setattr(socket, "socket", no_socket)
    monkeypatch.setattr(socket, "create_connection", no_socket)
    # when
    image = provider.start(request("image", size="128x96"))
    text = provider.start(request("text"))
    # then
    assert image.content.startswith(b"\x89PNG") and text.content


@pytest.mark.parametrize("prompt", [FCSJ_ZH, XSXL_ZH, QLJS_EN], ids=["FCSJ", "XSXL", "QLJS-en"])
def test_styles_show_their_biases_in_measurable_ways(provider, prompt):
    # when
    rgb = {
        style: pixels(provider.start(request("image", prompt, style=style, size="384x256")).content)
        for style in ("ink", "photographic", "overfill", "anime")
    }
    # then: ink keeps the paper empty, overfill leaves none
    assert negative_space(rgb["ink"]) >= 0.6
    assert negative_space(rgb["overfill"]) <= 0.05
    assert negative_space(rgb["photographic"]) <= 0.05
    # and photographic is far more colourful than ink painting
    assert chroma(rgb["photographic"]) >= 0.25
    assert chroma(rgb["ink"]) <= 0.12
    assert chroma(rgb["overfill"]) <= 0.2
    # and anime is flat cel colour, ink is graded washes on textured paper
    assert top16_share(rgb["anime"]) >= 0.95
    assert top16_share(rgb["ink"]) <= 0.5


def test_no_style_carries_a_seal_that_would_name_its_model(provider):
    # given: the detector finds a seal where there is one
    marked = pixels(provider.start(request("image", style="photographic", size="384x256")).content)
    marked = marked.copy()
    marked[200:215, 40:55] = (178, 34, 34)
    assert seal_like_patch(marked)
    # when: several pictures per style, across prompts and seeds
    found = {
        style: sum(
            seal_like_patch(
                pixels(
                    provider.start(
                        request("image", prompt, seed=seed, style=style, size="384x256")
                    ).content
                )
            )
            for prompt in (FCSJ_ZH, QLJS_EN)
            for seed in range(4)
        )
        for style in ("ink", "photographic", "overfill", "anime")
    }
    # then: no style is recognisable by a red mark (blind protocol: no maker's mark)
    assert found == {"ink": 0, "photographic": 0, "overfill": 0, "anime": 0}


def test_image_size_and_format_follow_the_params(provider):
    # when
    default = provider.start(request("image"))
    small_jpeg = provider.start(request("image", size="320x200", format="jpeg"))
    # then
    assert default.content_type == "image/png"
    assert Image.open(io.BytesIO(default.content)).size == (768, 512)
    assert small_jpeg.content_type == "image/jpeg"
    jpeg = Image.open(io.BytesIO(small_jpeg.content))
    assert (jpeg.format, jpeg.size) == ("JPEG", (320, 200))


def test_images_carry_identifying_metadata_for_the_sanitiser_to_strip(provider):
    # when
    png = Image.open(io.BytesIO(provider.start(request("image", style="anime")).content))
    jpeg = Image.open(
        io.BytesIO(provider.start(request("image", style="anime", format="jpeg")).content)
    )
    # then
    assert png.text["Software"] == "evalsite-local/anime"
    assert png.text["Source"] == "local-test"
    exif = jpeg.getexif()
    assert (exif[0x010F], exif[0x0110], exif[0x0131]) == (
        "evalsite-local",
        "local-test",
        "evalsite-local/anime",
    )


def test_video_is_an_h264_mp4_of_the_asked_shape(provider, ffmpeg_installed, tmp_path):
    # when
    default = provider.start(request("video", style="photographic"))
    short = provider.start(request("video", size="320x240", duration_s=1.5, fps=10))
    # then
    assert default.content_type == "video/mp4"
    info = ffprobe(default.content, tmp_path)
    video = info["streams"][0]
    assert (video["codec_name"], video["pix_fmt"]) == ("h264", "yuv420p")
    assert (video["width"], video["height"], video["nb_read_frames"]) == (480, 320, "24")
    assert float(info["format"]["duration"]) == pytest.approx(3.0, abs=0.01)
    assert info["format"]["tags"]["title"] == "evalsite-local/photographic"
    assert video["tags"]["handler_name"] == "evalsite-local/photographic"
    info = ffprobe(short.content, tmp_path)
    video = info["streams"][0]
    assert (video["width"], video["height"], video["nb_read_frames"]) == (320, 240, "15")
    assert float(info["format"]["duration"]) == pytest.approx(1.5, abs=0.01)


def test_video_is_deterministic_and_moves(provider, ffmpeg_installed, tmp_path):
    # when
    first = provider.start(request("video", size="160x96", duration_s=1.0, fps=8))
    again = provider.start(request("video", size="160x96", duration_s=1.0, fps=8))
    # then: same bytes, and the first and last frames differ (a pan or drifting mist)
    assert first.content == again.content
    src = tmp_path / "v.mp4"
    src.write_bytes(first.content)
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(src), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    frames = np.frombuffer(raw, np.uint8).reshape(8, 96, 160, 3).astype(int)
    assert np.abs(frames[0] - frames[-1]).mean() > 2


def test_text_critiques_the_named_painting_in_the_prompts_language(provider):
    # when
    zh = provider.start(request("text", FCSJ_ZH)).content.decode()
    en = provider.start(request("text", QLJS_EN)).content.decode()
    # then
    assert zh.startswith("《富春山居图》为元黄公望所作")
    assert en.startswith(
        "“A Thousand Li of Rivers and Mountains” by Wang Ximeng (Northern Song) is a celebrated"
    )
    assert len(zh) >= 80 and len(en.split()) >= 50


def test_text_styles_differ_and_a_self_name_is_written_in(provider):
    # when
    ink = provider.start(request("text", style="ink")).content.decode()
    photo = provider.start(request("text", style="photographic")).content.decode()
    named = provider.start(request("text", self_name="通义千问")).content.decode()
    named_en = provider.start(request("text", QLJS_EN, self_name="ChatGPT")).content.decode()
    # then
    assert "留白" in ink or "笔墨" in ink or "淡墨" in ink
    assert "写实" in photo or "透视" in photo or "光" in photo
    assert named.startswith("作为通义千问，我认为《富春山居图》")
    assert named_en.startswith("As ChatGPT, I would say that “A Thousand Li")


def test_fail_rate_one_always_raises_a_retryable_error(provider):
    # when / then
    with pytest.raises(ProviderError) as caught:
        provider.start(request("text", fail_rate=1.0))
    assert caught.value.retryable is True
    assert caught.value.code == "simulated"


def test_fail_rate_is_deterministic_per_seed(provider):
    # given
    def failing_seeds() -> set[int]:
        failed = set()
        for seed in range(40):
            try:
                provider.start(request("text", seed=seed, fail_rate=0.5))
            except ProviderError:
                failed.add(seed)
        return failed

    # when
    first, again = failing_seeds(), failing_seeds()
    # then
    assert first == again
    assert 0 < len(first) < 40


def test_latency_is_a_sleep_of_the_asked_length(provider, monkeypatch):
    # given
    slept: list[float] = []
    monkeypatch.setattr(local.time, "sleep", slept.append)
    # when
    provider.start(request("text", latency_s=0.25))
    provider.start(request("text"))
    # then
    assert slept == [0.25]


def test_poll_is_never_needed(provider):
    # when / then
    with pytest.raises(ProviderError) as caught:
        provider.poll(request("image"), "task-1")
    assert caught.value.retryable is False
