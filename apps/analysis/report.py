"""Assemble ``report.json`` (``shared/contracts/analysis-report.md``) from tidy tables.

This module only arranges data and calls the pure functions of
``apps.analysis.stats``; it computes no statistic of its own. The same
function serves the ``analyze`` command and the in-app report task.

How the contract's numbers are made from the tables (also in ``methods`` of
every report, so that a reader of the file has them):

* ``input.ratings`` counts scores (rows whose score is not missing); ``rows``
  and ``missing`` are extra keys. ``input.sha256`` is the SHA-256 of the bytes
  of the ratings file followed directly by those of the pairwise file when one
  is given — ``cat ratings.csv pairs.csv | sha256sum`` reproduces it; each file's
  own hash is under ``input.files``.
* Agreement uses, per dimension, the raters × items matrix of that dimension.
  The α bootstrap and every other seeded computation get their own seed,
  :func:`derive_seed` of the user's seed and a label, so adding a dimension does
  not change the intervals of the others.
* A rater's ``severity`` and ``loo_correlation`` pool the per-dimension values
  of ``stats.raters.rater_diagnostics``: their mean over dimensions weighted by
  the rater's number of scores in each (dimensions where the value is undefined
  are left out). The per-dimension values are kept under ``by_dimension``.
* Friedman blocks are prompts: each cell of the prompts × models matrix is the
  mean score over the raters and items of that prompt and model.
* Pairwise Fleiss' κ and nominal α take one unit per (prompt, pair of models)
  and one value per rater: which of the two models won, or a tie
  (``both_bad`` counts as a tie); a rater's first judgment of a unit is used.
"""

from __future__ import annotations

import hashlib
import math
import tomllib
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from apps.analysis.report_pairwise import pairwise_judgments
from apps.analysis.stats import agreement, comparisons, icc, kappa, profiles, raters
from apps.analysis.tidy_tables import PairwiseTable, RatingsTable, natural_sorted

SCHEMA = "evalsite.analysis/1"
LEVELS = agreement.LEVELS
DEFAULT_LEVEL = "ordinal"
ICC_FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")
CONFIDENCE = 0.95
BREAKDOWN_COLUMNS = ("genre", "technique")

Progress = Callable[[str], None]

METHODS = {
    "input.sha256": "SHA-256 of the ratings file's bytes followed by the pairwise file's bytes",
    "krippendorff_alpha.ci95": "percentile bootstrap over units at the dimension's level",
    "icc": "Shrout & Fleiss (1979) on the largest complete raters × items block, F-based CIs",
    "raters.severity": "mean over dimensions, weighted by the rater's scores per dimension",
    "raters.loo_correlation": "mean over dimensions, weighted by the rater's scores per dimension",
    "models.z_mean": "scores standardised within rater and dimension, then averaged",
    "models.tags": "share of the model's (rater, item) judgments carrying the tag, Wilson CI",
    "comparisons.friedman": "blocks = prompts; cell = mean over raters and items",
    "comparisons.pairs": "Wilcoxon signed-rank over prompts, Holm-corrected; effect = "
    "rank-biserial, positive when a scored higher",
    "pairwise.bradley_terry": "ties as half wins; bootstrap over judgments; centred log-strengths",
    "pairwise.fleiss_kappa": "unit = (prompt, model pair); value = winner or tie",
}


