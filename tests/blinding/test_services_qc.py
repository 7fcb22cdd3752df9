"""Quality control: attention checks that look like any other output, and what
counts as passing one or answering a repeat consistently."""

from __future__ import annotations

import json

import pytest
from django.http import Http404
from PIL import Image, ImageStat

from apps.blinding import qc
from apps.blinding.models import Assignment, AttentionCheck
from apps.blinding.organizer_selectors import progress_for_organizer
from apps.blinding.selectors import access_output_media, assignment_page
from apps.blinding.services import assignment_plan_build, expert_join
from apps.generation.models import Output
from tests.scoring.factories import judge, person, rate, scoring_study

# --- pure rules ------------------------------------------------------------------------------


EXPECTED = {"rating_at_most": {"overall": 2}, "pair": ["other", "both_poor"]}


@pytest.mark.parametrize(
    ("arguments", "passed"),
    [
        ({"kind": "rating", "scores": {"overall": 1, "brush": 5}}, True),
        ({"kind": "rating", "scores": {"overall": 2}}, True),
        ({"kind": "rating", "scores": {"overall": None}}, True),  # N/A: noticed
        ({"kind": "rating", "scores": {"overall": 4}}, False),
        ({"kind": "rating", "scores": {"overall": 4}, "problem_reported": True}, True),
        ({"kind": "pair", "check_side": "left", "choice": "right"}, True),
        ({"kind": "pair", "check_side": "left", "choice": "both_poor"}, True),
        ({"kind": "pair", "check_side": "left", "choice": "left"}, False),
        ({"kind": "pair", "check_side": "right", "choice": "tie"}, False),
    ],
)
def test_what_passes_an_attention_check(arguments, passed):
    arguments.setdefault("check_side", "left")
    assert qc.attention_passed(EXPECTED, **arguments) is passed


@pytest.mark.parametrize(
    ("arguments", "consistent"),
    [
        ({"first_scores": {"a": 3, "b": 4}, "again_scores": {"a": 4, "b": 4}}, True),
        ({"first_scores": {"a": 3}, "again_scores": {"a": 5}}, False),
        ({"first_scores": {"a": None}, "again_scores": {"a": 2}}, False),
        ({"first_scores": {"a": 30}, "again_scores": {"a": 38}, "tolerances": {"a": 10}}, True),
        ({"kind": "pair", "first_choice": "left", "again_choice": "right"}, True),
        ({"kind": "pair", "first_choice": "left", "again_choice": "left"}, False),
        ({"kind": "pair", "first_choice": "tie", "again_choice": "tie"}, True),
    ],
)
def test_what_counts_as_a_consistent_repeat(arguments, consistent):
    arguments.setdefault("kind", "rating")
    assert qc.repeat_consistent(**arguments) is consistent


def test_degraded_pixels():
    blank = qc.blank_image(64, 48, seed=1)
    assert blank.size == (64, 48) and blank.tobytes() == qc.blank_image(64, 48, seed=1).tobytes()
    assert max(ImageStat.Stat(blank).stddev) < 3  # a sheet of paper, no picture
    stripes = Image.new("RGB", (64, 48))  # fine detail, like brush strokes
    for x in range(0, 64, 4):
        stripes.paste((255, 255, 255), (x, 0, x + 2, 48))
    blurred = qc.heavy_blur(stripes)
    assert blurred.size == stripes.size
    assert ImageStat.Stat(blurred).stddev[0] < ImageStat.Stat(stripes).stddev[0] / 5
    assert qc.low_score_threshold(type("D", (), {"scale_min": 1, "scale_max": 5})()) == 2
    assert qc.low_score_threshold(type("D", (), {"scale_min": 0, "scale_max": 100})()) == 25


# --- attention checks in a plan ----------------------------------------------------------------


@pytest.fixture
def attention_schema(db):
    """Attention outputs are Output rows without a generation."""
    assert Output._meta.get_field("generation").null
    assert qc.attention_checks_available()


