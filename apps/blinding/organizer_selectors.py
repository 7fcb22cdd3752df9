"""Reads for the organizer's pages: the output review grid, the per-expert
progress rows and their summary, and the study's invitations. Organizers only —
these name the models. The expert's reads are in ``apps.blinding.selectors``.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, Max, OuterRef, Q, Sum

from apps.accounts.models import Consent, Invitation
from apps.accounts.selectors import consent_version
from apps.blinding import qc
from apps.blinding.models import Assignment, AssignmentPlan
from apps.generation.models import Generation, Output
from apps.registry.models import ModelEndpoint, StudyEndpoint
from apps.studies.models import Membership, Prompt, Study

Status = Assignment.Status

REVIEW_FILTERS = ("all", "excluded", "failed", "flagged")
PROMPTS_PER_PAGE = 12


@dataclass(frozen=True)
class ReviewColumn:
    endpoint: ModelEndpoint
    blind_label: str


@dataclass(frozen=True)
class ReviewCell:
    """One generation of a prompt by one endpoint (one replicate), with its output
    when it succeeded."""

    generation: Generation
    output: Output | None

    @property
    def kind(self) -> str:
        """ "image", "video", "text", or "none" when there is no output to show."""
        if self.output is None:
            return "none"
        major = (self.output.content_type or "").split("/", 1)[0]
        if major in ("image", "video") and self.output.file:
            return major
        return "text"


@dataclass
class ReviewRow:
    prompt: Prompt
    # one list per column, in column order: the replicates of that endpoint
    cells: list[list[ReviewCell]] = field(default_factory=list)


@dataclass
class ReviewGrid:
    study: Study
    columns: list[ReviewColumn]
    rows: list[ReviewRow]
    page: Page
    show: str
    counts: dict[str, int]


def _columns(study: Study) -> list[ReviewColumn]:
    """The study's linked endpoints in blind-label order, then any other endpoint
    that has generations in the study (unlinked since)."""
    links = StudyEndpoint.objects.filter(study=study).select_related("endpoint")
    columns = [
        ReviewColumn(endpoint=link.endpoint, blind_label=link.blind_label)
        for link in links.order_by("blind_label", "id")
    ]
    linked = {c.endpoint.pk for c in columns}
    others = (
        ModelEndpoint.objects.filter(generations__study=study)
        .exclude(pk__in=linked)
        .distinct()
        .order_by("name")
    )
    return columns + [ReviewColumn(endpoint=e, blind_label="") for e in others]


def review_counts(study: Study) -> dict[str, int]:
    """Outputs, excluded outputs, outputs whose text names its maker ("flagged"),
    failed and unfinished generations of ``study``."""
    generations = Generation.objects.filter(study=study).aggregate(
        total=Count("pk"),
        failed=Count("pk", filter=Q(status=Generation.Status.FAILED)),
        unfinished=Count(
            "pk", filter=Q(status__in=[Generation.Status.PENDING, Generation.Status.RUNNING])
        ),
    )
    outputs = Output.objects.filter(generation__study=study).aggregate(
        total=Count("pk"),
        excluded=Count("pk", filter=Q(excluded=True)),
        flagged=Count("pk", filter=~Q(text_flags=[])),
    )
    return {
        "generations": generations["total"],
        "failed": generations["failed"],
        "unfinished": generations["unfinished"],
        "outputs": outputs["total"],
        "excluded": outputs["excluded"],
        "flagged": outputs["flagged"],
    }


def output_review_grid(
    study: Study, *, page: int | str = 1, show: str = "all", per_page: int = PROMPTS_PER_PAGE
) -> ReviewGrid:
    """One row per prompt (a page of them), one column per endpoint: every
    generation of that prompt by that endpoint with its output, for the organizer
    to look at side by side and exclude what is broken or unsafe.

    ``show``: "all" prompts, those with an "excluded" output, a "failed"
    generation, or a "flagged" output (a text that names its maker)."""
    show = show if show in REVIEW_FILTERS else "all"
    prompts = Prompt.objects.filter(study=study).order_by("position", "id")
    if show == "excluded":
        prompts = prompts.filter(
            Exists(
                Output.objects.filter(
                    generation__study=study, generation__prompt=OuterRef("pk"), excluded=True
                )
            )
        )
    elif show == "failed":
        prompts = prompts.filter(
            Exists(
                Generation.objects.filter(
                    study=study, prompt=OuterRef("pk"), status=Generation.Status.FAILED
                )
            )
        )
    elif show == "flagged":
        prompts = prompts.filter(
            Exists(
                Output.objects.filter(
                    generation__study=study, generation__prompt=OuterRef("pk")
                ).exclude(text_flags=[])
            )
        )
    paginator = Paginator(prompts, per_page)
    the_page = paginator.get_page(page)
    page_prompts = list(the_page.object_list)
    columns = _columns(study)
    position = {c.endpoint.pk: i for i, c in enumerate(columns)}
    rows = {p.pk: ReviewRow(prompt=p, cells=[[] for _ in columns]) for p in page_prompts}
    generations = (
        Generation.objects.filter(study=study, prompt_id__in=list(rows))
        .select_related("output", "endpoint")
        .order_by("prompt_id", "endpoint_id", "replicate")
    )
    for generation in generations:
        column = position.get(generation.endpoint_id)
        if column is None:
            continue
        rows[generation.prompt_id].cells[column].append(
            ReviewCell(generation=generation, output=_output_of(generation))
        )
    return ReviewGrid(
        study=study,
        columns=columns,
        rows=[rows[p.pk] for p in page_prompts],
        page=the_page,
        show=show,
        counts=review_counts(study),
    )


def _output_of(generation: Generation) -> Output | None:
    try:
        return generation.output
    except Output.DoesNotExist:
        return None


def output_for_review(study: Study, public_id: str) -> Output | None:
    """The output ``public_id`` of one of ``study``'s generations, or None."""
    if not isinstance(public_id, str) or not 0 < len(public_id) <= 32:
        return None
    return (
        Output.objects.select_related("generation__prompt", "generation__endpoint")
        .filter(public_id=public_id, generation__study=study)
        .first()
    )