def derive_seed(seed: int, label: str) -> int:
    """A seed for one computation, stable under adding or reordering others."""
    digest = hashlib.sha256(f"{seed}\x00{label}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def resolve_levels(dimensions: list[str], levels: Mapping[str, str]) -> dict[str, str]:
    """Every dimension's level, ``ordinal`` unless overridden. Raises ValueError
    for an unknown level or a dimension that is not in the data."""
    unknown = sorted(set(levels) - set(dimensions))
    if unknown:
        raise ValueError(
            f"levels name dimensions not in the ratings: {', '.join(unknown)} "
            f"(dimensions: {', '.join(dimensions)})"
        )
    for dimension, level in levels.items():
        if level not in LEVELS:
            raise ValueError(f"level of {dimension!r} must be one of {', '.join(LEVELS)}")
    return {d: levels.get(d, DEFAULT_LEVEL) for d in dimensions}


def build_report(
    ratings: RatingsTable,
    pairwise_table: PairwiseTable | None = None,
    *,
    levels: Mapping[str, str],
    n_boot: int,
    seed: int,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The contract's report dict for these ratings (and pairwise judgments).

    Every contract key is present; undefined values are ``None``. Extra keys:
    ``input.rows/missing/dimensions/files``, per-dimension ``kendall_w``,
    ``cohen_kappa``, ``n_pairable_items`` and ICC ``F`` tests, per-rater
    ``by_dimension``, ``position_bias`` and ``flags``, Friedman ``mean_ranks``,
    pairwise ``n_ties``, ``models``, ``krippendorff_alpha_nominal`` and
    ``position_bias_by_rater``, and top-level ``breakdowns``, ``parameters``,
    ``methods`` and ``version``. Deterministic for a given ``seed``; raises
    ValueError for levels naming unknown dimensions or levels.
    """
    say = progress or (lambda message: None)
    dimensions = ratings.dimensions
    level_of = resolve_levels(dimensions, levels)
    matrices = {d: ratings.reliability(d) for d in dimensions}

    agreement_section = {}
    for dimension in dimensions:
        say(f"agreement: {dimension} (α bootstrap, {n_boot} resamples)")
        agreement_section[dimension] = _agreement(
            matrices[dimension],
            level_of[dimension],
            n_boot=n_boot,
            seed=derive_seed(seed, f"alpha:{dimension}"),
        )
    pairwise_section = None
    if pairwise_table is not None:
        say(f"pairwise: Bradley–Terry bootstrap, {n_boot} resamples")
        pairwise_section = pairwise_judgments(
            pairwise_table,
            n_boot=n_boot,
            seed=derive_seed(seed, "bradley_terry"),
            confidence=CONFIDENCE,
        )
    say("raters, model profiles and comparisons")
    models, breakdowns = _models_and_breakdowns(ratings)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "input": _input(ratings, pairwise_table),
        "agreement": agreement_section,
        "raters": _raters(ratings, matrices, agreement_section, pairwise_section),
        "models": models,
        "comparisons": {d: _comparison(ratings, d) for d in dimensions},
        "pairwise": pairwise_section,
        "breakdowns": breakdowns,
        "parameters": {
            "levels": level_of,
            "n_boot": n_boot,
            "seed": seed,
            "confidence": CONFIDENCE,
            "scales": ratings.scales,
        },
        "methods": METHODS,
        "version": _version(),
    }
    return to_json_ready(report)


# -- sections ----------------------------------------------------------------


def _input(ratings: RatingsTable, pairwise_table: PairwiseTable | None) -> dict:
    frame = ratings.frame
    scored = int(frame["score"].notna().sum())
    tables = [ratings] if pairwise_table is None else [ratings, pairwise_table]
    combined = hashlib.sha256()
    for table in tables:
        combined.update(table.source)
    return {
        "ratings": scored,
        "raters": len(ratings.raters),
        "items": len(ratings.items),
        "models": len(ratings.models),
        "sha256": combined.hexdigest(),
        "rows": len(frame),
        "missing": len(frame) - scored,
        "dimensions": ratings.dimensions,
        "pairwise_judgments": None if pairwise_table is None else len(pairwise_table.frame),
        "files": [
            {"name": t.name, "role": role, "bytes": len(t.source), "sha256": t.sha256}
            for t, role in zip(tables, ("ratings", "pairwise"), strict=False)
        ],
    }


def _agreement(
    reliability: tuple[np.ndarray, list[str], list[str]], level: str, *, n_boot: int, seed: int
) -> dict:
    matrix, rater_labels, _ = reliability
    present = ~np.isnan(matrix)
    alpha = {lv: agreement.krippendorff_alpha(matrix, lv) for lv in LEVELS}
    alpha["ci95"] = agreement.alpha_bootstrap_ci(
        matrix, level, n_boot=n_boot, seed=seed, confidence=CONFIDENCE
    )
    block, _, _ = icc.largest_complete_block(matrix)
    icc_section = {form: None for form in ICC_FORMS}
    icc_section["ci95"] = {form: None for form in ICC_FORMS}
    kendall = None
    if block.shape[0] >= 2 and block.shape[1] >= 2:
        computed = icc.icc_all(block, confidence=CONFIDENCE)
        icc_section.update({k: v for k, v in computed.items() if k not in ("n_items", "n_raters")})
        kendall = agreement.kendall_w(block)
        kendall["n_items"], kendall["n_raters"] = block.shape
    icc_section["n_complete_items"] = int(block.shape[0]) if block.shape[1] >= 2 else 0
    icc_section["n_complete_raters"] = int(block.shape[1])
    return {
        "level": level,
        "n_items": int(present.any(axis=0).sum()),
        "n_raters": int(present.any(axis=1).sum()),
        "n_values": int(present.sum()),
        "n_pairable_items": int((present.sum(axis=0) >= 2).sum()),
        "krippendorff_alpha": alpha,
        "icc": icc_section,
        "percent_agreement": agreement.percent_agreement(matrix),
        "fleiss_kappa": agreement.fleiss_kappa(matrix),
        "kendall_w": kendall,
        "cohen_kappa": _cohen_pairs(matrix, rater_labels),
    }


def _cohen_pairs(matrix: np.ndarray, rater_labels: list[str]) -> list[dict]:
    """Cohen's κ for every pair of raters with at least two items in common."""
    return [
        {**entry, "a": rater_labels[entry["a"]], "b": rater_labels[entry["b"]]}
        for entry in kappa.cohen_kappa_pairs(matrix, min_units=2)
    ]


def _raters(
    ratings: RatingsTable,
    matrices: Mapping[str, tuple[np.ndarray, list[str], list[str]]],
    agreement_section: Mapping[str, dict],
    pairwise_section: Mapping[str, Any] | None,
) -> dict:
    counts = ratings.scored.groupby("rater").size()
    by_rater: dict[str, dict] = {
        r: {"n": int(counts.get(r, 0)), "alpha_if_removed": {}, "by_dimension": {}}
        for r in ratings.raters
    }
    flags: dict[str, list[str]] = {r: [] for r in ratings.raters}
    for dimension, (matrix, rater_labels, _) in matrices.items():
        section = agreement_section[dimension]
        rows = raters.rater_diagnostics(matrix, section["level"])
        alpha = section["krippendorff_alpha"][section["level"]]
        reasons = raters.flag_raters(rows, alpha=alpha)
        for label, diagnostics, found in zip(rater_labels, rows, reasons, strict=True):
            by_rater[label]["by_dimension"][dimension] = {**diagnostics, "flags": found}
            by_rater[label]["alpha_if_removed"][dimension] = diagnostics["alpha_if_removed"]
            flags[label] += [f for f in found if f not in flags[label]]
    position = (pairwise_section or {}).get("position_bias_by_rater", {})
    for label, entry in by_rater.items():
        per_dimension = entry["by_dimension"].values()
        entry["severity"] = _weighted_mean(per_dimension, "severity")
        entry["loo_correlation"] = _weighted_mean(per_dimension, "loo_correlation")
        if label in position:
            entry["position_bias"] = position[label]
            found = raters.flag_raters([{"position_bias": position[label]}])[0]
            flags[label] += [f for f in found if f not in flags[label]]
        entry["flags"] = flags[label]
    return {r: _ordered(e, ("n", "severity", "loo_correlation")) for r, e in by_rater.items()}


def _weighted_mean(rows: Any, key: str) -> float | None:
    pairs = [(row["n"], row[key]) for row in rows if _defined(row.get(key)) and row["n"]]
    total = sum(n for n, _ in pairs)
    if not total:
        return None
    return math.fsum(n * value for n, value in pairs) / total


def _models_and_breakdowns(ratings: RatingsTable) -> tuple[dict, dict]:
    """Per-model profiles and tag rates (the contract's ``models``), and the
    genre / technique breakdowns: raw and rater-standardised means per model ×
    group, per dimension."""
    model_labels = ratings.models
    if not model_labels:
        return {}, {}
    models: dict[str, dict] = {m: {"dimensions": {}, "tags": {}} for m in model_labels}
    by = [c for c in BREAKDOWN_COLUMNS if c in ratings.columns]
    breakdowns: dict[str, dict] = {c: {} for c in by}
    for dimension in ratings.dimensions:
        rows = ratings.scored_rows(dimension)
        rows = rows[rows["model"].notna()]
        if rows.empty:
            continue
        scores = rows["score"].to_numpy(float)
        rater_labels = rows["rater"].to_numpy(object)
        labels = rows["model"].to_numpy(object)
        profile = profiles.model_profile(scores, rater_labels, labels, confidence=CONFIDENCE)
        for model in (m for m in model_labels if m in profile):
            models[model]["dimensions"][dimension] = profile[model]
        z = profiles.zscore_within_rater(scores, rater_labels)
        for column in by:
            groups = rows[column].to_numpy(object)
            raw = profiles.breakdown(scores, labels, groups)
            standardised = profiles.breakdown(z, labels, groups)
            breakdowns[column][dimension] = {
                model: {
                    group: {**raw[model][group], "z_mean": standardised[model][group]["mean"]}
                    for group in natural_sorted(raw[model])
                }
                for model in model_labels
                if model in raw
            }
    judgments, tagged = ratings.tag_judgments()
    known = judgments["model"].notna().to_numpy()
    judged_models = judgments["model"].to_numpy(object)[known]
    for tag, flags in tagged.items():
        rates = profiles.tag_rates(flags[known], judged_models, confidence=CONFIDENCE)
        for model in (m for m in model_labels if m in rates):
            models[model]["tags"][tag] = rates[model]
    return models, breakdowns


def _comparison(ratings: RatingsTable, dimension: str) -> dict:
    missing = [c for c in ("prompt", "model") if c not in ratings.columns]
    if missing:
        return {"friedman": None, "pairs": [], "skipped": f"no {' or '.join(missing)} column"}
    rows = ratings.scored_rows(dimension).dropna(subset=["prompt", "model"])
    model_labels = ratings.models
    cells = rows.groupby(["prompt", "model"])["score"].mean().unstack("model")
    cells = cells.reindex(index=natural_sorted(cells.index), columns=model_labels)
    matrix = cells.to_numpy(dtype=float)
    result = comparisons.friedman(matrix) if len(model_labels) >= 2 else None
    if result is not None:
        result["mean_ranks"] = dict(zip(model_labels, result["mean_ranks"], strict=True))
    pairs = comparisons.pairwise_wilcoxon(matrix, model_labels) if len(model_labels) >= 2 else []
    return {"friedman": result, "pairs": pairs, "n_prompts": int(matrix.shape[0])}


# -- helpers -----------------------------------------------------------------


def _defined(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _ordered(entry: dict, first: tuple[str, ...]) -> dict:
    """The contract's keys first, extras after, so the JSON reads in contract order."""
    return {**{k: entry[k] for k in first}, **{k: v for k, v in entry.items() if k not in first}}


def _version() -> str | None:
    try:
        return metadata.version("evalsite")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        if not pyproject.is_file():
            return None
        return tomllib.loads(pyproject.read_text("utf-8")).get("project", {}).get("version")


def to_json_ready(value: Any) -> Any:
    """Plain JSON types: NumPy scalars to Python, tuples to lists, NaN/inf to None."""
    if isinstance(value, Mapping):
        return {str(k): to_json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [to_json_ready(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value
