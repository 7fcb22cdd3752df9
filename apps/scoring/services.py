"""Writes of the scoring app: submitting a rating or a pairwise judgment, saving a
draft, reporting a problem with an item.

A submit is one transaction. It locks the assignment row and re-checks that it
is the expert's and live, so a double click, a resend after a dropped connection
or two tabs submitting at once are serialised. The client's ``submission_key``
makes it idempotent: the same key again returns what was stored, writing
nothing; a new key revises the judgment (while the study is scoring), and every
version is kept in :class:`JudgmentRevision`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.selectors import is_person
from apps.blinding.expert_rubric import expert_rubric
from apps.blinding.models import Assignment
from apps.blinding.selectors import NOT_FOUND, expert_of_study, plausible_public_id
from apps.scoring.models import (
    Draft,
    JudgmentRevision,
    PairwiseJudgment,
    ProblemReport,
    Rating,
    Score,
)
from apps.studies.models import Study

# Visible time only is sent by the page; the server caps what one submit may add,
# so a tab left open overnight does not count as a night's work.
MAX_TIME_PER_SUBMIT_MS = 30 * 60 * 1000
MAX_COMMENT_CHARS = 5000
MAX_DRAFT_BYTES = 32 * 1024
MAX_KEY_CHARS = 64
MAX_TAGS = 50
PREFERENCES = ("left", "right", "tie")


class JudgmentRefused(Exception):
    """A judgment that cannot be stored now (study not open or closed), with a
    message for the expert."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- checks shared by every write ----------------------------------------------------------


def _locked_assignment(
    assignment: Assignment | str, user, *, kind: str | None = None, lock: bool = True
) -> Assignment:
    """Lock the assignment row (unless ``lock`` is false), then re-check it is
    ``user``'s, live and (when given) of ``kind``: the same 404 as
    ``access_assignment`` otherwise. ``assignment`` is the item or its public id."""
    if not is_person(user):
        raise Http404(NOT_FOUND)
    if isinstance(assignment, str):
        if not plausible_public_id(assignment):
            raise Http404(NOT_FOUND)
        this = {"public_id": assignment}
    else:
        this = {"pk": assignment.pk}
    rows = Assignment.objects.select_for_update(of=("self",)) if lock else Assignment.objects
    locked = (
        rows.select_related("study")
        .filter(expert_of_study(user), expert=user, plan__is_active=True, **this)
        .exclude(status=Assignment.Status.WITHDRAWN)
        .first()
    )
    if locked is None or (kind is not None and locked.kind != kind):
        raise Http404(NOT_FOUND)
    return locked


def _check_open(study: Study, *, revising: bool) -> None:
    if study.status == Study.Status.SCORING:
        return
    if study.status in (Study.Status.CLOSED, Study.Status.UNBLINDED):
        message = (
            _("研究已结束，不能再修改评价。") if revising else _("研究已结束，不能再提交评价。")
        )
        raise JudgmentRefused("closed", message)
    raise JudgmentRefused("not_open", _("研究尚未开始评分。"))


