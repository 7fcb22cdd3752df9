"""What the pages read: the expert's item page (and nothing more), the dashboard,
the organizer's progress with QC results, and the rows for the analysis."""

from __future__ import annotations

import json

import pytest

from apps.accounts.services import consent_record
from apps.blinding.models import Assignment
from apps.blinding.organizer_selectors import progress_for_organizer
from apps.blinding.selectors import assignment_page, expert_dashboard
from apps.blinding.services import assignment_plan_build, expert_leave, output_exclude
from apps.scoring.selectors import judgments_for_analysis, pairwise_for_analysis
from apps.scoring.services import draft_save
from apps.studies.models import Study
from tests.scoring.factories import judge, rate, scoring_study
from tests.studies.factories import DimensionFactory, RubricFactory

pytestmark = pytest.mark.django_db

PAGE_KEYS = {
    "public_id",
    "kind",
    "rubric_key",
    "study",
    "position",
    "total",
    "done",
    "prompt",
    "reference",
    "media",
    "dimensions",
    "tags",
    "judgment",
    "draft",
    "prev_public_id",
    "next_public_id",
}
MEDIA_KEYS = {"url", "content_type", "width", "height", "duration_s", "fps", "text"}


def secrets_of(setup) -> list[str]:
    """Every string that would tell an expert which model made an output."""
    found = []
    for endpoint in setup.endpoints:
        found += [endpoint.name, endpoint.slug, endpoint.model_id, "SecretVendor"]
    for output in setup.outputs:
        found += [output.sha256, str(output.file) or "outputs/"]
    return [s for s in found if s]


def test_the_rating_page_shows_what_the_expert_needs_and_nothing_that_names_a_model():
    # given a rubric whose holistic dimension comes first in the rubric's own order
    rubric = RubricFactory(dimensions=0)
    DimensionFactory(rubric=rubric, code="overall", holistic=True, order=0)
    DimensionFactory(rubric=rubric, code="brush", order=1, allow_na=True)
    DimensionFactory(rubric=rubric, code="ink", order=2)
    setup = scoring_study(n_prompts=2, n_models=2, n_experts=1, k=1, rubric=rubric, tags=2)
    plan = assignment_plan_build(study=setup.study, seed=4)
    queue = list(plan.assignments.order_by("position").select_related("left", "prompt"))
    second = queue[1]
    draft_save(assignment=second, user=second.expert, data={"comment": "未完"})
    # when the page of the second item is built
    page = assignment_page(second)
    # then it has exactly the page's fields, its place in the queue and its neighbours
    assert set(page) == PAGE_KEYS
    assert (page["kind"], page["position"], page["total"], page["done"]) == ("rating", 2, 4, 0)
    assert page["prev_public_id"] == queue[0].public_id
    assert page["next_public_id"] == queue[2].public_id
    # and the prompt, the reference work, one medium under its opaque URL
    assert page["prompt"] == {"text_zh": second.prompt.text_zh, "text_en": second.prompt.text_en}
    assert page["reference"]["title_zh"] == second.prompt.title_zh
    assert set(page["media"]["left"]) == MEDIA_KEYS and page["media"]["right"] is None
    assert page["media"]["left"]["url"] == f"/m/{second.left.public_id}"
    # and the rubric with analytic dimensions first, the holistic one last
    assert [d["code"] for d in page["dimensions"]] == ["brush", "ink", "overall"]
    assert page["dimensions"][0]["allow_na"] is True
    assert page["dimensions"][0]["anchors"]["1"] == {"zh": "差", "en": "Poor"}
    assert len(page["tags"]) == 2 and set(page["tags"][0]) == {"code", "name_zh", "name_en"}
    # and the draft, no judgment yet
    assert page["draft"] == {"comment": "未完"} and page["judgment"] is None
    # and nowhere a model name, endpoint, file name or content hash
    text = json.dumps(page, default=str, ensure_ascii=False)
    assert [s for s in secrets_of(setup) if s in text] == []
    # (the opaque ids are random letters: "qc" may occur inside one by chance)
    for public_id in [a.public_id for a in queue] + [o.public_id for o in setup.outputs]:
        text = text.replace(public_id, "")
    assert "qc" not in text and "attention" not in text and "repeat" not in text