# --- progress ------------------------------------------------------------------------------


def active_plan(study: Study) -> AssignmentPlan | None:
    return AssignmentPlan.objects.filter(study=study, is_active=True).first()


def progress_for_organizer(study: Study) -> list[dict[str, Any]]:
    """Per expert of ``study`` (active members and anyone with work in the plan):
    items done and total, time spent, median time per item, last activity,
    consent, whether the invitation was accepted, and QC results so far."""
    from apps.scoring.models import ProblemReport

    plan = active_plan(study)
    members = {
        m.user_id: m
        for m in Membership.objects.filter(study=study, role=Membership.Role.EXPERT).select_related(
            "user"
        )
    }
    stats: dict[int, dict[str, Any]] = {}
    times: dict[int, list[int]] = defaultdict(list)
    qc_results: dict[int, dict[str, Counter]] = {}
    problems: Counter = Counter()
    if plan is not None:
        live = Assignment.objects.filter(plan=plan).exclude(status=Status.WITHDRAWN)
        for row in live.values("expert_id").annotate(
            total=Count("id"),
            done=Count("id", filter=Q(status=Status.DONE)),
            time_ms=Sum("time_on_task_ms"),
            last=Max("completed_at"),
        ):
            stats[row["expert_id"]] = row
        for expert_id, time_ms in live.filter(status=Status.DONE).values_list(
            "expert_id", "time_on_task_ms"
        ):
            times[expert_id].append(time_ms)
        qc_results = qc.qc_results(plan)
        problems.update(
            ProblemReport.objects.filter(assignment__plan=plan).values_list(
                "assignment__expert_id", flat=True
            )
        )
    expert_ids = {i for i, m in members.items() if m.is_active} | set(stats)
    users = get_user_model().objects.in_bulk(expert_ids)
    version = consent_version(study)
    consented = set(
        Consent.objects.filter(study=study, version=version).values_list("user_id", flat=True)
    )
    invited = set(
        Invitation.objects.filter(user_id__in=expert_ids, used_at__isnull=False).values_list(
            "user_id", flat=True
        )
    )
    rows = []
    for expert_id in expert_ids:
        user = users.get(expert_id)
        row = stats.get(expert_id, {})
        spent_ms = row.get("time_ms") or 0
        results = qc_results.get(expert_id, {"attention": Counter(), "repeat": Counter()})
        rows.append(
            {
                "expert_id": expert_id,
                "name": str(user) if user else str(expert_id),
                "email": user.email if user else "",
                "active": bool(members.get(expert_id) and members[expert_id].is_active),
                "account_active": bool(user and user.is_active),
                "invitation_accepted": expert_id in invited
                or bool(user and user.last_login is not None),
                "has_consented": expert_id in consented,
                "done": row.get("done", 0),
                "total": row.get("total", 0),
                "progress": f"{row.get('done', 0)} / {row.get('total', 0)}",
                "time_spent_s": round(spent_ms / 1000),
                "median_seconds": round(statistics.median(times[expert_id]) / 1000, 1)
                if times[expert_id]
                else None,
                "last_activity": row.get("last"),
                "attention": {
                    "passed": results["attention"]["passed"],
                    "failed": results["attention"]["failed"],
                    "pending": results["attention"]["pending"],
                },
                "repeats": {
                    "consistent": results["repeat"]["consistent"],
                    "inconsistent": results["repeat"]["inconsistent"],
                    "pending": results["repeat"]["pending"],
                },
                "problems": problems[expert_id],
            }
        )
    rows.sort(key=lambda r: (not r["active"], r["name"]))
    return rows


