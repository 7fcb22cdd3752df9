"""A study as one YAML file: parsing with errors that name the key, loading
idempotently, and the export → load → export round trip."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from PIL import Image

from apps.studies.imports import prompt_batch_import
from apps.studies.loading import study_export, study_export_files, study_load
from apps.studies.models import Prompt, PromptBatch, Study
from apps.studies.seed import DEMO_STUDY_FILE, SEED_DIR
from apps.studies.studyfile import (
    TOP_KEYS,
    PromptFileSpec,
    StudyFileError,
    StudySpec,
    study_file_dump,
    study_file_parse,
)
from tests.services import REPO, project_env

SAMPLE_CSV = SEED_DIR / "demo" / "prompts-classical-sample.csv"
DEMO_DESCRIPTION = (
    "以 45 幅传世名画为提示词，请各图像模型“以名作为本”作画；\n"
    "专家在不知模型名称的情况下，按谢赫六法扩展量表评分并标注审美偏差。\n"
    "Demo study: 45 famous ancient paintings as prompts; experts score the\n"
    "anonymous outputs on the extended Six Principles rubric and tag aesthetic bias.\n"
)
MINIMAL = "slug: s\ntitle: T\nrubric: classical-painting-v1\n"
# a study's common output shape, keys deliberately out of order (the export sorts them)
NORMALISATION = {
    "video": {"max_side": 720, "fps": 24, "max_duration_s": 5.0},
    "image": {"size": [1024, 683], "format": "jpeg", "fit": "crop", "quality": 85},
}


def study_rows(slug: str) -> dict:
    """Everything study_load writes for a study, ids and timestamps included."""
    study = Study.objects.get(slug=slug)
    return {
        "study": Study.objects.filter(pk=study.pk).values().get(),
        "batches": list(PromptBatch.objects.filter(study=study).order_by("id").values()),
        "prompts": list(Prompt.objects.filter(study=study).order_by("id").values()),
    }


# --- parsing -------------------------------------------------------------------------


def test_the_demo_study_file_parses_to_its_spec():
    spec = study_file_parse(DEMO_STUDY_FILE.read_bytes(), source="study.yaml")
    assert spec == StudySpec(
        slug="classical-painting-demo",
        title="中国古典名画 · 图像模型盲评（演示）",
        description=DEMO_DESCRIPTION,
        protocol="rating",
        media="image",
        rubric="classical-painting-v1",
        rubric_version=1,
        tag_set="bias-tags-v1",
        k=3,
        replicates=1,
        prompts=(PromptFileSpec(file="prompts-classical-sample.csv", batch="经典名画 45 幅"),),
        endpoints=[
            {
                "name": name,
                "adapter": "local",
                "model_id": model_id,
                "params": {"style": style, "size": "640x427"},
            }
            for name, model_id, style in [
                ("水墨模型 Ink", "ink-1", "ink"),
                ("写实模型 Photo", "photo-1", "photographic"),
                ("满幅模型 Overfill", "overfill-1", "overfill"),
            ]
        ],
    )


def test_a_minimal_file_takes_the_defaults():
    assert study_file_parse(MINIMAL) == StudySpec(
        slug="s", title="T", rubric="classical-painting-v1"
    )


def test_media_normalisation_is_read_and_written_with_its_keys_sorted():
    text = (
        MINIMAL + "media_normalisation:\n"
        "  video: {max_side: 720, fps: 24, max_duration_s: 5.0}\n"
        "  image: {size: [1024, 683], format: jpeg, fit: crop, quality: 85}\n"
    )
    spec = study_file_parse(text)
    assert spec.media_normalisation == NORMALISATION
    dumped = study_file_dump(spec)
    assert dumped.split("media_normalisation:\n", 1)[1].split("prompts:")[0] == (
        "  image:\n    fit: crop\n    format: jpeg\n    quality: 85\n    size:\n"
        "      - 1024\n      - 683\n"
        "  video:\n    fps: 24\n    max_duration_s: 5.0\n    max_side: 720\n"
    )
    assert study_file_parse(dumped) == spec
    # and a study without one writes no key
    assert "media_normalisation" not in study_file_dump(study_file_parse(MINIMAL))


def test_dumping_and_parsing_give_the_same_spec_and_text():
    spec = study_file_parse(DEMO_STUDY_FILE.read_bytes())
    text = study_file_dump(spec)
    assert study_file_parse(text) == spec
    assert study_file_dump(study_file_parse(text)) == text
    assert "description: |\n  以 45 幅传世名画为提示词" in text  # readable, not escaped


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ("", ["(file): empty; expected slug, title, rubric, …"]),
        ("- a\n- b\n", ["(top level): must be a mapping of keys (slug, title, …)"]),
        ("slug: [\n",
         ["(YAML) line 2, column 1: expected the node content, but found '<stream end>'"]),
        (
            MINIMAL + "protcol: rating\n",
            [f"protcol: unknown key (expected one of {', '.join(TOP_KEYS)})"],
        ),
        ("title: T\nrubric: r\n", ["slug: required"]),
        ("slug: 'a b'\ntitle: T\nrubric: r\n",
         ["slug: only letters, digits, '-' and '_' are allowed; got 'a b'"]),
        ("slug: s\ntitle: ''\nrubric: r\n", ["title: must not be empty"]),
        ("slug: s\ntitle: [1]\nrubric: r\n", ["title: must be text, got list [1]"]),
        ("slug: s\ntitle: T\n", ["rubric: required (a rubric code, or {code: …, version: …})"]),
        ("slug: s\ntitle: T\nrubric: {code: r, version: 0}\n",
         ["rubric.version: must be a whole number from 1; got 0"]),
        ("slug: s\ntitle: T\nrubric: {name: r}\n",
         ["rubric.name: unknown key (expected code, version)",
          "rubric.code: required, a rubric code"]),
        (MINIMAL + "protocol: ranking\n",
         ["protocol: must be one of rating, pairwise, both; got 'ranking'"]),
        (MINIMAL + "media: audio\n", ["media: must be one of image, video, text; got 'audio'"]),
        (MINIMAL + "k: 0\n", ["k: must be a whole number from 1 to 1000; got 0"]),
        (MINIMAL + "k: '3'\n", ["k: must be a whole number from 1 to 1000; got '3'"]),
        (MINIMAL + "replicates: true\n",
         ["replicates: must be a whole number from 1 to 1000; got True"]),
        (MINIMAL + "tag_set: 7\n", ["tag_set: must be a tag-set code; got 7"]),
        (MINIMAL + "prompts: a.csv\n",
         ["prompts: must be a list of {file: …, images_zip: …, batch: …}"]),
        (MINIMAL + "prompts:\n  - images_zip: a.zip\n", ["prompts[0].file: required"]),
        (MINIMAL + "prompts:\n  - {file: a.csv, zip: a.zip}\n",
         ["prompts[0].zip: unknown key (expected file, images_zip, batch)"]),
        (MINIMAL + "prompts:\n  - {file: a.csv, batch: x}\n  - {file: b.csv, batch: x}\n",
         ["prompts: batch 'x' appears twice; give each entry its own batch"]),
        (MINIMAL + "endpoints: {name: a}\n",
         ["endpoints: must be a list of mappings (one per model endpoint)"]),
        (MINIMAL + "media_normalisation: png\n",
         ["media_normalisation: must be a mapping {image: {…}, video: {…}}; got 'png'"]),
        (MINIMAL + "media_normalisation: {audio: {format: mp3}}\n",
         ["media_normalisation.audio: unknown media kind (expected image, video)"]),
        (MINIMAL + "media_normalisation: {image: png}\n",
         ["media_normalisation.image: must be a mapping of settings; got 'png'"]),
        (MINIMAL + "media_normalisation: {image: {colour: red}}\n",
         ["media_normalisation.image.colour: unknown key "
          "(expected format, max_side, size, fit, quality, background)"]),
        (MINIMAL + "media_normalisation: {video: {fps: fast, size: 720}}\n",
         ["media_normalisation.video.fps: must be a number; got 'fast'",
          "media_normalisation.video.size: must be [width, height]; got 720"]),
        (MINIMAL + "media_normalisation: {image: {format: gif}}\n",
         ["media_normalisation.image: format must be one of ['jpeg', 'png', 'webp'], got 'gif'"]),
        (MINIMAL + "media_normalisation: {video: {fps: 500}}\n",
         ["media_normalisation.video: fps must be between 1 and 120, got 500"]),
        ("slug: s\nmedia: audio\nk: -1\n", [
            "title: required",
            "media: must be one of image, video, text; got 'audio'",
            "rubric: required (a rubric code, or {code: …, version: …})",
            "k: must be a whole number from 1 to 1000; got -1",
        ]),
    ],
)  # fmt: skip
def test_a_bad_study_file_is_refused_naming_every_key_at_fault(text, errors):
    with pytest.raises(StudyFileError) as raised:
        study_file_parse(text, source="study.yaml")
    assert raised.value.errors == errors
    assert str(raised.value).splitlines()[0] == f"study.yaml: {errors[0]}"


def test_a_file_that_is_not_utf8_is_refused():
    with pytest.raises(StudyFileError) as raised:
        study_file_parse("title: 研究\n".encode("gb18030"))
    assert raised.value.errors == ["(file): not UTF-8 text (invalid continuation byte at byte 7)"]


# --- loading -------------------------------------------------------------------------


@pytest.mark.django_db
def test_loading_the_demo_creates_the_study_with_its_45_prompts(demo_dir, media_root):
    report = study_load(path=demo_dir / "study.yaml")

    study = Study.objects.get(slug="classical-painting-demo")
    assert (report.study, report.created, report.imported) == (
        study,
        True,
        [("经典名画 45 幅", 45)],
    )
    assert (study.title, study.status, study.protocol, study.media_kind) == (
        "中国古典名画 · 图像模型盲评（演示）", "draft", "rating", "image",
    )  # fmt: skip
    assert (study.rubric.code, study.rubric.version, study.tag_set.code) == (
        "classical-painting-v1",
        1,
        "bias-tags-v1",
    )
    assert (study.ratings_per_item, study.replicates, study.description) == (3, 1, DEMO_DESCRIPTION)
    batch = study.batches.get()
    assert (batch.name, batch.source_filename, batch.source_sha256) == (
        "经典名画 45 幅",
        "prompts-classical-sample.csv",
        hashlib.sha256(SAMPLE_CSV.read_bytes()).hexdigest(),
    )
    prompts = list(study.prompts.order_by("position"))
    assert len(prompts) == 45
    assert (prompts[0].code, prompts[0].title_zh, prompts[0].genre, prompts[0].technique) == (
        "QLJS", "千里江山图", "山水", "青绿",
    )  # fmt: skip


@pytest.mark.django_db
def test_loading_the_same_file_again_changes_nothing(demo_dir, media_root):
    study_load(path=demo_dir / "study.yaml")
    before = study_rows("classical-painting-demo")

    report = study_load(path=demo_dir / "study.yaml")

    assert study_rows("classical-painting-demo") == before
    assert report.changed() is False
    assert report.unchanged == ["经典名画 45 幅"]


@pytest.mark.django_db
def test_loading_a_changed_title_updates_only_the_title(demo_dir, media_root):
    study_load(path=demo_dir / "study.yaml")
    before = study_rows("classical-painting-demo")
    path = demo_dir / "study.yaml"
    path.write_text(path.read_text().replace("（演示）", "（第二轮）"), encoding="utf-8")

    report = study_load(path=path)

    after = study_rows("classical-painting-demo")
    assert report.changed_fields == ["title"]
    assert after["study"]["title"] == "中国古典名画 · 图像模型盲评（第二轮）"
    assert (after["batches"], after["prompts"]) == (before["batches"], before["prompts"])


def _change_first_prompt(demo_dir: Path) -> None:
    csv = demo_dir / "prompts-classical-sample.csv"
    csv.write_text(csv.read_text(encoding="utf-8").replace("青绿，手卷画幅", "青绿，长卷", 1))


@pytest.mark.django_db
def test_a_changed_prompt_file_replaces_the_batch_of_a_draft(demo_dir, media_root):
    study_load(path=demo_dir / "study.yaml")
    _change_first_prompt(demo_dir)

    report = study_load(path=demo_dir / "study.yaml")

    study = Study.objects.get(slug="classical-painting-demo")
    assert report.replaced == [("经典名画 45 幅", 45)]
    assert study.batches.count() == 1
    assert study.prompts.count() == 45
    assert "长卷" in study.prompts.get(code="QLJS").text_zh


@pytest.mark.django_db
def test_a_changed_prompt_file_is_refused_once_the_study_left_draft(demo_dir, media_root):
    study_load(path=demo_dir / "study.yaml")
    Study.objects.filter(slug="classical-painting-demo").update(status="collecting")
    before = study_rows("classical-painting-demo")
    _change_first_prompt(demo_dir)

    with pytest.raises(CommandError) as raised:
        call_command("study_load", str(demo_dir / "study.yaml"))

    assert str(raised.value) == (
        "nothing was changed:\nstudy.yaml: prompts[0].file: 'prompts-classical-sample.csv' "
        "differs from the batch '经典名画 45 幅' loaded before, and study "
        "'classical-painting-demo' is collecting: prompts can be replaced only while it is a draft"
    )
    assert study_rows("classical-painting-demo") == before


@pytest.mark.django_db
def test_a_new_prompt_file_is_refused_once_scoring_started(demo_dir, media_root):
    study_load(path=demo_dir / "study.yaml")
    Study.objects.filter(slug="classical-painting-demo").update(status="scoring")
    (demo_dir / "more.csv").write_text(
        "code,media,prompt_zh\nNEW1,image,作山水一幅\n", encoding="utf-8"
    )
    path = demo_dir / "study.yaml"
    path.write_text(path.read_text() + "  - file: more.csv\n", encoding="utf-8")

    with pytest.raises(StudyFileError) as raised:
        study_load(path=path)

    assert raised.value.errors == [
        "prompts[1]: batch 'more' is new, and study 'classical-painting-demo' is scoring: "
        "prompts can be added only while it is a draft or collecting"
    ]
    assert not Prompt.objects.filter(code="NEW1").exists()


@pytest.mark.django_db
def test_a_bad_row_in_a_prompt_file_names_the_entry_row_and_column_and_writes_nothing(
    tmp_path, media_root
):
    (tmp_path / "p.csv").write_text(
        "code,media,prompt_zh\nA1,image,一\nA1,audio,二\n", encoding="utf-8"
    )
    (tmp_path / "study.yaml").write_text(MINIMAL + "prompts:\n  - p.csv\n", encoding="utf-8")

    with pytest.raises(StudyFileError) as raised:
        study_load(path=tmp_path / "study.yaml")

    assert raised.value.errors == [
        "prompts[0].file (p.csv): row 3, column media: unknown media kind 'audio': "
        "use image, video or text (图像、视频、文字)",
        "prompts[0].file (p.csv): row 3, column code: code 'A1' is already used on row 2",
    ]
    assert not Study.objects.filter(slug="s").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ("prompts:\n  - missing.csv\n", "prompts[0].file: file not found: {dir}/missing.csv"),
        ("tag_set: nope\n", "tag_set: no tag set with code 'nope' (known: bias-tags-v1)"),
    ],
)
def test_a_missing_file_or_unknown_code_is_named(tmp_path, extra, error):
    (tmp_path / "study.yaml").write_text(MINIMAL + extra, encoding="utf-8")
    with pytest.raises(StudyFileError) as raised:
        study_load(path=tmp_path / "study.yaml")
    assert raised.value.errors == [error.format(dir=tmp_path)]
    assert not Study.objects.exists()


@pytest.mark.django_db
def test_missing_files_and_unknown_codes_are_reported_together(tmp_path):
    (tmp_path / "study.yaml").write_text(
        "slug: s\ntitle: T\nrubric: nope\ntag_set: none\nprompts:\n"
        "  - {file: a.csv, images_zip: a.zip}\n  - b.csv\n",
        encoding="utf-8",
    )
    (tmp_path / "b.csv").write_text("code,media,prompt_zh\n", encoding="utf-8")
    with pytest.raises(StudyFileError) as raised:
        study_load(path=tmp_path / "study.yaml")
    assert raised.value.errors == [
        f"prompts[0].file: file not found: {tmp_path}/a.csv",
        f"prompts[0].images_zip: file not found: {tmp_path}/a.zip",
        "rubric: no rubric with code 'nope' (known: classical-painting-v1, ink-video-v1, "
        "painting-analysis-v1)",
        "tag_set: no tag set with code 'none' (known: bias-tags-v1)",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rubric", "error"),
    [
        ("nope", "rubric: no rubric with code 'nope' (known: classical-painting-v1, "
                 "ink-video-v1, painting-analysis-v1)"),
        ("{code: ink-video-v1, version: 4}",
         "rubric.version: rubric 'ink-video-v1' has no version 4 (it has 1)"),
    ],
)  # fmt: skip
def test_an_unknown_rubric_is_named(tmp_path, rubric, error):
    (tmp_path / "study.yaml").write_text(f"slug: s\ntitle: T\nrubric: {rubric}\n", encoding="utf-8")
    with pytest.raises(StudyFileError) as raised:
        study_load(path=tmp_path / "study.yaml")
    assert raised.value.errors == [error]


@pytest.mark.django_db
def test_a_field_frozen_by_the_status_is_named_by_its_key(tmp_path):
    (tmp_path / "study.yaml").write_text(MINIMAL, encoding="utf-8")
    study_load(path=tmp_path / "study.yaml")
    Study.objects.filter(slug="s").update(status="collecting")
    (tmp_path / "study.yaml").write_text(MINIMAL + "replicates: 2\ntitle_unused: x\n")
    with pytest.raises(StudyFileError):  # unknown key first
        study_load(path=tmp_path / "study.yaml")
    (tmp_path / "study.yaml").write_text(MINIMAL + "replicates: 2\n", encoding="utf-8")

    with pytest.raises(StudyFileError) as raised:
        study_load(path=tmp_path / "study.yaml")

    assert raised.value.errors == [
        "replicates: 研究“s”处于“收集生成结果”状态，“每个提示词的生成次数”不能再修改。"
    ]
    assert Study.objects.get(slug="s").replicates == 1


@pytest.mark.django_db
def test_without_a_version_the_study_keeps_the_rubric_version_it_has(tmp_path, classical_rubric):
    from apps.studies.services import rubric_new_version

    (tmp_path / "study.yaml").write_text(MINIMAL, encoding="utf-8")
    study_load(path=tmp_path / "study.yaml")
    rubric_new_version(rubric=classical_rubric)  # v2 exists now

    assert study_load(path=tmp_path / "study.yaml").changed() is False
    assert Study.objects.get(slug="s").rubric == classical_rubric


# --- export and the round trip -------------------------------------------------------


@pytest.mark.django_db
def test_export_delete_load_export_gives_the_same_bytes(demo_dir, tmp_path, media_root):
    # given the demo study, with a common output shape set in the admin, exported
    study_load(path=demo_dir / "study.yaml")
    Study.objects.filter(slug="classical-painting-demo").update(media_normalisation=NORMALISATION)
    first = tmp_path / "first"
    out = StringIO()
    call_command("study_export", "classical-painting-demo", "--out", str(first), stdout=out)
    assert out.getvalue().splitlines() == [str(first / "study.yaml"), str(first / "prompts.csv")]
    # when the study is deleted and loaded from the export
    Study.objects.filter(slug="classical-painting-demo").delete()
    call_command("study_load", str(first / "study.yaml"), stdout=StringIO())
    # then it has its output shape back
    loaded = Study.objects.get(slug="classical-painting-demo")
    assert loaded.media_normalisation == NORMALISATION
    # and exporting it again writes the very same files
    second = tmp_path / "second"
    study_export(study=Study.objects.get(slug="classical-painting-demo"), out_dir=second)
    assert sorted(p.name for p in second.iterdir()) == ["prompts.csv", "study.yaml"]
    for name in ("study.yaml", "prompts.csv"):
        assert (second / name).read_bytes() == (first / name).read_bytes(), name
    # and loading the export onto the study it came from changes nothing
    before = study_rows("classical-painting-demo")
    assert study_load(path=second / "study.yaml").changed() is False
    assert study_rows("classical-painting-demo") == before


def _png(colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.django_db
def test_a_study_with_two_batches_and_reference_images_round_trips(tmp_path, media_root):
    # given a video study with two batches, one with reference images
    (tmp_path / "study.yaml").write_text(
        "slug: ink-video\ntitle: 水墨视频\nmedia: video\nprotocol: both\n"
        "rubric: ink-video-v1\nk: 5\nreplicates: 2\n",
        encoding="utf-8",
    )
    study = study_load(path=tmp_path / "study.yaml").study
    prompt_batch_import(
        study=study,
        data="code,media,prompt_zh,reference_image\nV1,video,云烟,a.png\nV2,video,=1+1,b.png\n".encode(),
        filename="i2v.csv",
        images_zip=_zip({"a.png": _png("white"), "b.png": _png("black")}),
        batch_name="图生视频",
    )
    prompt_batch_import(
        study=study, data=b"code,media,prompt_zh\nT1,video,\xe6\xb0\xb4\n", filename="t2v.csv"
    )
    first = tmp_path / "first"
    files = study_export(study=study, out_dir=first)
    assert [p.name for p in files] == [
        "study.yaml",
        "prompts-2.csv",
        "prompts.csv",
        "references.zip",
    ]
    # when it is deleted and loaded again
    study.delete()
    study_load(path=first / "study.yaml")
    # then the export is the same, images included
    again = study_export_files(Study.objects.get(slug="ink-video"))
    assert again == {path.name: path.read_bytes() for path in files}
    assert Prompt.objects.get(code="V2").text_zh == "=1+1"


@pytest.mark.django_db
def test_endpoints_round_trip_through_the_study_file(tmp_path, media_root):
    (tmp_path / "study.yaml").write_text(
        MINIMAL
        + "endpoints:\n"
        + "  - {name: Ink local B, adapter: local, model_id: b, params: {size: 96x64}}\n"
        + "  - {name: Ink local A, adapter: local, model_id: a, params: {size: 96x64}}\n"
        + "  - {name: Ink local C, adapter: local, model_id: c, params: {size: 96x64}}\n"
        + "  - {name: Ink local D, adapter: local, model_id: d, params: {size: 96x64}}\n",
        encoding="utf-8",
    )
    report = study_load(path=tmp_path / "study.yaml")
    assert report.endpoints == 4
    first = study_export_files(report.study)
    assert study_load(path=tmp_path / "study.yaml").changed() is False

    Study.objects.filter(slug="s").delete()
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "study.yaml").write_bytes(first["study.yaml"])
    study_load(path=tmp_path / "again" / "study.yaml")

    assert study_export_files(Study.objects.get(slug="s")) == first


def test_study_load_exits_non_zero_and_names_the_key(tmp_path):
    # a real process, so the exit status is the one a shell sees
    (tmp_path / "study.yaml").write_text(MINIMAL + "k: many\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "manage.py", "study_load", str(tmp_path / "study.yaml")],
        cwd=REPO,
        env=project_env(EVALSITE_VAR_DIR=str(tmp_path / "var")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    # (the last lines: start-up log lines of other apps may come first)
    assert done.stderr.strip().splitlines()[-2:] == [
        "CommandError: nothing was changed:",
        "study.yaml: k: must be a whole number from 1 to 1000; got 'many'",
    ]


@pytest.mark.django_db
def test_study_export_of_an_unknown_slug_names_it():
    with pytest.raises(CommandError) as raised:
        call_command("study_export", "nope")
    assert str(raised.value) == "slug: no study 'nope' (studies: none)"