@pytest.mark.django_db
def test_attention_checks_are_outputs_like_any_other(attention_schema, settings, tmp_path):
    # given an image study with real files
    settings.MEDIA_ROOT = tmp_path / "media"
    setup = scoring_study(n_prompts=3, n_models=2, n_experts=2, k=1, with_files=True)
    # when a plan with attention checks is built
    plan = assignment_plan_build(study=setup.study, seed=7, attention_rate=0.34)
    # then checks of every kind exist, each an output without a generation, stored
    # like real outputs, in the same format and size
    checks = list(AttentionCheck.objects.filter(study=setup.study).select_related("output"))
    assert {c.degradation for c in checks} == {"blank", "blur", "wrong_prompt"}
    real = setup.outputs[0]
    for check in checks:
        output = check.output
        assert output.generation_id is None
        assert len(output.public_id) == len(real.public_id)
        assert output.content_type == real.content_type
        assert (output.width, output.height) == (real.width, real.height)
        assert output.file.name.startswith("outputs/") and output.file.storage.exists(
            output.file.name
        )
        assert check.expected["rating_at_most"]
    wrong = next(c for c in checks if c.degradation == "wrong_prompt")
    assert wrong.source.generation.prompt_id != wrong.prompt_id
    # and each expert's queue has checks, shown with the check's prompt
    attention = plan.assignments.filter(qc=Assignment.QC.ATTENTION).select_related("left")
    assert {a.expert_id for a in attention} == {e.pk for e in setup.experts}
    by_output = {c.output_id: c for c in checks}
    for item in attention:
        assert item.prompt_id == by_output[item.left_id].prompt_id
        # and its page looks like any other: same fields, an opaque media URL
        page = assignment_page(item)
        assert page["media"]["left"]["url"] == f"/m/{item.left.public_id}"
        assert "attention" not in json.dumps(page, default=str)
        # and the expert may open its media, another expert may not
        assert access_output_media(item.expert, item.left.public_id) == item.left
        other = next(e for e in setup.experts if e.pk != item.expert_id)
        if not plan.assignments.filter(expert=other, left=item.left).exists():
            with pytest.raises(Http404):
                access_output_media(other, item.left.public_id)
    # and rebuilding with the same seed reuses the same checks
    again = assignment_plan_build(study=setup.study, seed=7, attention_rate=0.34)
    assert AttentionCheck.objects.count() == len(checks)
    assert sorted(again.assignments.values_list("expert_id", "position", "left_id")) == sorted(
        plan.assignments.values_list("expert_id", "position", "left_id")
    )


@pytest.mark.django_db
def test_attention_pairs_show_two_answers_to_the_same_prompt(attention_schema, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    setup = scoring_study(
        n_prompts=3, n_models=3, n_experts=2, k=1, protocol="pairwise", with_files=True
    )
    plan = assignment_plan_build(study=setup.study, seed=2, attention_rate=0.3)
    attention = plan.assignments.filter(qc="attention").select_related(
        "left__generation", "right__generation"
    )
    assert attention.exists()
    checks = {c.output_id: c for c in AttentionCheck.objects.filter(study=setup.study)}
    for item in attention:
        check = checks.get(item.left_id) or checks[item.right_id]
        real = item.right if item.left_id in checks else item.left
        assert real.generation.prompt_id == check.prompt_id == item.prompt_id


@pytest.mark.django_db
def test_attention_results_reach_the_organizers_progress(attention_schema, settings, tmp_path):
    # given two experts: one scores every check low, the other high
    settings.MEDIA_ROOT = tmp_path / "media"
    setup = scoring_study(n_prompts=6, n_models=2, n_experts=2, k=1, with_files=True)
    plan = assignment_plan_build(study=setup.study, seed=3, attention_rate=0.25)
    careful, careless = setup.experts
    for expert, value in ((careful, 1), (careless, 5)):
        for item in plan.assignments.filter(expert=expert, qc="attention"):
            rate(item, scores={d.code: value for d in setup.study.rubric.dimensions.all()})
    rows = {row["expert_id"]: row for row in progress_for_organizer(setup.study)}
    checks = plan.assignments.filter(qc="attention")
    assert rows[careful.pk]["attention"] == {
        "passed": checks.filter(expert=careful).count(),
        "failed": 0,
        "pending": 0,
    }
    assert rows[careless.pk]["attention"]["failed"] == checks.filter(expert=careless).count()
    # and a newcomer (taking 4 of the 12 items) gets checks in their queue too
    newcomer = person()
    expert_join(study=setup.study, user=newcomer, by=None)
    assert plan.assignments.filter(expert=newcomer, qc="attention").exists()


@pytest.mark.django_db
def test_a_pair_attention_check_passes_when_the_other_side_is_chosen(
    attention_schema, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    setup = scoring_study(
        n_prompts=2, n_models=2, n_experts=1, k=1, protocol="pairwise", with_files=True
    )
    plan = assignment_plan_build(study=setup.study, seed=1, attention_rate=0.5)
    checks = set(AttentionCheck.objects.values_list("output_id", flat=True))
    for item in plan.assignments.filter(qc="attention"):
        judge(item, choice="right" if item.left_id in checks else "left")
    [row] = progress_for_organizer(setup.study)
    assert row["attention"]["passed"] == plan.assignments.filter(qc="attention").count()
    assert row["attention"]["failed"] == 0


@pytest.mark.django_db
def test_a_wrong_prompt_check_carries_every_media_field_of_its_source(
    attention_schema, settings, tmp_path
):
    # given outputs whose media fields are all set (a frame rate included)
    settings.MEDIA_ROOT = tmp_path / "media"
    setup = scoring_study(n_prompts=3, n_models=2, n_experts=2, k=1, with_files=True)
    Output.objects.filter(generation__study=setup.study).update(duration_s=4.0, fps=12.5)
    # when a plan with attention checks is built
    assignment_plan_build(study=setup.study, seed=7, attention_rate=0.34)
    # then the wrong-prompt check is its source's twin in everything the page shows
    wrong = AttentionCheck.objects.select_related("output", "source").get(
        study=setup.study, degradation="wrong_prompt"
    )
    shown = ("content_type", "width", "height", "duration_s", "fps", "text")
    assert [getattr(wrong.output, f) for f in shown] == [getattr(wrong.source, f) for f in shown]
    assert wrong.output.fps == 12.5
