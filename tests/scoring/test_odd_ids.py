"""Ids in URLs are the expert's only handle on blinded items: odd ones — control
characters, other alphabets, too long — are a plain 404, never a database error."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.scoring.factories import person

pytestmark = pytest.mark.django_db

ODD = ["%00", "a%00b", "%E2%80%AE", "x" * 40, "%F0%9F%96%8C", "..%2F..%2Fetc"]


@pytest.mark.parametrize("odd", ODD)
def test_odd_ids_are_404_on_every_expert_url(odd):
    # given a logged-in person
    client = Client(raise_request_exception=False)
    client.force_login(person())
    # when each expert URL is asked for with an odd id
    answers = {
        "page": client.get(f"/a/{odd}/").status_code,
        "media": client.get(f"/m/{odd}").status_code,
        "draft": client.post(f"/a/{odd}/draft/", {"data": {}}, "application/json").status_code,
        "submit": client.post(f"/a/{odd}/submit/", {}, "application/json").status_code,
        "problem": client.post(f"/a/{odd}/problem/", {}, "application/json").status_code,
    }
    # then every answer is "not found"
    assert answers == dict.fromkeys(answers, 404)
