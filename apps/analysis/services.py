"""Writes of the analysis app: requesting a report, and building it step by step.

A report is requested (:func:`report_request`) by a researcher or organizer and
built by the ``analysis.report_build`` task, which calls :func:`report_claim`
then :func:`report_run`:

1. read the study's counted judgments as tidy rows (blind labels until the
   study is unblinded — decided once, from the status read at this step);
2. ``report.build_report`` — the same pipeline as ``manage.py analyze`` — with
   its progress messages mapped onto 10–80 %;
3. the files: those of ``writers.write_report_files`` (report.json, .html,
   .xlsx, a CSV per table), the tidy data (ratings.csv, pairwise.csv,
   data.xlsx) and report.pdf, written into a scratch folder;
4. under a row lock, if this worker still owns the build: the folder becomes
   ``MEDIA_ROOT/reports/<study id>/<report id>/``, one :class:`ReportFile` row per
   file, status ``done``.

Steps 1–3 are the functions of ``build`` (only the PDF's print layout,
:func:`report_print_html`, is rendered here). ``build`` loads the statistics
stack, so it is imported only inside :func:`report_run`: this module stays
light enough for the views, the API, the admin and the tasks to import at
start-up.

A second delivery of the task (acks_late, a worker lost) is harmless: only a
queued report, or a running one whose heartbeat has stopped, can be claimed;
progress writes carry the claim token, and a worker that lost its claim stops.
"""

from __future__ import annotations

import enum
import hashlib
import os
import secrets
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analysis import selectors
from apps.analysis.models import REPORTS_DIR, Report, ReportFile
from apps.analysis.pages import report_page
from apps.studies.models import Study

N_BOOT_DEFAULT = 1000
N_BOOT_RANGE = (10, 10_000)
SEED_MAX = 2**31 - 1
# A running build writes a heartbeat at every step (seconds apart); one silent for
# this long lost its worker and may be claimed again.
HEARTBEAT_STALE = timedelta(minutes=10)
FORMATS = {".json": "json", ".html": "html", ".pdf": "pdf", ".xlsx": "xlsx", ".csv": "csv"}
FIRST_FILES = (
    "report.pdf",
    "report.html",
    "report.json",
    "report.xlsx",
    "ratings.csv",
    "pairwise.csv",
    "data.xlsx",
)


