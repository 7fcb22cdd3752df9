"""The rubric as experts see it is read once per process while it is frozen, read
afresh while it may still change, and the rating page's fields drawn from it are
cached by its content: one study's rubric never shows on another's page."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.accounts.services import consent_record
from apps.blinding.expert_rubric import expert_rubric
from apps.blinding.models import Assignment
from apps.blinding.services import assignment_plan_build
from apps.studies.models import Dimension, Study
from tests.scoring.factories import scoring_study
from tests.studies.factories import DimensionFactory, RubricFactory

pytestmark = pytest.mark.django_db


def rubric_with(*names: str):
    rubric = RubricFactory(dimensions=0)
    for order, name in enumerate(names):
        DimensionFactory(rubric=rubric, code=f"d{order}", name_zh=name, name_en=name, order=order)
    return rubric


def test_a_frozen_rubric_is_read_once_and_an_editable_one_every_time():
    # given a study in scoring (its rubric frozen) and one still being prepared
    scoring = scoring_study(n_prompts=1, n_models=2, n_experts=1, k=1, tags=2).study
    draft = scoring_study(n_prompts=1, n_models=2, n_experts=1, k=1).study
    Study.objects.filter(pk=draft.pk).update(status=Study.Status.DRAFT)
    draft.refresh_from_db()
    expert_rubric(scoring)
    expert_rubric(draft)
    # when each is asked for again
    with CaptureQueriesContext(connection) as frozen:
        again = expert_rubric(scoring)
    with CaptureQueriesContext(connection) as editable:
        expert_rubric(draft)
    # then the frozen one costs no query, the editable one is read again
    assert len(frozen) == 0
    assert len(editable) == 2  # dimensions and tags
    assert [d["code"] for d in again.dimensions] == [
        d.code for d in scoring.rubric.dimensions.order_by("holistic", "order", "id")
    ]
    assert len(again.tags) == 2


def test_saving_a_dimension_forgets_what_was_kept():
    # given a frozen rubric that has been read
    study = scoring_study(n_prompts=1, n_models=2, n_experts=1, k=1).study
    before = expert_rubric(study)
    # when one of its dimensions is saved (as a data fix by hand would)
    dimension = Dimension.objects.filter(rubric=study.rubric).first()
    dimension.name_zh = "气韵生动（修订）"
    dimension.save()
    after = expert_rubric(study)
    # then the next read sees it, under a new content key
    assert "气韵生动（修订）" in [d["name_zh"] for d in after.dimensions]
    assert after.key != before.key


def _page(study: Study, *, english: bool = False) -> str:
    expert = study.memberships.filter(role="expert").first().user
    consent_record(user=expert, study=study)
    item = Assignment.objects.filter(expert=expert).order_by("position").first()
    client = Client()
    client.force_login(expert)
    if english:
        client.cookies["django_language"] = "en"
    response = client.get(f"/a/{item.public_id}/")
    assert response.status_code == 200
    return response.content.decode()


def test_each_page_shows_its_own_studys_rubric_in_its_own_language():
    # given two studies in scoring with rubrics of different dimensions
    first = scoring_study(n_prompts=1, n_models=2, n_experts=1, k=1, rubric=rubric_with("笔法甲"))
    second = scoring_study(n_prompts=1, n_models=2, n_experts=1, k=1, rubric=rubric_with("墨法乙"))
    for setup in (first, second):
        assignment_plan_build(study=setup.study, seed=3)
    # when the first study's page is drawn (and its fields kept), then the second's
    first_page = _page(first.study)
    second_page = _page(second.study)
    # then each shows its own dimension and not the other's
    assert "笔法甲" in first_page and "墨法乙" not in first_page
    assert "墨法乙" in second_page and "笔法甲" not in second_page
    # and the same rubric in English is drawn in English, not taken from the Chinese page
    english = _page(first.study, english=True)
    assert 'name="score-d0"' in english
    assert "显示锚点说明" in first_page and "显示锚点说明" not in english