def test_the_page_of_a_judged_item_shows_the_expert_their_judgment():
    setup = scoring_study(n_prompts=1, n_models=2, n_experts=1, k=1, protocol="pairwise")
    item = assignment_plan_build(study=setup.study, seed=1).assignments.get()
    judge(item, choice="right", comment="右幅气韵生动")
    page = assignment_page(item)
    assert page["kind"] == "pair" and page["done"] == 1
    assert page["media"]["right"]["url"] == f"/m/{item.right.public_id}"
    assert page["judgment"]["choice"] == "right"
    assert page["judgment"]["comment"] == "右幅气韵生动"
    assert page["judgment"]["revision"] == 1
    text = json.dumps(page, default=str, ensure_ascii=False)
    assert [s for s in secrets_of(setup) if s in text] == []


def test_the_dashboard_shows_progress_time_left_and_where_to_resume():
    # given an expert with 6 items, 2 done in 20 s and 40 s, who consented
    setup = scoring_study(n_prompts=2, n_models=3, n_experts=1, k=1)
    expert = setup.experts[0]
    plan = assignment_plan_build(study=setup.study, seed=2)
    queue = list(plan.assignments.order_by("position"))
    rate(queue[0], time_on_task_ms=20_000)
    rate(queue[2], time_on_task_ms=40_000)
    consent_record(user=expert, study=setup.study)
    # when the dashboard is read
    [entry] = expert_dashboard(expert)
    # then
    assert entry["study"] == {
        "title": setup.study.title,
        "slug": setup.study.slug,
        "status": "scoring",
    }
    assert (entry["done"], entry["total"], entry["progress"]) == (2, 6, "2 / 6")
    assert (entry["median_seconds"], entry["eta_seconds"]) == (30.0, 120)
    assert entry["next_public_id"] == queue[1].public_id
    assert entry["has_consented"] is True and entry["editable"] is True
    # and after the study's information changes, consent is asked again
    Study.objects.filter(pk=setup.study.pk).update(description="新的说明")
    assert expert_dashboard(expert)[0]["has_consented"] is False


def test_an_expert_without_a_plan_sees_the_study_with_nothing_to_do():
    setup = scoring_study(n_experts=1, k=1)
    [entry] = expert_dashboard(setup.experts[0])
    assert (entry["progress"], entry["next_public_id"], entry["eta_seconds"]) == (
        "0 / 0",
        None,
        None,
    )


def test_organizer_progress_counts_work_time_and_repeat_consistency():
    # given a plan with repeats; the first expert answers every repeat consistently,
    # the second answers every item 1 and every repeat 5
    setup = scoring_study(n_prompts=4, n_models=3, n_experts=3, k=1)
    plan = assignment_plan_build(study=setup.study, seed=6, repeat_rate=0.25)
    steady, erratic, idle = setup.experts
    for expert, first, again in ((steady, 3, 3), (erratic, 1, 5)):
        for item in plan.assignments.filter(expert=expert).order_by("position"):
            value = again if item.qc == Assignment.QC.REPEAT else first
            scores = {d.code: value for d in setup.study.rubric.dimensions.all()}
            rate(item, scores=scores, time_on_task_ms=10_000)
    # when the organizer reads the progress
    rows = {row["expert_id"]: row for row in progress_for_organizer(setup.study)}
    # then done / total and time for each expert
    for expert in (steady, erratic):
        total = plan.assignments.filter(expert=expert).count()
        repeats = plan.assignments.filter(expert=expert, qc="repeat").count()
        row = rows[expert.pk]
        assert (row["done"], row["total"]) == (total, total)
        assert row["time_spent_s"] == 10 * total and row["median_seconds"] == 10.0
        assert repeats > 0
    assert rows[steady.pk]["repeats"] == {
        "consistent": plan.assignments.filter(expert=steady, qc="repeat").count(),
        "inconsistent": 0,
        "pending": 0,
    }
    assert rows[erratic.pk]["repeats"]["consistent"] == 0
    assert rows[erratic.pk]["repeats"]["inconsistent"] > 0
    assert rows[idle.pk]["done"] == 0 and rows[idle.pk]["total"] > 0
    assert rows[idle.pk]["repeats"]["pending"] > 0
    assert rows[idle.pk]["progress"] == f"0 / {rows[idle.pk]['total']}"


