"""Reads of the analysis app: tidy rows from the database, who may read reports, reports.

The tidy rows follow ``shared/contracts/analysis-report.md`` so that the in-app
report runs the very pipeline of the ``analyze`` command:

* ``rater`` is an opaque code per expert and study (:func:`rater_code`): stable
  from one report to the next, but neither the expert's name nor their user id;
* ``item`` is the output's public id, the one the expert saw;
* ``model`` is the blind label ("Model A") until the study is unblinded, the
  endpoint's display name after (:func:`model_labels`);
* ``prompt``, ``genre``, ``technique`` come from the prompt the item was shown
  with; ``tags`` are the bias tags of the rating (repeated on each of its rows).

Only judgments that count are read (``JudgmentQuerySet.counted``: the active
plan, no QC items, no withdrawn assignments, no excluded outputs). Rows are
read with ``values_list`` — a study of 720,000 scores would not fit as model
instances — and sorted so the same data always give the same bytes (and input
hash).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404
from django.utils.crypto import salted_hmac

from apps.accounts.selectors import is_person
from apps.analysis.models import Report, ReportFile
from apps.registry.models import StudyEndpoint
from apps.scoring.models import PairwiseJudgment, Rating, Score
from apps.studies.models import Dimension, Membership, Study, Tag
from apps.studies.selectors import ORGANIZER, RESEARCHER, access_study

if TYPE_CHECKING:
    import pandas as pd

READER_ROLES = (ORGANIZER, RESEARCHER)
RATINGS_COLUMNS = (
    "rater",
    "item",
    "dimension",
    "score",
    "model",
    "prompt",
    "genre",
    "technique",
    "tags",
)
PAIRWISE_COLUMNS = ("rater", "prompt", "model_a", "model_b", "winner")
WINNER = {"left": "a", "right": "b", "tie": "tie", "both_poor": "both_bad"}


# --- who may read reports ---------------------------------------------------------------


def is_report_reader(user) -> bool:
    """Organizers, and researchers of at least one study."""
    if not is_person(user):
        return False
    if user.is_staff:
        return True
    return Membership.objects.filter(
        user=user, role=Membership.Role.RESEARCHER, is_active=True
    ).exists()


def report_studies(user) -> QuerySet[Study]:
    """The studies whose reports ``user`` may read: all for organizers, those with an
    active researcher membership for everyone else (never an expert's studies)."""
    studies = Study.objects.select_related("rubric", "tag_set").order_by("-created_at", "-id")
    if not is_person(user):
        return studies.none()
    if user.is_staff:
        return studies.all()
    return studies.filter(
        memberships__user=user,
        memberships__role=Membership.Role.RESEARCHER,
        memberships__is_active=True,
    ).distinct()


def access_report_study(user, slug: str) -> Study:
    """The study ``slug`` if ``user`` is its researcher or an organizer; the same
    ``Http404`` otherwise (experts included), whether or not the study exists."""
    return access_study(user, str(slug), roles=READER_ROLES)


def study_reports(study: Study) -> QuerySet[Report]:
    """The study's reports, newest first, with their files. A report that names
    models is never listed while the study is blind (it cannot exist, since
    unblinding is irreversible; this keeps it so)."""
    reports = Report.objects.for_study(study).select_related("created_by", "study")
    if study.status != Study.Status.UNBLINDED:
        reports = reports.exclude(labels=Report.Labels.NAMES)
    return reports.prefetch_related("files").order_by("-created_at", "-id")


def access_report(study: Study, report_id: int | str) -> Report:
    """One report of ``study`` (already access-checked), or ``Http404``."""
    try:
        report_id = int(report_id)
    except (TypeError, ValueError):
        raise Http404("No report matches the given query.") from None
    report = study_reports(study).filter(pk=report_id).first()
    if report is None:
        raise Http404("No report matches the given query.")
    return report


def latest_done_report(study: Study) -> Report | None:
    return study_reports(study).filter(status=Report.Status.DONE).first()


def report_json(report: Report) -> dict[str, Any]:
    """The stored ``report.json`` of a finished report, parsed."""
    stored = next((f for f in report.files.all() if f.name == "report.json"), None)
    if stored is None:
        raise Http404("The report has no report.json.")
    return json.loads((Path(settings.MEDIA_ROOT) / stored.path).read_text("utf-8"))


def access_report_file(report: Report, name: str) -> ReportFile:
    """A file of a finished report by its name, or ``Http404``."""
    if report.status != Report.Status.DONE:
        raise Http404("No file matches the given query.")
    found = next((f for f in report.files.all() if f.name == name), None)
    if found is None:
        raise Http404("No file matches the given query.")
    return found


# --- how raters and models are named -------------------------------------------------------


def rater_code(study_id: int, user_id: int) -> str:
    """An opaque, stable code for an expert in one study ("R-3f9a0c1b2d").

    Keyed with SECRET_KEY, so it reveals neither the user id nor the order in
    which experts joined, and differs between studies."""
    digest = salted_hmac("evalsite.analysis.rater", f"{study_id}:{user_id}").hexdigest()
    return f"R-{digest[:10]}"


def model_labels(study: Study) -> dict[int, str]:
    """endpoint id → the model's name in reports: the blind label until the study
    is unblinded, the endpoint's display name after."""
    links = StudyEndpoint.objects.filter(study=study).select_related("endpoint")
    if study.status == Study.Status.UNBLINDED:
        return {link.endpoint_id: link.endpoint.name for link in links}
    return {link.endpoint_id: link.blind_label or f"Model #{link.pk}" for link in links}


def labels_kind(study: Study) -> str:
    return Report.Labels.NAMES if study.status == Study.Status.UNBLINDED else Report.Labels.BLIND


def study_dimensions(study: Study) -> list[Dimension]:
    return list(Dimension.objects.filter(rubric_id=study.rubric_id).order_by("order", "id"))


def dimension_names(study: Study) -> dict[str, dict[str, Any]]:
    """code → {"zh", "en", "holistic", "min", "max"} for labelling tables and charts."""
    return {
        d.code: {
            "zh": d.name_zh,
            "en": d.name_en,
            "holistic": d.holistic,
            "min": d.scale_min,
            "max": d.scale_max,
        }
        for d in study_dimensions(study)
    }


def tag_names(study: Study) -> dict[str, str]:
    """tag code → its Chinese name, for the study's tag set."""
    if not study.tag_set_id:
        return {}
    return dict(Tag.objects.filter(tag_set_id=study.tag_set_id).values_list("code", "name_zh"))


# --- tidy rows -----------------------------------------------------------------------------


def ratings_frame(study: Study) -> pd.DataFrame:
    """One row per counted score of ``study``, in the contract's columns
    (:data:`RATINGS_COLUMNS`); ``score`` is nullable integer (``<NA>`` for N/A),
    ``tags`` a tuple of tag codes. Sorted by rater, item and the rubric's
    dimension order. Built column by column: 720,000 scores stay small."""
    import pandas as pd  # only a report build needs it; the views import this module

    labels = model_labels(study)
    order = {d.code: i for i, d in enumerate(study_dimensions(study))}
    ratings = Rating.objects.for_study(study).counted()
    tags = {rating_id: tuple(t or ()) for rating_id, t in ratings.values_list("id", "tags")}
    codes: dict[int, str] = {}
    columns: dict[str, list] = {c: [] for c in (*RATINGS_COLUMNS, "_order")}
    rows = Score.objects.filter(rating__in=ratings).values_list(
        "rating_id",
        "rating__assignment__expert_id",
        "rating__assignment__left__public_id",
        "dimension__code",
        "value",
        "rating__assignment__left__generation__endpoint_id",
        "rating__assignment__prompt__code",
        "rating__assignment__prompt__genre",
        "rating__assignment__prompt__technique",
    )
    for values in rows.iterator(chunk_size=20_000):
        rating_id, expert_id, item, dimension, value, endpoint_id, prompt, genre, technique = values
        if expert_id not in codes:
            codes[expert_id] = rater_code(study.pk, expert_id)
        columns["rater"].append(codes[expert_id])
        columns["item"].append(item)
        columns["dimension"].append(dimension)
        columns["score"].append(value)
        columns["model"].append(labels.get(endpoint_id))
        columns["prompt"].append(prompt)
        columns["genre"].append(genre or None)
        columns["technique"].append(technique or None)
        columns["tags"].append(tags.get(rating_id, ()))
        columns["_order"].append(order.get(dimension, len(order)))
    frame = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in columns.items()})
    frame["score"] = pd.array(columns["score"], dtype="Int64")
    frame["_order"] = frame["_order"].astype(int)
    frame = frame.sort_values(["rater", "item", "_order"], kind="stable", ignore_index=True)
    return frame.drop(columns="_order")


