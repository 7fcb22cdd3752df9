"""The report dict as flat tables: one :class:`Table` per section, the same everywhere.

``apps.analysis.writers`` writes each table as a CSV and as a sheet of
report.xlsx, and ``report_html`` shows them in report.html. Everything here
reads only the report dict, so a stored ``report.json`` can be turned into the
tables again. Cells are raw values (None for a missing one); each writer
formats and neutralises them for its file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ICC_FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")
LEVELS = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True)
class Table:
    name: str  # file stem and sheet name
    title: str  # heading in the HTML page
    columns: list[str]
    rows: list[list[Any]]


def report_tables(report: dict) -> list[Table]:
    """The report as flat tables; tables without rows are left out."""
    tables = [
        _summary(report),
        _agreement(report),
        _raters(report),
        _rater_dimensions(report),
        _model_profiles(report),
        _tags(report),
        _breakdowns(report),
        _friedman(report),
        _comparisons(report),
        _cohen_kappa(report),
    ]
    if report.get("pairwise"):
        tables += [_bradley_terry(report), _win_rate(report), _position_bias(report)]
    return [t for t in tables if t.rows]


def _interval(value: Sequence[float] | None) -> list[float | None]:
    return [None, None] if value is None else [value[0], value[1]]


def _summary(report: dict) -> Table:
    source = report["input"]
    rows: list[list[Any]] = [["schema", report["schema"]], ["version", report.get("version")]]
    rows += [[f"input.{k}", source.get(k)] for k in ("ratings", "raters", "items", "models")]
    rows += [[f"input.{k}", source[k]] for k in ("rows", "missing", "sha256") if k in source]
    for file in source.get("files", []):
        rows.append([f"file.{file['role']}", f"{file['name']} ({file['bytes']} bytes)"])
        rows.append([f"file.{file['role']}.sha256", file["sha256"]])
    for key, value in report.get("parameters", {}).items():
        text = (
            value if isinstance(value, int | float | str) else json.dumps(value, ensure_ascii=False)
        )
        rows.append([f"parameters.{key}", text])
    return Table("summary", "Summary 概要", ["key", "value"], rows)


def _agreement(report: dict) -> Table:
    columns = ["dimension", "level", "n_items", "n_raters", "n_values", "n_pairable_items"]
    columns += [f"alpha_{lv}" for lv in LEVELS] + ["alpha_ci95_low", "alpha_ci95_high"]
    columns += ["percent_agreement", "fleiss_kappa", "kendall_w", "kendall_w_p"]
    columns += ["n_complete_items"]
    for form in ICC_FORMS:
        columns += [form, f"{form}_ci95_low", f"{form}_ci95_high"]
    rows = []
    for dimension, entry in report["agreement"].items():
        alpha, icc, kendall = entry["krippendorff_alpha"], entry["icc"], entry.get("kendall_w")
        row = [dimension, entry["level"], entry["n_items"], entry["n_raters"], entry["n_values"]]
        row += [entry.get("n_pairable_items")]
        row += [alpha[lv] for lv in LEVELS] + _interval(alpha["ci95"])
        row += [entry["percent_agreement"], entry["fleiss_kappa"]]
        row += [kendall and kendall["W"], kendall and kendall["p"], icc["n_complete_items"]]
        for form in ICC_FORMS:
            row += [icc[form], *_interval(icc["ci95"].get(form))]
        rows.append(row)
    return Table("agreement", "Agreement 评分一致性", columns, rows)


RATER_KEYS = ("n", "severity", "loo_correlation", "alpha_if_removed", "by_dimension", "flags")


def _raters(report: dict) -> Table:
    """One row per rater. Extra keys (position bias, and in the app attention
    checks, repeats, time) become columns too; a nested dict one column per key."""
    dimensions = list(report["agreement"])
    extras: dict[str, None] = {}
    for entry in report["raters"].values():
        extras.update(dict.fromkeys(_flat_extras(entry)))
    columns = ["rater", "n", "severity", "loo_correlation"]
    columns += [f"alpha_if_removed_{d}" for d in dimensions] + list(extras) + ["flags"]
    rows = []
    for rater, entry in report["raters"].items():
        row = [rater, entry["n"], entry["severity"], entry["loo_correlation"]]
        row += [entry["alpha_if_removed"].get(d) for d in dimensions]
        flat = _flat_extras(entry)
        row += [flat.get(k) for k in extras]
        row.append(";".join(str(f) for f in entry.get("flags") or []))
        rows.append(row)
    return Table("raters", "Raters 评审诊断", columns, rows)


def _flat_extras(entry: dict) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in entry.items():
        if key in RATER_KEYS:
            continue
        if isinstance(value, dict):
            flat.update({f"{key}_{k}": v for k, v in value.items() if _scalar(v)})
        elif _scalar(value):
            flat[key] = value
    return flat


def _rater_dimensions(report: dict) -> Table:
    keys: list[str] = []
    for entry in report["raters"].values():
        for diagnostics in entry.get("by_dimension", {}).values():
            keys += [k for k, v in diagnostics.items() if k not in keys and _scalar(v)]
    rows = [
        [rater, dimension, *[diagnostics.get(k) for k in keys]]
        for rater, entry in report["raters"].items()
        for dimension, diagnostics in entry.get("by_dimension", {}).items()
    ]
    return Table(
        "rater_dimensions",
        "Raters by dimension 分维度评审诊断",
        ["rater", "dimension", *keys],
        rows,
    )


def _model_profiles(report: dict) -> Table:
    columns = ["model", "dimension", "n", "mean", "ci95_low", "ci95_high"]
    columns += ["z_mean", "z_ci95_low", "z_ci95_high", "deviation"]
    rows = [
        [
            *(model, dimension, p["n"], p["mean"], *_interval(p["ci95"])),
            *(p["z_mean"], *_interval(p["z_ci95"]), p["deviation"]),
        ]
        for model, entry in report["models"].items()
        for dimension, p in entry["dimensions"].items()
    ]
    return Table("model_profiles", "Model profiles 模型审美偏差画像", columns, rows)


def _tags(report: dict) -> Table:
    rows = [
        [model, tag, t["n"], t["rate"], *_interval(t["ci95"])]
        for model, entry in report["models"].items()
        for tag, t in entry["tags"].items()
    ]
    columns = ["model", "tag", "n", "rate", "ci95_low", "ci95_high"]
    return Table("tags", "Bias tags 偏差标签", columns, rows)


def _breakdowns(report: dict) -> Table:
    rows = [
        [by, dimension, model, group, cell["n"], cell["mean"], cell.get("z_mean")]
        for by, per_dimension in report.get("breakdowns", {}).items()
        for dimension, per_model in per_dimension.items()
        for model, cells in per_model.items()
        for group, cell in cells.items()
    ]
    columns = ["by", "dimension", "model", "group", "n", "mean", "z_mean"]
    return Table("breakdowns", "Breakdowns 按画科与技法", columns, rows)


def _friedman(report: dict) -> Table:
    models = list(report["models"])
    columns = ["dimension", "statistic", "p", "n_blocks"]
    columns += [f"mean_rank_{m}" for m in models] + ["note"]
    rows = []
    for dimension, entry in report["comparisons"].items():
        result = entry["friedman"] or {}
        ranks = result.get("mean_ranks") or {}
        row = [dimension, result.get("statistic"), result.get("p"), result.get("n_blocks")]
        row += [ranks.get(m) for m in models]
        note = entry.get("skipped") or ("" if result else "not computable")
        rows.append([*row, note])
    return Table("friedman", "Friedman tests 弗里德曼检验", columns, rows)


def _comparisons(report: dict) -> Table:
    columns = ["dimension", "a", "b", "n", "wilcoxon_p", "p_holm", "effect"]
    rows = [
        [dimension, p["a"], p["b"], p.get("n"), p["wilcoxon_p"], p["p_holm"], p["effect"]]
        for dimension, entry in report["comparisons"].items()
        for p in entry["pairs"]
    ]
    return Table("comparisons", "Pairwise model comparisons 模型两两比较", columns, rows)


def _cohen_kappa(report: dict) -> Table:
    columns = ["dimension", "a", "b", "n", "unweighted", "linear", "quadratic"]
    rows = [
        [dimension, p["a"], p["b"], p["n"], p["unweighted"], p["linear"], p["quadratic"]]
        for dimension, entry in report["agreement"].items()
        for p in entry.get("cohen_kappa", [])
    ]
    return Table("cohen_kappa", "Cohen's kappa by rater pair 评审两两一致性", columns, rows)


def _bradley_terry(report: dict) -> Table:
    entries = report["pairwise"]["bradley_terry"]
    order = sorted(entries, key=lambda m: (entries[m]["rank"] is None, entries[m]["rank"] or 0))
    rows = [
        [entries[m]["rank"], m, entries[m]["log_strength"], *_interval(entries[m]["ci95"])]
        for m in order
    ]
    columns = ["rank", "model", "log_strength", "ci95_low", "ci95_high"]
    return Table("pairwise_bradley_terry", "Bradley–Terry ranking 排名", columns, rows)


def _win_rate(report: dict) -> Table:
    matrix = report["pairwise"]["win_rate"]
    models = list(matrix)
    rows = [[row, *[matrix[row].get(col) for col in models]] for row in models]
    return Table("win_rate", "Win rate (row beats column) 胜率", ["model", *models], rows)


def _position_bias(report: dict) -> Table:
    section = report["pairwise"]
    overall = section["position_bias"]
    rows = [["(all)", section["n_judgments"], overall.get("left_rate"), overall.get("p")]]
    rows += [
        [rater, entry["n"], entry.get("left_rate"), entry.get("p")]
        for rater, entry in section.get("position_bias_by_rater", {}).items()
    ]
    columns = ["rater", "n", "left_rate", "p"]
    return Table("position_bias", "Left/right position bias 左右位置偏差", columns, rows)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)
