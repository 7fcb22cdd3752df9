"""The tidy tables the report is built from: :class:`RatingsTable`, :class:`PairwiseTable`.

Plain dataclasses around a pandas DataFrame with the columns of
``shared/contracts/analysis-report.md``. ``apps.analysis.tidy`` builds them
from researchers' CSV files; the in-app report task builds the same tables from
the database (:meth:`RatingsTable.from_frame`), so everything downstream is
shared. A :class:`RatingsTable` also reshapes its rows for the statistics: the
raters × items matrix of a dimension, item attributes, tag judgments.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

RATINGS_REQUIRED = ("rater", "item", "dimension", "score")
RATINGS_OPTIONAL = ("model", "prompt", "genre", "technique", "tags")
PAIRWISE_REQUIRED = ("rater", "model_a", "model_b", "winner")
PAIRWISE_OPTIONAL = ("prompt",)


@dataclass(frozen=True)
class RatingsTable:
    """One row per (rater, item, dimension).

    ``frame`` columns: ``row`` (source row number or 0), ``rater``, ``item``,
    ``dimension`` (str), ``score`` (float, NaN = not rated), the optional
    columns in ``columns`` (``model``, ``prompt``, ``genre``, ``technique`` as
    str or None; ``tags`` as a tuple of str). ``source`` is the raw input, kept
    for the input hash; ``scales`` the bounds the scores were checked against
    (``"*"`` for all dimensions). Treat the frame as read-only: derived values
    are cached.
    """

    frame: pd.DataFrame
    columns: frozenset[str]
    source: bytes = field(default=b"", repr=False)
    name: str = ""
    scales: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, *, source: bytes = b"", name: str = ""
    ) -> RatingsTable:
        """Build a table from a DataFrame with the contract's columns (used by the
        in-app task, whose data is valid by construction)."""
        frame = frame.copy()
        present = frozenset(c for c in RATINGS_OPTIONAL if c in frame.columns)
        if "row" not in frame.columns:
            frame["row"] = 0
        for column in ("rater", "item", "dimension"):
            frame[column] = frame[column].astype(str)
        frame["score"] = pd.to_numeric(frame["score"], errors="raise").astype(float)
        for column in present - {"tags"}:
            values = frame[column].astype(object)
            frame[column] = values.where(values.notna() & (values != ""), None)
        if "tags" in present:
            frame["tags"] = [tuple(t) if isinstance(t, list | tuple) else () for t in frame["tags"]]
        return cls(frame=frame.reset_index(drop=True), columns=present, source=source, name=name)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source).hexdigest()

    @cached_property
    def dimensions(self) -> list[str]:
        """Dimension codes in the order they first appear (the rubric's order)."""
        return [str(d) for d in pd.unique(self.frame["dimension"])]

    @cached_property
    def raters(self) -> list[str]:
        return natural_sorted(self.frame["rater"].unique())

    @cached_property
    def items(self) -> list[str]:
        return natural_sorted(self.frame["item"].unique())

    @cached_property
    def models(self) -> list[str]:
        if "model" not in self.columns:
            return []
        return natural_sorted(self.frame["model"].dropna().unique())

    @cached_property
    def scored(self) -> pd.DataFrame:
        """The rows with a score."""
        return self.frame[self.frame["score"].notna()]

    @cached_property
    def _scored_by_dimension(self) -> dict[str, pd.DataFrame]:
        return {str(d): rows for d, rows in self.scored.groupby("dimension", sort=False)}

    def scored_rows(self, dimension: str) -> pd.DataFrame:
        """The rows of one dimension with a score."""
        return self._scored_by_dimension.get(dimension, self.scored.iloc[:0])

    def reliability(self, dimension: str) -> tuple[np.ndarray, list[str], list[str]]:
        """The (n_raters, n_items) score matrix of one dimension, NaN where a
        rater did not score an item, with its rater and item labels. Raters and
        items with no score in this dimension are left out."""
        rows = self.scored_rows(dimension)
        raters = natural_sorted(rows["rater"].unique())
        items = natural_sorted(rows["item"].unique())
        matrix = np.full((len(raters), len(items)), np.nan)
        r = pd.Categorical(rows["rater"], categories=raters).codes
        i = pd.Categorical(rows["item"], categories=items).codes
        matrix[r, i] = rows["score"].to_numpy(dtype=float)
        return matrix, raters, items

    def item_attribute(self, column: str) -> dict[str, str]:
        """item → its model / prompt / genre / technique (first non-empty value)."""
        if column not in self.columns:
            return {}
        values = self.frame[["item", column]].dropna().drop_duplicates("item")
        return dict(zip(values["item"], values[column], strict=True))

    def tag_judgments(self) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """The (rater, item) pairs judged and the tags attached to them.

        Returns ``(judgments, tagged)``: one row per (rater, item) with a row in
        the file (columns ``rater``, ``item``, ``model``), and for every tag a
        boolean array over those rows. A tag counts when it is on any of the
        rater's rows for the item, so it may be written once or repeated on
        every dimension row.
        """
        judgments = self.frame[["rater", "item"]].drop_duplicates().reset_index(drop=True)
        judgments["model"] = judgments["item"].map(self.item_attribute("model"))
        if "tags" not in self.columns:
            return judgments, {}
        exploded = self.frame[["rater", "item", "tags"]].explode("tags").dropna(subset=["tags"])
        keys = pd.MultiIndex.from_frame(judgments[["rater", "item"]])
        position = keys.get_indexer(pd.MultiIndex.from_frame(exploded[["rater", "item"]]))
        by_tag = pd.Series(position).groupby(exploded["tags"].to_numpy()).indices
        tagged = {}
        for tag in natural_sorted(by_tag):
            flags = np.zeros(len(judgments), dtype=bool)
            flags[position[by_tag[tag]]] = True
            tagged[tag] = flags
        return judgments, tagged


@dataclass(frozen=True)
class PairwiseTable:
    """One row per judgment: ``row``, ``rater``, ``prompt`` (str or None),
    ``model_a`` (shown left), ``model_b`` (shown right), ``winner`` in
    ``a``/``b``/``tie``/``both_bad``."""

    frame: pd.DataFrame
    columns: frozenset[str]
    source: bytes = field(default=b"", repr=False)
    name: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source).hexdigest()

    @property
    def models(self) -> list[str]:
        return natural_sorted(set(self.frame["model_a"]) | set(self.frame["model_b"]))

    @property
    def raters(self) -> list[str]:
        return natural_sorted(self.frame["rater"].unique())


def natural_sorted(values: Iterable[str]) -> list[str]:
    """Sort so that "R2" comes before "R10" and "Model B" before "Model C"."""

    def key(value: str) -> list[tuple[int, int | str]]:
        parts = re.split(r"(\d+)", str(value))
        return [(0, int(p)) if p.isdigit() else (1, p) for p in parts]

    return sorted((str(v) for v in values), key=key)