def _common_errors(
    *, study: Study, tags: Iterable[str], comment: str, problem: str, submission_key: str
) -> tuple[dict[str, list[str]], list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(submission_key, str) or not 0 < len(submission_key) <= MAX_KEY_CHARS:
        errors["submission_key"] = [_("缺少提交编号（刷新页面后重试）。")]
    allowed = expert_rubric(study).tag_codes
    tags = [tags] if isinstance(tags, str) else list(tags or [])
    unknown = [t for t in tags if t not in allowed]
    if unknown or len(tags) > MAX_TAGS:
        errors["tags"] = [_("未知的标签：%(tags)s。") % {"tags": ", ".join(map(str, unknown))}]
    ordered = [t for t in allowed if t in set(tags)]
    for name, text in (("comment", comment), ("problem", problem)):
        if not isinstance(text, str):
            errors[name] = [_("必须是文字。")]
        elif len(text) > MAX_COMMENT_CHARS:
            errors[name] = [_("最多 %(n)d 个字。") % {"n": MAX_COMMENT_CHARS}]
    return errors, ordered


def _visible_ms(time_on_task_ms: Any) -> int:
    try:
        value = int(time_on_task_ms)
    except (TypeError, ValueError):
        return 0
    return max(0, min(value, MAX_TIME_PER_SUBMIT_MS))


def _seen_key(assignment: Assignment, submission_key: str) -> bool:
    return JudgmentRevision.objects.filter(
        assignment=assignment, submission_key=submission_key
    ).exists()


def _finish(
    assignment: Assignment,
    *,
    user,
    revision: int,
    submission_key: str,
    data: dict[str, Any],
    time_ms: int,
) -> None:
    JudgmentRevision.objects.create(
        assignment=assignment,
        revision=revision,
        submission_key=submission_key,
        data=data,
        by=user,
    )
    now = timezone.now()
    assignment.time_on_task_ms = min(assignment.time_on_task_ms + time_ms, 2**31 - 1)
    fields = ["time_on_task_ms"]
    if assignment.status != Assignment.Status.DONE:
        assignment.status = Assignment.Status.DONE
        assignment.completed_at = now
        fields += ["status", "completed_at"]
    assignment.save(update_fields=fields)
    Draft.objects.filter(assignment=assignment).delete()


# --- ratings ---------------------------------------------------------------------------------


def _scores_check(
    study: Study, scores: Mapping[str, Any], na: Iterable[str]
) -> tuple[dict[str, list[str]], list[tuple[dict[str, Any], int | None]]]:
    """Errors per dimension code, and (dimension, value or None for N/A) to store."""
    errors: dict[str, list[str]] = {}
    na = set(na or ())
    scores = dict(scores or {})
    rubric = expert_rubric(study)
    for code in sorted((set(scores) | na) - rubric.dimension_codes, key=str):
        errors[str(code)] = [_("量表中没有这个维度。")]
    rows: list[tuple[dict[str, Any], int | None]] = []
    for d in rubric.dimensions:
        code = d["code"]
        value = scores.get(code)
        if code in na:
            if not d["allow_na"]:
                errors[code] = [_("此维度不能选“不适用”。")]
            elif value is not None:
                errors[code] = [_("不能既打分又选“不适用”。")]
            else:
                rows.append((d, None))
            continue
        if value is None:
            errors[code] = [_("请为此维度打分。")]
            continue
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            errors[code] = [_("分数必须是整数。")]
            continue
        if not d["scale_min"] <= value <= d["scale_max"]:
            errors[code] = [
                _("分数必须在 %(min)d 到 %(max)d 之间。")
                % {"min": d["scale_min"], "max": d["scale_max"]}
            ]
            continue
        rows.append((d, value))
    return errors, rows


@transaction.atomic
def rating_submit(
    *,
    assignment: Assignment,
    user,
    scores: dict[str, int | None],
    na: set[str],
    tags: list[str],
    comment: str,
    problem: str,
    time_on_task_ms: int,
    submission_key: str,
) -> tuple[Rating, bool]:
    """Store ``user``'s rating of ``assignment``; returns ``(rating, created)``.

    Every rubric dimension needs a score on its scale, or N/A where the dimension
    allows it; errors are raised together as ``ValidationError`` keyed by
    dimension code (and ``tags``, ``comment``, ``problem``, ``submission_key``).
    The same ``submission_key`` again returns the stored rating and writes
    nothing; a new key revises it (history kept) while the study is scoring,
    and :class:`JudgmentRefused` once it is closed. ``Http404`` if the
    assignment is not ``user``'s live one.
    """
    locked = _locked_assignment(assignment, user, kind=Assignment.Kind.RATING)
    existing = Rating.objects.select_for_update().filter(assignment=locked).first()
    if existing is not None and _seen_key(locked, submission_key):
        return existing, False
    study = locked.study
    _check_open(study, revising=existing is not None)
    errors, ordered_tags = _common_errors(
        study=study, tags=tags, comment=comment, problem=problem, submission_key=submission_key
    )
    score_errors, rows = _scores_check(study, scores, na)
    errors.update(score_errors)
    if errors:
        raise ValidationError(errors)
    time_ms = _visible_ms(time_on_task_ms)
    fields = {
        "tags": ordered_tags,
        "comment": comment.strip(),
        "problem": problem.strip(),
        "submission_key": submission_key,
    }
    if existing is None:
        rating = Rating.objects.create(assignment=locked, time_on_task_ms=time_ms, **fields)
    else:
        rating = existing
        for name, value in fields.items():
            setattr(rating, name, value)
        rating.revision += 1
        rating.time_on_task_ms = min(rating.time_on_task_ms + time_ms, 2**31 - 1)
        rating.save()
        rating.scores.all().delete()
    Score.objects.bulk_create(
        Score(rating=rating, dimension_id=d["id"], value=value, is_na=value is None)
        for d, value in rows
    )
    data = {
        "scores": {d["code"]: value for d, value in rows},
        **{k: v for k, v in fields.items() if k != "submission_key"},
        "time_on_task_ms": time_ms,
    }
    _finish(
        locked,
        user=user,
        revision=rating.revision,
        submission_key=submission_key,
        data=data,
        time_ms=time_ms,
    )
    return rating, existing is None


# --- pairwise ---------------------------------------------------------------------------------


@transaction.atomic
def pairwise_submit(
    *,
    assignment: Assignment,
    user,
    choice: str,
    dimension_choices: dict[str, str] | None,
    tags: list[str],
    comment: str,
    problem: str,
    time_on_task_ms: int,
    submission_key: str,
) -> tuple[PairwiseJudgment, bool]:
    """Store ``user``'s choice between the two sides of ``assignment`` (left,
    right, tie, both poor) with optional per-dimension preferences (left, right
    or tie, keyed by dimension code); returns ``(judgment, created)``. Idempotent
    and revisable exactly like :func:`rating_submit`."""
    locked = _locked_assignment(assignment, user, kind=Assignment.Kind.PAIR)
    existing = PairwiseJudgment.objects.select_for_update().filter(assignment=locked).first()
    if existing is not None and _seen_key(locked, submission_key):
        return existing, False
    study = locked.study
    _check_open(study, revising=existing is not None)
    errors, ordered_tags = _common_errors(
        study=study, tags=tags, comment=comment, problem=problem, submission_key=submission_key
    )
    if choice not in PairwiseJudgment.Choice.values:
        errors["choice"] = [_("请选择：左边更好、右边更好、不相上下或都不好。")]
    preferences = {}
    codes = expert_rubric(study).dimension_codes
    for code, preference in (dimension_choices or {}).items():
        if preference in (None, ""):
            continue
        if code not in codes:
            errors[str(code)] = [_("量表中没有这个维度。")]
        elif preference not in PREFERENCES:
            errors[code] = [_("请选择左、右或不相上下。")]
        else:
            preferences[code] = preference
    if errors:
        raise ValidationError(errors)
    time_ms = _visible_ms(time_on_task_ms)
    fields = {
        "choice": choice,
        "dimension_choices": preferences,
        "tags": ordered_tags,
        "comment": comment.strip(),
        "problem": problem.strip(),
        "submission_key": submission_key,
    }
    if existing is None:
        judgment = PairwiseJudgment.objects.create(
            assignment=locked, time_on_task_ms=time_ms, **fields
        )
    else:
        judgment = existing
        for name, value in fields.items():
            setattr(judgment, name, value)
        judgment.revision += 1
        judgment.time_on_task_ms = min(judgment.time_on_task_ms + time_ms, 2**31 - 1)
        judgment.save()
    data = {
        **{k: v for k, v in fields.items() if k != "submission_key"},
        "time_on_task_ms": time_ms,
    }
    _finish(
        locked,
        user=user,
        revision=judgment.revision,
        submission_key=submission_key,
        data=data,
        time_ms=time_ms,
    )
    return judgment, existing is None


# --- drafts and problems --------------------------------------------------------------------


def draft_save(*, assignment: Assignment | str, user, data: dict) -> Draft:
    """Keep the page's unsubmitted state (at most 32 KB of JSON), replacing the
    previous draft of ``assignment`` (the item or its public id).

    The most frequent write there is (the page saves after every pause), so the
    endpoint passes the public id and the item is read once, checked; it takes no
    lock and writes one statement: a draft racing a submit may outlive the
    submit's deletion of drafts, and is then ignored, as the page restores only
    a draft made on the judgment's current revision (``base_revision``)."""
    locked = _locked_assignment(assignment, user, lock=False)
    _check_open(locked.study, revising=locked.is_done)
    if not isinstance(data, dict):
        raise ValidationError({"data": [_("草稿必须是 JSON 对象。")]})
    try:
        size = len(json.dumps(data, ensure_ascii=False).encode())
    except (TypeError, ValueError):
        raise ValidationError({"data": [_("草稿必须是 JSON 对象。")]}) from None
    if size > MAX_DRAFT_BYTES:
        raise ValidationError({"data": [_("草稿太大。")]})
    (draft,) = Draft.objects.bulk_create(
        [Draft(assignment=locked, data=data)],
        update_conflicts=True,
        unique_fields=["assignment"],
        update_fields=["data", "updated_at"],
    )
    return draft


@transaction.atomic
def problem_report(*, assignment: Assignment, user, text: str) -> ProblemReport:
    """ "Report a problem with this item" (it does not load, looks broken, is
    offensive…): stored for the organizers; the item stays in the queue."""
    locked = _locked_assignment(assignment, user)
    text = (text or "").strip() if isinstance(text, str) else ""
    if not text:
        raise ValidationError({"text": [_("请描述遇到的问题。")]})
    if len(text) > MAX_COMMENT_CHARS:
        raise ValidationError({"text": [_("最多 %(n)d 个字。") % {"n": MAX_COMMENT_CHARS}]})
    return ProblemReport.objects.create(assignment=locked, text=text)