def pairwise_frame(study: Study) -> pd.DataFrame:
    """One row per counted pairwise judgment of ``study``, in the contract's
    columns (:data:`PAIRWISE_COLUMNS`): ``model_a`` was shown left, ``model_b``
    right; ``winner`` is ``a``, ``b``, ``tie`` or ``both_bad``."""
    import pandas as pd  # only a report build needs it; the views import this module

    labels = model_labels(study)
    codes: dict[int, str] = {}
    rows = []
    for values in (
        PairwiseJudgment.objects.for_study(study)
        .counted()
        .values_list(
            "assignment__expert_id",
            "assignment__prompt__code",
            "assignment__left__generation__endpoint_id",
            "assignment__right__generation__endpoint_id",
            "choice",
            "assignment__public_id",
        )
        .iterator(chunk_size=20_000)
    ):
        expert_id, prompt, left, right, choice, assignment = values
        if expert_id not in codes:
            codes[expert_id] = rater_code(study.pk, expert_id)
        rows.append(
            (
                codes[expert_id],
                prompt,
                labels.get(left),
                labels.get(right),
                WINNER[choice],
                assignment,
            )
        )
    rows.sort(key=lambda r: (r[0], r[1], r[2] or "", r[5]))
    frame = pd.DataFrame([r[:5] for r in rows], columns=list(PAIRWISE_COLUMNS), dtype=object)
    return frame


def rater_quality(study: Study, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Quality-control results per rater code, from the blinding app's progress
    view: attention checks passed / failed, repeats consistent / not, median
    seconds per item. Only the codes given are returned (raters in the data)."""
    from apps.blinding.organizer_selectors import progress_for_organizer

    wanted = set(codes)
    result: dict[str, dict[str, Any]] = defaultdict(dict)
    for row in progress_for_organizer(study):
        code = rater_code(study.pk, row["expert_id"])
        if code not in wanted:
            continue
        attention, repeats = row["attention"], row["repeats"]
        checked = attention["passed"] + attention["failed"]
        repeated = repeats["consistent"] + repeats["inconsistent"]
        result[code] = {
            "attention_checks": checked,
            "attention_pass_rate": attention["passed"] / checked if checked else None,
            "repeats": repeated,
            "repeat_consistent_rate": repeats["consistent"] / repeated if repeated else None,
            "median_seconds": row["median_seconds"],
        }
    return dict(result)