def _rate(good: int, bad: int) -> float | None:
    return good / (good + bad) if good + bad else None


def progress_summary(study: Study) -> dict[str, Any]:
    """The progress page's data: the active plan, one row per expert (from
    :func:`progress_for_organizer`, with pass rates added) and the totals."""
    rows = progress_for_organizer(study)
    totals = {
        "done": 0,
        "total": 0,
        "time_spent_s": 0,
        "attention_passed": 0,
        "attention_failed": 0,
        "attention_pending": 0,
        "repeats_consistent": 0,
        "repeats_inconsistent": 0,
        "repeats_pending": 0,
        "problems": 0,
    }
    for row in rows:
        attention, repeats = row["attention"], row["repeats"]
        row["attention_rate"] = _rate(attention["passed"], attention["failed"])
        row["repeat_rate"] = _rate(repeats["consistent"], repeats["inconsistent"])
        row["percent"] = round(100 * row["done"] / row["total"]) if row["total"] else 0
        row["attention_flag"] = row["attention_rate"] is not None and row["attention_rate"] < 0.8
        row["repeat_flag"] = row["repeat_rate"] is not None and row["repeat_rate"] < 0.7
        totals["done"] += row["done"]
        totals["total"] += row["total"]
        totals["time_spent_s"] += row["time_spent_s"]
        totals["attention_passed"] += attention["passed"]
        totals["attention_failed"] += attention["failed"]
        totals["attention_pending"] += attention["pending"]
        totals["repeats_consistent"] += repeats["consistent"]
        totals["repeats_inconsistent"] += repeats["inconsistent"]
        totals["repeats_pending"] += repeats["pending"]
        totals["problems"] += row["problems"]
    totals["percent"] = round(100 * totals["done"] / totals["total"]) if totals["total"] else 0
    totals["attention_rate"] = _rate(totals["attention_passed"], totals["attention_failed"])
    totals["repeat_rate"] = _rate(totals["repeats_consistent"], totals["repeats_inconsistent"])
    return {
        "plan": active_plan(study),
        "rows": rows,
        "totals": totals,
        "experts": len(rows),
        "active_experts": sum(1 for r in rows if r["active"]),
    }


# --- invitations ---------------------------------------------------------------------------


def study_invitations(study: Study) -> list[Invitation]:
    """Every invitation sent for ``study``, newest first, with its user."""
    return list(
        Invitation.objects.filter(study=study).select_related("user").order_by("-created_at", "-id")
    )
