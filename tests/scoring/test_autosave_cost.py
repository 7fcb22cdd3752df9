"""The autosave is two thirds of all expert requests: it reads its item once,
checked (live, active plan, active expert), and writes one statement."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.blinding.models import Assignment
from apps.blinding.services import assignment_plan_build
from apps.scoring.models import Draft
from tests.scoring.factories import scoring_study

pytestmark = pytest.mark.django_db

READS_ASSIGNMENT = re.compile(r'^SELECT .* FROM "blinding_assignment"', re.DOTALL)


def test_an_autosave_reads_its_item_once_and_writes_once():
    # given an expert's item
    setup = scoring_study(n_prompts=1, n_models=2, n_experts=1, k=1)
    assignment_plan_build(study=setup.study, seed=5)
    item = Assignment.objects.filter(expert=setup.experts[0]).first()
    client = Client()
    client.force_login(setup.experts[0])
    url = f"/a/{item.public_id}/draft/"
    client.post(url, {"data": {"v": 1}}, "application/json")  # a first save
    # when the page autosaves again
    with CaptureQueriesContext(connection) as queries:
        answer = client.post(url, {"data": {"v": 1, "comment": "墨"}}, "application/json")
    # then it is stored, with one read of the item and one write
    assert answer.json()["ok"] is True
    assert Draft.objects.get(assignment=item).data == {"v": 1, "comment": "墨"}
    statements = [q["sql"] for q in queries.captured_queries]
    assert len([s for s in statements if READS_ASSIGNMENT.match(s)]) == 1
    assert len([s for s in statements if s.startswith("INSERT")]) == 1
