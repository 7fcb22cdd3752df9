"""Reads of the blind side: what an expert's pages are built from.

``access_*`` functions are the only way an expert reaches blinded data: they
raise the same ``Http404`` whether the object does not exist or is not theirs.
:func:`assignment_page` builds the one dict an expert's page is rendered from,
and names every field it contains — nothing model-identifying can slip in.
The organizer's reads, which name the models, are in ``organizer_selectors``.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.http import Http404

from apps.accounts.models import Consent
from apps.accounts.selectors import consent_version, is_person
from apps.blinding.expert_rubric import expert_rubric
from apps.blinding.models import Assignment, AttentionCheck
from apps.generation.models import Output
from apps.studies.models import Membership, Study

Status = Assignment.Status
MEDIA_URL_PREFIX = "/m/"
NOT_FOUND = "No item matches the given query."


def expert_of_study(user, study_field: str = "study_id") -> Exists:
    """In a query of rows with a study: ``user`` is an active expert of that study."""
    return Exists(
        Membership.objects.filter(
            study_id=OuterRef(study_field), user=user, role=Membership.Role.EXPERT, is_active=True
        )
    )


# what secrets.token_urlsafe makes: anything else (a NUL, which PostgreSQL refuses
# in a query, another alphabet, a path) is not an id and never reaches the database
PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def plausible_public_id(public_id: object) -> bool:
    """Whether ``public_id`` could be an id this site made (checked before any query)."""
    return isinstance(public_id, str) and PUBLIC_ID.fullmatch(public_id) is not None


def expert_queue(user, study: Study | int):
    """The expert's live assignments in ``study`` in queue order."""
    return Assignment.objects.for_expert(user).filter(study=study).order_by("position")


# --- access --------------------------------------------------------------------------------


def access_assignment(user, public_id: str) -> Assignment:
    """``user``'s own assignment ``public_id`` in an active plan, not withdrawn,
    while ``user`` is an active expert of its study; otherwise ``Http404``. One
    query, with the study, the prompt and both outputs."""
    if not is_person(user) or not plausible_public_id(public_id):
        raise Http404(NOT_FOUND)
    assignment = (
        Assignment.objects.for_expert(user)
        .filter(expert_of_study(user), public_id=public_id)
        .select_related("study", "prompt", "left", "right")
        .first()
    )
    if assignment is None:
        raise Http404(NOT_FOUND)
    return assignment


def assignment_to_write(user, public_id: str) -> Assignment:
    """For the page's JSON endpoints: ``user``'s assignment ``public_id``, found by
    id and owner only (``Http404`` otherwise), for a service of
    ``apps.scoring.services`` to write through. Those services lock or re-read the
    row and check all the rest — live, active plan, active expert — raising the
    same 404 as :func:`access_assignment`; checking it here as well would repeat
    the dearest query of the most frequent request there is, the autosave."""
    if not is_person(user) or not plausible_public_id(public_id):
        raise Http404(NOT_FOUND)
    assignment = Assignment.objects.filter(public_id=public_id, expert=user).first()
    if assignment is None:
        raise Http404(NOT_FOUND)
    return assignment


def output_study_id(output: Output) -> int | None:
    if output.generation_id is not None:
        return output.generation.study_id
    check = AttentionCheck.objects.filter(output=output).values_list("study_id", flat=True)
    return check.first()


def access_output_media(user, public_id: str) -> Output:
    """The output served at ``/m/<public_id>``: organizers may open any; the study's
    researchers its outputs; an expert only outputs of their own live assignments.
    Otherwise ``Http404``, the same whether the output exists or not."""
    if not is_person(user) or not plausible_public_id(public_id):
        raise Http404(NOT_FOUND)
    # The common case first, in one query: an output of the expert's own item.
    shown = (
        Assignment.objects.for_expert(user)
        .filter(expert_of_study(user))
        .filter(Q(left_id=OuterRef("pk")) | Q(right_id=OuterRef("pk")))
    )
    output = Output.objects.filter(Exists(shown), public_id=public_id).first()
    if output is not None:
        return output
    output = Output.objects.select_related("generation").filter(public_id=public_id).first()
    if output is None:
        raise Http404(NOT_FOUND)
    if user.is_staff:
        return output
    study_id = output_study_id(output)
    if (
        study_id is not None
        and Membership.objects.filter(
            study_id=study_id, user=user, role=Membership.Role.RESEARCHER, is_active=True
        ).exists()
    ):
        return output
    raise Http404(NOT_FOUND)


# --- the expert's pages ----------------------------------------------------------------------


def _media(output: Output) -> dict[str, Any]:
    return {
        "url": f"{MEDIA_URL_PREFIX}{output.public_id}",
        "content_type": output.content_type,
        "width": output.width,
        "height": output.height,
        "duration_s": output.duration_s,
        "fps": output.fps,  # the frame step of a video; a property of the file, as its size is
        "text": output.text,
    }


def rubric_for_expert(study: Study) -> list[dict[str, Any]]:
    """The rubric's dimensions as an expert sees them: analytic first, holistic last."""
    return list(expert_rubric(study).dimensions)


def tags_for_expert(study: Study) -> list[dict[str, str]]:
    """The bias tags an expert may attach in ``study`` (those for its medium)."""
    return list(expert_rubric(study).tags)


