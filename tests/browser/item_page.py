"""One expert, one item: the smallest study whose rating page a browser test can open.

``item_page_build(media=...)`` makes a study in scoring with one prompt, one model
and one expert who has consented, gives the single output the sanitised medium
passed in (stored as collection stores it), builds the plan and returns the item's
URL path with the expert; ``browser_session(context, base, user)`` logs the browser
in without the login form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.test import Client

from apps.accounts.services import consent_record
from apps.blinding.models import Assignment
from apps.blinding.services import assignment_plan_build
from apps.generation import storage
from apps.generation.models import Output
from apps.generation.outputs import output_fields
from apps.generation.sanitize import SanitizedMedia
from apps.studies.models import Study
from tests.scoring.factories import scoring_study


@dataclass
class ItemPage:
    path: str
    expert: Any
    output: Output


def item_page_build(*, media: SanitizedMedia, **output_overrides: Any) -> ItemPage:
    """A rating item showing ``media``; ``output_overrides`` change the stored fields."""
    kind = media.content_type.split("/", 1)[0]
    raw = scoring_study(n_prompts=1, n_models=1, n_experts=1, k=1, tags=0)
    Study.objects.filter(pk=raw.study.pk).update(media_kind=kind)
    fields = output_fields(media)
    storage.output_write(fields["file"], media.content)
    output = raw.outputs[0]
    Output.objects.filter(pk=output.pk).update(**(fields | output_overrides))
    output.refresh_from_db()
    assignment_plan_build(study=raw.study, seed=1)
    expert = raw.experts[0]
    consent_record(user=expert, study=raw.study)
    item = Assignment.objects.get(expert=expert)
    return ItemPage(path=f"/a/{item.public_id}/", expert=expert, output=output)


def browser_session(context, base: str, user) -> None:
    """Give the browser ``context`` a logged-in session of ``user`` on ``base``."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": base}]
    )
