"""Reads of the studies app, and the one place that decides who may see a study.

Roles: organizers are active staff users and see every study; researchers and
experts see the studies they hold an active :class:`Membership` in. A person can
be both researcher and expert in one study; :func:`study_role` names the
strongest, :func:`study_roles` all of them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from apps.accounts.selectors import is_person
from apps.studies.models import Membership, Prompt, PromptBatch, Rubric, Study

Role = Literal["organizer", "researcher", "expert"]
ORGANIZER: Role = "organizer"
RESEARCHER: Role = "researcher"
EXPERT: Role = "expert"
ROLES_STRONGEST_FIRST: tuple[Role, ...] = (ORGANIZER, RESEARCHER, EXPERT)


def study_roles(user, study: Study) -> set[Role]:
    """Every role ``user`` holds in ``study`` (empty for anonymous or inactive users)."""
    if not is_person(user):
        return set()
    roles: set[Role] = {ORGANIZER} if user.is_staff else set()
    roles |= set(
        Membership.objects.filter(study=study, user=user, is_active=True).values_list(
            "role", flat=True
        )
    )
    return roles


def study_role(user, study: Study) -> Role | None:
    """The strongest role of ``user`` in ``study``: organizer, researcher, expert or None."""
    roles = study_roles(user, study)
    return next((role for role in ROLES_STRONGEST_FIRST if role in roles), None)


def studies_visible_to(user) -> QuerySet[Study]:
    """The studies ``user`` may open in any role, rubric and tag set joined."""
    studies = Study.objects.select_related("rubric", "tag_set")
    if not is_person(user):
        return studies.none()
    if user.is_staff:
        return studies.all()
    return studies.filter(memberships__user=user, memberships__is_active=True).distinct()


def access_study(user, slug_or_id: str | int, *, roles: Collection[Role]) -> Study:
    """The study named by slug (a ``str``) or id (an ``int``) if ``user`` holds one
    of ``roles`` in it; otherwise ``Http404`` — the same one whether the study is
    missing or not theirs, so that its existence is not revealed."""
    lookup = {"pk": slug_or_id} if isinstance(slug_or_id, int) else {"slug": slug_or_id}
    study = Study.objects.select_related("rubric", "tag_set").filter(**lookup).first()
    if study is None or not (study_roles(user, study) & set(roles)):
        raise Http404("No study matches the given query.")
    return study


def _count_of(model, **filters) -> Coalesce:
    rows = model.objects.filter(study=OuterRef("pk"), **filters).order_by()
    return Coalesce(Subquery(rows.values("study").annotate(n=Count("*")).values("n")), 0)


def studies_with_counts(studies: QuerySet[Study] | None = None) -> QuerySet[Study]:
    """``studies`` (default: all) with ``prompt_count``, ``batch_count`` and
    ``member_count`` (active memberships), for lists. Subqueries rather than
    joins: three joined one-to-many tables would multiply rows."""
    studies = Study.objects.all() if studies is None else studies
    return studies.select_related("rubric", "tag_set").annotate(
        prompt_count=_count_of(Prompt),
        batch_count=_count_of(PromptBatch),
        member_count=_count_of(Membership, is_active=True),
    )


def study_members(study: Study, *, role: str | None = None) -> QuerySet[Membership]:
    """Active memberships of ``study`` (of one role, if given), users joined."""
    members = Membership.objects.filter(study=study, is_active=True).select_related("user")
    return members.filter(role=role) if role else members


def study_prompts(study: Study) -> QuerySet[Prompt]:
    """The prompts of ``study`` in their display order."""
    return Prompt.objects.filter(study=study).select_related("batch").order_by("position", "id")


def rubric_with_dimensions(rubric_id: int) -> Rubric:
    """A rubric with its dimensions prefetched in display order."""
    return Rubric.objects.prefetch_related("dimensions").get(pk=rubric_id)


def rubric_latest(code: str) -> Rubric | None:
    """The highest version of rubric ``code``, or None."""
    return Rubric.objects.filter(code=code).order_by("-version").first()