def test_analysis_rows_use_blind_labels_and_leave_out_qc_and_excluded_outputs():
    # given ratings, one on a repeat and one of an output excluded afterwards
    rubric = RubricFactory(dimensions=0)
    DimensionFactory(rubric=rubric, code="brush", allow_na=True, order=0)
    DimensionFactory(rubric=rubric, code="overall", holistic=True, order=1)
    setup = scoring_study(n_prompts=2, n_models=2, n_experts=2, k=1, rubric=rubric)
    plan = assignment_plan_build(study=setup.study, seed=3, repeat_rate=0.5)
    tag = setup.study.tag_set.tags.first().code
    for item in plan.assignments.all():
        rate(item, scores={"brush": None, "overall": 4}, na={"brush"}, tags=[tag])
    excluded = setup.outputs[0]
    output_exclude(output=excluded, reason="损坏", by=None)
    # when the analysis reads the study
    rows = judgments_for_analysis(setup.study)
    # then one row per score of the counted ratings, with the contract's columns
    counted = plan.assignments.filter(qc="").exclude(left=excluded)
    assert len(rows) == 2 * counted.count()
    labels = dict(setup.study.study_endpoints.values_list("endpoint_id", "blind_label"))
    first = rows[0]
    assert set(first) == {
        "rater",
        "item",
        "dimension",
        "score",
        "model",
        "prompt",
        "genre",
        "technique",
        "tags",
    }
    assert {r["model"] for r in rows} <= set(labels.values())
    assert {r["item"] for r in rows} == {a.left.public_id for a in counted}
    assert excluded.public_id not in {r["item"] for r in rows}
    assert {(r["dimension"], r["score"]) for r in rows} == {("brush", None), ("overall", 4)}
    assert first["tags"] == (tag,) and first["genre"] == "山水" and first["technique"] == "水墨"
    # and after unblinding the models carry their names
    Study.objects.filter(pk=setup.study.pk).update(status=Study.Status.UNBLINDED)
    setup.study.refresh_from_db()
    names = {e.name for e in setup.endpoints}
    assert {r["model"] for r in judgments_for_analysis(setup.study)} <= names


def test_pairwise_rows_name_left_as_a_and_keep_departed_experts_work():
    setup = scoring_study(n_prompts=2, n_models=3, n_experts=2, k=1, protocol="pairwise")
    plan = assignment_plan_build(study=setup.study, seed=5)
    items = list(plan.assignments.order_by("expert_id", "position"))
    choices = ["left", "right", "tie", "both_poor", "left", "right"]
    for item, choice in zip(items, choices, strict=True):
        judge(item, choice=choice)
    expert_leave(study=setup.study, user=setup.experts[0], by=None)
    rows = pairwise_for_analysis(setup.study)
    assert [r["winner"] for r in rows] == ["a", "b", "tie", "both_bad", "a", "b"]
    labels = dict(setup.study.study_endpoints.values_list("endpoint_id", "blind_label"))
    for row, item in zip(rows, items, strict=True):
        assert row["model_a"] == labels[item.left.generation.endpoint_id]
        assert row["model_b"] == labels[item.right.generation.endpoint_id]
        assert row["prompt"] == item.prompt.code and row["rater"] == str(item.expert_id)
