"""The ``pairwise`` section of ``report.json`` (``shared/contracts/analysis-report.md``),
from a table of pairwise judgments. Like ``apps.analysis.report``, it only arranges
data and calls the pure functions of ``apps.analysis.stats``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from apps.analysis.stats import agreement, pairwise, raters
from apps.analysis.tidy_tables import PairwiseTable, natural_sorted


def pairwise_judgments(
    table: PairwiseTable, *, n_boot: int, seed: int, confidence: float
) -> dict[str, Any]:
    """The report's ``pairwise`` section: win rates, Bradley–Terry strengths with
    bootstrap intervals (``seed`` is used as given), Fleiss' κ and nominal α over
    (prompt, model pair) units when there is a prompt column, and position bias
    overall and per rater."""
    frame = table.frame
    models = table.models
    a = frame["model_a"].to_numpy(object)
    b = frame["model_b"].to_numpy(object)
    winner = frame["winner"].replace({"both_bad": "tie"}).to_numpy(object)
    n_left = int((winner == "a").sum())
    n_decisive = int(np.isin(winner, ["a", "b"]).sum())
    matrix = _pairwise_reliability(frame) if "prompt" in table.columns else None
    by_rater = {}
    for rater in table.raters:
        own = winner[frame["rater"].to_numpy(object) == rater]
        left, decisive = int((own == "a").sum()), int(np.isin(own, ["a", "b"]).sum())
        by_rater[rater] = {"n": int(own.size), **raters.position_bias(left, decisive)}
    return {
        "n_judgments": len(frame),
        "n_ties": int((winner == "tie").sum()),
        "models": models,
        "win_rate": pairwise.win_rate_matrix(a, b, winner, models),
        "bradley_terry": pairwise.bradley_terry_bootstrap(
            a,
            b,
            winner,
            models,
            n_boot=n_boot,
            seed=seed,
            confidence=confidence,
        ),
        "fleiss_kappa": None if matrix is None else agreement.fleiss_kappa(matrix),
        "krippendorff_alpha_nominal": (
            None if matrix is None else agreement.krippendorff_alpha(matrix, "nominal")
        ),
        "position_bias": raters.position_bias(n_left, n_decisive),
        "position_bias_by_rater": by_rater,
    }


def _pairwise_reliability(frame: pd.DataFrame) -> np.ndarray:
    """raters × (prompt, model pair) matrix: 0 = first model (in sorted order) won,
    1 = the second won, 2 = tie. A rater's first judgment of a unit is used."""
    rows = frame.dropna(subset=["prompt"])
    first = np.where(rows["model_a"] <= rows["model_b"], rows["model_a"], rows["model_b"])
    second = np.where(rows["model_a"] <= rows["model_b"], rows["model_b"], rows["model_a"])
    winner_model = np.where(
        rows["winner"] == "a", rows["model_a"], np.where(rows["winner"] == "b", rows["model_b"], "")
    )
    value = np.where(winner_model == first, 0.0, np.where(winner_model == second, 1.0, 2.0))
    units = pd.DataFrame(
        {"rater": rows["rater"], "unit": list(zip(rows["prompt"], first, second, strict=True))}
    )
    units["value"] = value
    units = units.drop_duplicates(["rater", "unit"])
    rater_index = pd.Index(natural_sorted(units["rater"].unique()))
    unit_index = pd.Index(units["unit"].drop_duplicates())
    matrix = np.full((len(rater_index), len(unit_index)), np.nan)
    matrix[rater_index.get_indexer(units["rater"]), unit_index.get_indexer(units["unit"])] = units[
        "value"
    ]
    return matrix