class ReportRefused(Exception):
    """A report that cannot be requested now, with a message for the person asking."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClaimLost(Exception):
    """Another worker took the build over (this one was presumed dead)."""


class Claim(enum.Enum):
    MISSING = "missing"
    FINISHED = "finished"
    BUSY = "busy"  # running, heartbeat fresh: another worker is on it


# --- requesting -----------------------------------------------------------------------------


def _parameter(value: Any, *, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ReportRefused(_("%(name)s 必须是整数。") % {"name": name}) from None
    if not low <= number <= high:
        raise ReportRefused(
            _("%(name)s 必须在 %(low)d 到 %(high)d 之间。")
            % {"name": name, "low": low, "high": high}
        )
    return number


@transaction.atomic
def report_request(
    *, study: Study, by, n_boot: int | None = None, seed: int | None = None
) -> Report:
    """Ask for a new report of ``study`` and queue its build after the commit.

    ``n_boot`` bootstrap resamples (default 1,000) and ``seed`` (random when not
    given; recorded, so the report can be made again). One build at a time per
    study: while one is queued or running it is returned instead of a new one.
    Raises :class:`ReportRefused` before scoring has started or for bad parameters.
    Permission is the caller's business (``selectors.access_report_study``).
    """
    locked = Study.objects.select_for_update().get(pk=study.pk)
    if locked.status not in Study.Status.scoring_started():
        raise ReportRefused(_("研究尚未开始评分，还没有可分析的评价。"))
    n_boot = _parameter(
        N_BOOT_DEFAULT if n_boot is None else n_boot,
        name="n_boot",
        low=N_BOOT_RANGE[0],
        high=N_BOOT_RANGE[1],
    )
    seed = secrets.randbelow(SEED_MAX) if seed is None else seed
    seed = _parameter(seed, name="seed", low=0, high=SEED_MAX)
    running = Report.objects.for_study(locked).unfinished().order_by("-created_at").first()
    if running is not None:
        return running
    report = Report.objects.create(
        study=locked,
        kind=Report.Kind.FULL,
        parameters={"n_boot": n_boot, "seed": seed},
        message=_("排队等待"),
        created_by=by if getattr(by, "pk", None) else None,
    )
    transaction.on_commit(lambda: _enqueue(report.pk))
    return report


def _enqueue(report_id: int) -> None:
    from apps.analysis.tasks import report_build  # tasks import this module

    report_build.delay(report_id=report_id)


# --- claiming and progress ------------------------------------------------------------------


def report_claim(*, report_id: int) -> str | Claim:
    """Take the build of a report: a claim token, or why not (:class:`Claim`)."""
    now = timezone.now()
    token = secrets.token_hex(16)
    claimable = Q(status=Report.Status.QUEUED) | Q(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - HEARTBEAT_STALE),
        status=Report.Status.RUNNING,
    )
    claimed = Report.objects.filter(claimable, pk=report_id).update(
        status=Report.Status.RUNNING,
        claim_token=token,
        heartbeat_at=now,
        started_at=now,
        attempts=F("attempts") + 1,
        progress=0,
        message=_("开始"),
        error="",
    )
    if claimed:
        return token
    status = Report.objects.filter(pk=report_id).values_list("status", flat=True).first()
    if status is None:
        return Claim.MISSING
    return Claim.BUSY if status == Report.Status.RUNNING else Claim.FINISHED


def _progress(report_id: int, token: str, percent: int, message: str) -> None:
    updated = Report.objects.filter(
        pk=report_id, claim_token=token, status=Report.Status.RUNNING
    ).update(
        progress=max(0, min(int(percent), 99)), message=message[:300], heartbeat_at=timezone.now()
    )
    if not updated:
        raise ClaimLost(f"report {report_id}: the build was taken over")


def report_fail(*, report_id: int, token: str, error: str) -> bool:
    """Mark a build failed, if ``token`` still owns it."""
    return bool(
        Report.objects.filter(pk=report_id, claim_token=token, status=Report.Status.RUNNING).update(
            status=Report.Status.FAILED,
            error=error[:5000],
            message=_("失败"),
            finished_at=timezone.now(),
        )
    )


# --- building -------------------------------------------------------------------------------


def _folder(relative: str) -> Path:
    return Path(settings.MEDIA_ROOT) / relative


def report_run(*, report_id: int, token: str) -> Report:
    """Build a claimed report (see the module docstring). Raises :class:`ClaimLost`
    if another worker took it over; any other error is left to the caller, which
    records it with :func:`report_fail`."""
    # Imported here, not at the top: ``build`` loads SciPy, pandas and openpyxl,
    # which only the worker building a report needs, not every Django start-up.
    from apps.analysis import build

    report = Report.objects.select_related("study", "study__rubric", "study__tag_set").get(
        pk=report_id
    )
    study = report.study

    def say(percent: int, message: str) -> None:
        _progress(report_id, token, percent, message)

    say(2, _("读取评价数据"))
    data = build.study_data(study)
    if data.is_empty:
        raise ReportRefused(_("这个研究还没有可计入分析的评价。"))
    say(10, _("计算统计量"))
    result = build.report_compute(
        data,
        study,
        n_boot=int(report.parameters["n_boot"]),
        seed=int(report.parameters["seed"]),
        say=say,
    )

    parent = _folder(f"{REPORTS_DIR}/{study.pk}")
    for leftover in parent.glob(f".{report.pk}-*"):  # scratch of a worker that died
        shutil.rmtree(leftover, ignore_errors=True)
    scratch = parent / f".{report.pk}-{token}"
    scratch.mkdir(parents=True)
    try:
        build.report_files_write(result, data, scratch, say=say)
        say(90, _("生成 PDF"))
        pdf_note = build.report_pdf_write(report_print_html(result, study), scratch / "report.pdf")
        return _report_finish(report, token, scratch, result, data.labels, pdf_note)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def report_print_html(report: dict, study: Study) -> str:
    """The print layout of ``report`` (the PDF's source): self-contained HTML."""
    page = report_page(
        report, names=selectors.dimension_names(study), tags=selectors.tag_names(study)
    )
    return render_to_string("analysis/report_print.html", {"study": study, "page": page})


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_order(name: str) -> tuple[int, str]:
    return (FIRST_FILES.index(name), "") if name in FIRST_FILES else (len(FIRST_FILES), name)


@transaction.atomic
def _report_finish(
    report: Report, token: str, scratch: Path, result: dict, labels: str, pdf_note: str
) -> Report:
    locked = Report.objects.select_for_update().get(pk=report.pk)
    if locked.status != Report.Status.RUNNING or locked.claim_token != token:
        raise ClaimLost(f"report {report.pk}: the build was taken over")
    final = _folder(locked.folder)
    shutil.rmtree(final, ignore_errors=True)  # a half-finished earlier attempt
    os.replace(scratch, final)
    paths = sorted((p for p in final.iterdir() if p.is_file()), key=lambda p: _file_order(p.name))
    ReportFile.objects.filter(report=locked).delete()
    ReportFile.objects.bulk_create(
        ReportFile(
            report=locked,
            name=path.name,
            format=FORMATS[path.suffix],
            path=f"{locked.folder}/{path.name}",
            size=path.stat().st_size,
            sha256=_sha256(path),
            position=position,
        )
        for position, path in enumerate(paths)
        if path.suffix in FORMATS
    )
    source = result["input"]
    locked.status = Report.Status.DONE
    locked.progress = 100
    locked.message = (
        _("完成") if not pdf_note else _("完成（未生成 PDF：%(why)s）") % {"why": pdf_note[:200]}
    )
    locked.labels = labels
    locked.input_sha256 = source["sha256"]
    locked.summary = {
        k: source.get(k)
        for k in ("ratings", "raters", "items", "models", "pairwise_judgments", "dimensions")
    }
    locked.finished_at = timezone.now()
    locked.heartbeat_at = locked.finished_at
    locked.save()
    return locked


@transaction.atomic
def api_token_rotate(*, user) -> str:
    """Give ``user`` a new REST API token, revoking the old one; returns its key."""
    from rest_framework.authtoken.models import Token

    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user).key
