"""The heavy half of a report build: a study's judgments → statistics → files.

``services.report_run`` drives a build (claim, progress, the final move under a
row lock) and calls the functions here for the work itself. This module pulls
in the statistics stack (NumPy, pandas, SciPy through ``report``, openpyxl
through ``writers`` and ``exports``), so it is imported only inside
``report_run``: Django start-up — every ``manage.py`` command, web worker and
Celery worker — does not pay for it (``tests/analysis/test_startup_imports.py``).

Nothing here writes to a :class:`~apps.analysis.models.Report` row.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _

from apps.analysis import exports, selectors
from apps.analysis.report import build_report
from apps.analysis.stats.raters import flag_raters
from apps.analysis.tidy_tables import PairwiseTable, RatingsTable
from apps.analysis.writers import write_report_files
from apps.studies.models import Study

logger = logging.getLogger(__name__)

Say = Callable[[int, str], None]  # (percent, message): records the build's progress


@dataclasses.dataclass
class StudyData:
    """The study's judgments as read for one report."""

    labels: str
    ratings_frame: pd.DataFrame
    pairwise_frame: pd.DataFrame
    ratings_csv: bytes
    pairwise_csv: bytes
    ratings: RatingsTable
    pairwise: PairwiseTable | None
    levels: dict[str, str]

    @property
    def is_empty(self) -> bool:
        return not len(self.ratings_frame) and not len(self.pairwise_frame)


def study_data(study: Study) -> StudyData:
    """Read ``study``'s counted judgments into the pipeline's tables. The input
    bytes (and so the input hash) are those of the ``ratings.csv`` and
    ``pairwise.csv`` downloads."""
    labels = selectors.labels_kind(study)
    rating_rows = selectors.ratings_frame(study)
    pair_rows = selectors.pairwise_frame(study)
    ratings_bytes = exports.ratings_csv(rating_rows)
    pairwise_bytes = exports.pairwise_csv(pair_rows) if len(pair_rows) else b""
    dimensions = selectors.study_dimensions(study)
    frame = rating_rows.copy()
    frame["score"] = frame["score"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    table = RatingsTable.from_frame(frame, source=ratings_bytes, name="ratings.csv")
    present = set(table.dimensions)
    table = dataclasses.replace(
        table,
        scales={
            d.code: [float(d.scale_min), float(d.scale_max)]
            for d in dimensions
            if d.code in present
        },
    )
    pairwise = None
    if len(pair_rows):
        pairs = pair_rows.astype(object)
        pairs.insert(0, "row", 0)
        pairwise = PairwiseTable(
            frame=pairs, columns=frozenset({"prompt"}), source=pairwise_bytes, name="pairwise.csv"
        )
    return StudyData(
        labels=labels,
        ratings_frame=rating_rows,
        pairwise_frame=pair_rows,
        ratings_csv=ratings_bytes,
        pairwise_csv=pairwise_bytes,
        ratings=table,
        pairwise=pairwise,
        levels={d.code: d.level for d in dimensions if d.code in present},
    )


def _pipeline_progress(say: Say, n_steps: int) -> Callable[[str], None]:
    """Map build_report's progress messages (one per dimension, then pairwise,
    then the rest) onto 10–80 %."""
    seen = [0]

    def progress(message: str) -> None:
        seen[0] += 1
        say(10 + round(70 * (seen[0] - 1) / max(n_steps, 1)), message)

    return progress


def rater_quality_add(report: dict, quality: dict[str, dict[str, Any]]) -> None:
    """Add the QC results of the app (attention checks, repeats, median time) to
    each rater of ``report``, and flag failed attention checks."""
    for code, entry in report.get("raters", {}).items():
        extra = quality.get(code)
        if not extra:
            continue
        entry.update(extra)
        found = flag_raters([{"attention_pass_rate": extra.get("attention_pass_rate")}])[0]
        entry["flags"] = [*entry.get("flags", []), *[f for f in found if f not in entry["flags"]]]


def report_compute(data: StudyData, study: Study, *, n_boot: int, seed: int, say: Say) -> dict:
    """The report dict of ``data``: the pipeline of ``manage.py analyze``, plus
    the app's rater QC and the study's name. Progress goes from 10 to 80 %."""
    n_steps = len(data.ratings.dimensions) + (1 if data.pairwise is not None else 0) + 1
    result = build_report(
        data.ratings,
        data.pairwise,
        levels=data.levels,
        n_boot=n_boot,
        seed=seed,
        progress=_pipeline_progress(say, n_steps),
    )
    rater_quality_add(result, selectors.rater_quality(study, result.get("raters", {})))
    result["study"] = {"slug": study.slug, "title": study.title, "labels": data.labels}
    return result


def report_files_write(result: dict, data: StudyData, folder: Path, *, say: Say) -> None:
    """Write the report's files (``writers``) and the tidy data (CSVs, data.xlsx)
    into ``folder``. The PDF is :func:`report_pdf_write`'s."""
    say(80, _("写入报告文件"))
    (folder / "ratings.csv").write_bytes(data.ratings_csv)
    if len(data.pairwise_frame):
        (folder / "pairwise.csv").write_bytes(data.pairwise_csv)
    written = write_report_files(result, folder)
    clash = {p.name for p in written} & {"ratings.csv", "pairwise.csv", "data.xlsx"}
    if clash:
        raise RuntimeError(f"the report writer made files named like the data: {clash}")
    say(86, _("写入数据表"))
    exports.data_xlsx(
        folder / "data.xlsx", ratings=data.ratings_frame, pairwise=data.pairwise_frame
    )


def report_pdf_write(print_html: str, path: Path) -> str:
    """Render the print layout to ``path``; returns why there is no PDF, or ''."""
    try:
        exports.report_pdf(print_html, path)
    except exports.PdfUnavailable as exc:
        logger.warning("report PDF skipped: %s", exc)
        return str(exc)
    return ""