def _judgment_of(assignment: Assignment) -> dict[str, Any] | None:
    from apps.scoring.models import PairwiseJudgment, Rating, Score

    if assignment.kind == Assignment.Kind.RATING:
        rating = Rating.objects.filter(assignment=assignment).first()
        if rating is None:
            return None
        scores = list(
            Score.objects.filter(rating=rating).values_list("dimension__code", "value", "is_na")
        )
        return {
            "scores": {code: value for code, value, _ in scores},
            "na": sorted(code for code, _, is_na in scores if is_na),
            "tags": list(rating.tags),
            "comment": rating.comment,
            "problem": rating.problem,
            "revision": rating.revision,
            "updated_at": rating.updated_at,
        }
    pair = PairwiseJudgment.objects.filter(assignment=assignment).first()
    if pair is None:
        return None
    return {
        "choice": pair.choice,
        "dimension_choices": dict(pair.dimension_choices),
        "tags": list(pair.tags),
        "comment": pair.comment,
        "problem": pair.problem,
        "revision": pair.revision,
        "updated_at": pair.updated_at,
    }


def _queue_of(assignment: Assignment) -> list[tuple[str, str]]:
    """(public id, status) of every live item in the queue ``assignment`` is in."""
    queue = expert_queue(assignment.expert_id, assignment.study_id)
    return list(queue.values_list("public_id", "status"))


def queue_progress(assignment: Assignment) -> dict[str, Any]:
    """After a submit: items done and in all in ``assignment``'s queue, and the
    next unfinished item after it, wrapping round (``None`` when all are done)."""
    queue = _queue_of(assignment)
    ids = [public_id for public_id, _ in queue]
    index = ids.index(assignment.public_id) if assignment.public_id in ids else -1
    pending = [
        public_id
        for public_id, status in queue[index + 1 :] + queue[: index + 1]
        if status == Status.PENDING
    ]
    return {
        "done": sum(1 for _, status in queue if status == Status.DONE),
        "total": len(queue),
        "next_public_id": pending[0] if pending else None,
    }


def assignment_page(assignment: Assignment) -> dict[str, Any]:
    """Everything an expert's rating or pairwise page shows, and nothing else: no
    model, endpoint, generation, file name or QC flag. ``assignment`` comes from
    :func:`access_assignment`."""
    from apps.scoring.models import Draft

    study, prompt = assignment.study, assignment.prompt
    queue = _queue_of(assignment)
    rubric = expert_rubric(study)
    ids = [public_id for public_id, _ in queue]
    index = ids.index(assignment.public_id)
    draft = Draft.objects.filter(assignment=assignment).values_list("data", flat=True).first()
    return {
        "public_id": assignment.public_id,
        "kind": assignment.kind,
        "study": {
            "title": study.title,
            "slug": study.slug,
            "media_kind": study.media_kind,
            "editable": study.status == Study.Status.SCORING,
        },
        "position": index + 1,
        "total": len(ids),
        "done": sum(1 for _, status in queue if status == Status.DONE),
        "prompt": {"text_zh": prompt.text_zh, "text_en": prompt.text_en},
        "reference": {
            "title_zh": prompt.title_zh,
            "title_en": prompt.title_en,
            "artist_zh": prompt.artist_zh,
            "artist_en": prompt.artist_en,
            "dynasty_zh": prompt.dynasty_zh,
            "dynasty_en": prompt.dynasty_en,
        },
        "media": {
            "left": _media(assignment.left),
            "right": _media(assignment.right) if assignment.right_id else None,
        },
        "dimensions": list(rubric.dimensions),
        "tags": list(rubric.tags),
        "rubric_key": rubric.key,
        "judgment": _judgment_of(assignment),
        "draft": draft,
        "prev_public_id": ids[index - 1] if index > 0 else None,
        "next_public_id": ids[index + 1] if index + 1 < len(ids) else None,
    }


def expert_dashboard(user) -> list[dict[str, Any]]:
    """One entry per study ``user`` is an active expert of, newest study first:
    progress, median time per item, estimated time left, where to resume."""
    if not is_person(user):
        return []
    memberships = (
        Membership.objects.filter(user=user, role=Membership.Role.EXPERT, is_active=True)
        .select_related("study")
        .order_by("-study__created_at", "-study_id")
    )
    studies = [m.study for m in memberships]
    rows = (
        Assignment.objects.for_expert(user)
        .filter(study__in=studies)
        .order_by("study_id", "position")
        .values_list("study_id", "public_id", "status", "time_on_task_ms")
    )
    totals: Counter = Counter()
    done: Counter = Counter()
    times: dict[int, list[int]] = defaultdict(list)
    next_id: dict[int, str] = {}
    for study_id, public_id, status, time_ms in rows:
        totals[study_id] += 1
        if status == Status.DONE:
            done[study_id] += 1
            times[study_id].append(time_ms)
        elif study_id not in next_id:
            next_id[study_id] = public_id
    consented = set(
        Consent.objects.filter(user=user, study__in=studies).values_list("study_id", "version")
    )
    entries = []
    for study in studies:
        total, finished = totals[study.pk], done[study.pk]
        median_s = statistics.median(times[study.pk]) / 1000 if times[study.pk] else None
        entries.append(
            {
                "study": {"title": study.title, "slug": study.slug, "status": study.status},
                "done": finished,
                "total": total,
                "progress": f"{finished} / {total}",
                "median_seconds": round(median_s, 1) if median_s is not None else None,
                "eta_seconds": round(median_s * (total - finished))
                if median_s is not None
                else None,
                "next_public_id": next_id.get(study.pk),
                "has_consented": (study.pk, consent_version(study)) in consented,
                "editable": study.status == Study.Status.SCORING,
            }
        )
    return entries
