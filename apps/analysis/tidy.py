"""Loading researchers' tidy CSV files: ratings and pairwise judgments, every row checked.

The input format is the one in ``shared/contracts/analysis-report.md``: one row
per score (``rater, item, dimension, score`` plus optional ``model, prompt,
genre, technique, tags``) and one row per pairwise judgment (``rater, model_a,
model_b, winner`` plus an optional ``prompt``).

Loading never stops at the first problem: every bad row is collected and
raised together in one :class:`TidyError` naming the rows. The file's shape
(encoding, header, data rows) is read by ``tidy_csv``; the values are checked
here, column-wise, and the result is a table of ``tidy_tables``.

The errors and tables are re-exported here, the module callers load through.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from apps.analysis.tidy_csv import Source, read_columns, read_source
from apps.analysis.tidy_errors import RowError, TidyError
from apps.analysis.tidy_tables import (
    PAIRWISE_OPTIONAL,
    PAIRWISE_REQUIRED,
    RATINGS_OPTIONAL,
    RATINGS_REQUIRED,
    PairwiseTable,
    RatingsTable,
    natural_sorted,
)

__all__ = [
    "PairwiseTable",
    "RatingsTable",
    "RowError",
    "TidyError",
    "load_pairwise_csv",
    "load_ratings_csv",
    "natural_sorted",
]

# Spellings of "not rated": the contract's empty cell and NA, plus what R, pandas
# and Excel write for a missing number.
MISSING_SCORES = frozenset({"", "na", "n/a", "nan", "#n/a"})
# Researchers in China often type the full-width semicolon.
TAG_SEPARATOR = re.compile(r"[;；]")
WINNERS = {"a": "a", "b": "b", "tie": "tie", "both_bad": "both_bad", "both bad": "both_bad"}
# Attributes of the rated output or of its prompt: one value per item.
ITEM_ATTRIBUTES = ("model", "prompt", "genre", "technique")

Scale = tuple[float, float]


def load_ratings_csv(
    source: Source,
    *,
    scale: Scale | None = None,
    scales: Mapping[str, Scale] | None = None,
    max_rows: int = 10,
) -> RatingsTable:
    """Read a tidy ratings CSV (a path or its bytes) and validate every row.

    ``scale`` bounds every score (inclusive); ``scales`` bounds the named
    dimensions and wins over ``scale``. Raises :class:`TidyError` naming every
    bad row: missing columns, empty required cells, non-numeric or out-of-scale
    scores, duplicate (rater, item, dimension) rows, an item given two different
    models, prompts, genres or techniques, bytes that are not UTF-8, and a file
    with no data rows. Other columns are ignored.
    """
    data, name = read_source(source)
    frame = read_columns(data, name, RATINGS_REQUIRED, RATINGS_OPTIONAL, max_rows)
    present = [c for c in RATINGS_OPTIONAL if c in frame.columns]
    scales = dict(scales or {})
    checks = _Checks(frame["row"].to_numpy())
    for column in ("rater", "item", "dimension"):
        checks.add(frame[column].isna(), column, f"{column} is empty")
    score = _scores(frame, scale, scales, checks)
    _check_duplicates(frame, ["rater", "item", "dimension"], checks)
    for column in (c for c in ITEM_ATTRIBUTES if c in present):
        _check_item_attribute(frame, column, checks)
    checks.raise_if_any(name, max_rows)

    out = frame[["row", "rater", "item", "dimension"]].copy()
    out["score"] = score
    for column in present:
        if column == "tags":
            tags = frame["tags"].fillna("")
            out["tags"] = tags.map({t: _split_tags(t) for t in tags.unique()})
        else:
            out[column] = frame[column]
    checked = {"*": list(scale)} if scale is not None else {}
    checked.update({d: list(bounds) for d, bounds in scales.items()})
    return RatingsTable(
        frame=out.reset_index(drop=True),
        columns=frozenset(present),
        source=data,
        name=name,
        scales=checked,
    )


def load_pairwise_csv(source: Source, *, max_rows: int = 10) -> PairwiseTable:
    """Read a pairwise CSV (a path or its bytes) and validate every row.

    ``winner`` is ``a`` (the left model), ``b`` (the right one), ``tie`` or
    ``both_bad``, in any letter case. Raises :class:`TidyError` naming every bad
    row, as :func:`load_ratings_csv` does.
    """
    data, name = read_source(source)
    frame = read_columns(data, name, PAIRWISE_REQUIRED, PAIRWISE_OPTIONAL, max_rows)
    checks = _Checks(frame["row"].to_numpy())
    for column in PAIRWISE_REQUIRED:
        checks.add(frame[column].isna(), column, f"{column} is empty")
    winner = frame["winner"].fillna("").str.lower().map(WINNERS)
    unknown = winner.isna() & frame["winner"].notna()
    checks.add(unknown, "winner", "winner is not a, b, tie or both_bad", frame["winner"][unknown])
    itself = (frame["model_a"] == frame["model_b"]) & frame["model_a"].notna()
    checks.add(itself, "model_b", "a model against itself", frame["model_a"][itself])
    checks.raise_if_any(name, max_rows)

    has_prompt = "prompt" in frame.columns
    out = frame[["row", "rater", "model_a", "model_b"]].astype(
        {"rater": object, "model_a": object, "model_b": object}
    )
    out.insert(2, "prompt", frame["prompt"] if has_prompt else None)
    out["winner"] = winner.astype(object)
    columns = frozenset(PAIRWISE_OPTIONAL if has_prompt else ())
    return PairwiseTable(frame=out.reset_index(drop=True), columns=columns, source=data, name=name)


# -- checks ------------------------------------------------------------------


class _Checks:
    """Row errors from column-wise checks, reported in row order (then check order)."""

    def __init__(self, rows: np.ndarray):
        self.rows = rows
        self.found: list[tuple[int, int, RowError]] = []

    def add(self, mask: pd.Series, column: str | None, message: str, details=None) -> None:
        self.add_at(mask.index[mask.to_numpy()], column, message, details)

    def add_at(self, index: pd.Index, column: str | None, message: str, details=None) -> None:
        if len(index) == 0:
            return
        texts = [""] * len(index) if details is None else [str(d) for d in details]
        order = len(self.found)
        for position, detail in zip(index, texts, strict=True):
            row = int(self.rows[position])
            self.found.append((row, order, RowError(row, column, message, detail)))

    def raise_if_any(self, name: str, max_rows: int) -> None:
        if self.found:
            errors = [error for _, _, error in sorted(self.found, key=lambda f: f[:2])]
            raise TidyError(errors, source=name, max_rows=max_rows)


def _scores(
    frame: pd.DataFrame, scale: Scale | None, scales: Mapping[str, Scale], checks: _Checks
) -> np.ndarray:
    """Scores as floats (NaN = missing), with the non-numeric and out-of-scale rows
    reported. Parsed once per distinct text: a file has few distinct scores."""
    text = frame["score"].fillna("")
    parsed = {t: _parse_score(t) for t in text.unique()}
    value = text.map({t: v for t, (v, _) in parsed.items()}).to_numpy(dtype=float)
    problem = text.map({t: p or "" for t, (_, p) in parsed.items()})
    for message in ("score is not a number", "score is not a finite number"):
        mask = problem == message
        checks.add(mask, "score", message, [repr(t) for t in text[mask]])
    bounds = {d: scales.get(d, scale) for d in frame["dimension"].unique()}
    nan = (math.nan, math.nan)
    low = frame["dimension"].map({d: (b or nan)[0] for d, b in bounds.items()}).to_numpy(float)
    high = frame["dimension"].map({d: (b or nan)[1] for d, b in bounds.items()}).to_numpy(float)
    with np.errstate(invalid="ignore"):
        outside = (value < low) | (value > high)  # False wherever a side is NaN
    mask = pd.Series(outside, index=frame.index)
    details = [
        f"{t} not in {_fmt(lo)}–{_fmt(hi)}"
        for t, lo, hi in zip(text[mask], low[outside], high[outside], strict=True)
    ]
    checks.add(mask, "score", "score outside the scale", details)
    return value


def _parse_score(text: str) -> tuple[float, str | None]:
    if text.lower() in MISSING_SCORES:
        return math.nan, None
    try:
        score = float(text)
    except ValueError:
        return math.nan, "score is not a number"
    if not math.isfinite(score):
        return math.nan, "score is not a finite number"
    return score, None


def _first_of_group(*columns: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(group number of every row, position of the group's first row)."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        codes, uniques = pd.factorize(column)
        key = key * (len(uniques) + 1) + codes
    _, first, group = np.unique(key, return_index=True, return_inverse=True)
    return group, first


def _check_duplicates(frame: pd.DataFrame, key: list[str], checks: _Checks) -> None:
    """Name every row that repeats an earlier row's key, with that row."""
    keyed = frame[frame[key].notna().all(axis=1)]
    if keyed.empty:
        return
    group, first = _first_of_group(*(keyed[c] for c in key))
    first_position = first[group]
    repeated = first_position != np.arange(len(keyed))
    first_rows = keyed["row"].to_numpy()[first_position[repeated]]
    details = [f"same rater, item and dimension as row {r}" for r in first_rows]
    checks.add_at(keyed.index[repeated], None, "duplicate (rater, item, dimension)", details)


def _check_item_attribute(frame: pd.DataFrame, column: str, checks: _Checks) -> None:
    """One model (prompt, genre, technique) per item: name the rows that differ
    from the item's first value."""
    given = frame[frame[column].notna() & frame["item"].notna()]
    if given.empty:
        return
    group, first = _first_of_group(given["item"])
    values = given[column].to_numpy(object)
    first_position = first[group]
    differs = values != values[first_position]
    rows = given["row"].to_numpy()
    details = [
        f"{value!r}, but {values[p]!r} at row {rows[p]}"
        for value, p in zip(values[differs], first_position[differs], strict=True)
    ]
    checks.add_at(given.index[differs], column, f"item has two different {column}s", details)


def _split_tags(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in TAG_SEPARATOR.split(text) if t.strip())


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)
