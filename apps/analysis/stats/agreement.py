"""Agreement among raters: Krippendorff's α, percent agreement, Fleiss' κ, Cohen's κ, Kendall's W.

Cohen's κ is computed in ``kappa`` (with its every-pair-of-raters form) and
re-exported here.

A *reliability matrix* has shape ``(n_raters, n_units)``, float, ``np.nan`` for
a missing rating. Undefined values are returned as ``None``, never ``NaN``.

Krippendorff's α is computed from the coincidence matrix (Krippendorff 2011,
"Computing Krippendorff's Alpha-Reliability")::

    α = 1 − (n − 1) · Σ_u Σ_ck n_uc n_uk δ²_ck / (m_u − 1)  /  Σ_ck n_c n_k δ²_ck

where ``n_uc`` is the number of values ``c`` in unit ``u``, ``m_u`` the number
of values in the unit, ``n_c`` the pairable values ``c`` overall and ``n`` all
pairable values. Only units with at least two values are pairable. For the
interval and ordinal metrics δ² is a squared difference of positions — the
value itself (interval) or its mid-rank among the pairable values (ordinal:
``Σ_{g=c..k} n_g − (n_c + n_k)/2`` is the distance between mid-ranks) — so
both reduce to within-unit sums of squares and never build a V×V matrix. The
results equal those of the ``krippendorff`` package (tested on random data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import sparse, stats

# Re-exported: Cohen's κ lives in its own module with its all-pairs form.
from apps.analysis.stats.kappa import cohen_kappa

__all__ = [
    "LEVELS",
    "Level",
    "alpha_bootstrap_ci",
    "alpha_bootstrap_distribution",
    "cohen_kappa",
    "fleiss_kappa",
    "kendall_w",
    "krippendorff_alpha",
    "percent_agreement",
]

Level = Literal["nominal", "ordinal", "interval", "ratio"]
LEVELS: tuple[str, ...] = ("nominal", "ordinal", "interval", "ratio")

# Upper bound on the number of float64 cells of a temporary array (≈ 32 MB).
_MAX_CELLS = 4_000_000


@dataclass(frozen=True)
class _Units:
    """The pairable part of a reliability matrix (units holding ≥ 2 values)."""

    values: np.ndarray  # (V,) sorted distinct values
    codes: np.ndarray  # (R, U) index into ``values``, -1 where missing
    counts: np.ndarray | sparse.csr_matrix  # (U, V) n_uc; dense unless U×V is large
    m: np.ndarray  # (U,) values per unit

    @property
    def n_units(self) -> int:
        return int(self.m.size)

    def same_value_pairs(self) -> np.ndarray:
        """Σ_c n_uc² for every unit."""
        if sparse.issparse(self.counts):
            return np.asarray(self.counts.multiply(self.counts).sum(axis=1)).ravel()
        return (self.counts**2).sum(axis=1)

    def totals(self, multiplicity: np.ndarray) -> np.ndarray:
        """n_c of each resample: ``multiplicity`` (B, U) @ counts (U, V)."""
        if sparse.issparse(self.counts):
            return np.asarray(self.counts.T @ multiplicity.T).T
        return multiplicity @ self.counts


def _as_reliability(reliability: np.ndarray) -> np.ndarray:
    data = np.asarray(reliability, dtype=float)
    if data.ndim != 2:
        raise ValueError("a reliability matrix must be 2-D (n_raters, n_units)")
    if np.isinf(data).any():
        raise ValueError("a reliability matrix may hold numbers and NaN only")
    return data


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise ValueError(f"unknown level of measurement {level!r}; expected one of {LEVELS}")


def _pairable_units(reliability: np.ndarray) -> _Units:
    data = _as_reliability(reliability)
    present = ~np.isnan(data)
    keep = present.sum(axis=0) >= 2
    data, present = data[:, keep], present[:, keep]
    values, inverse = np.unique(data[present], return_inverse=True)
    codes = np.full(data.shape, -1, dtype=np.intp)
    codes[present] = inverse
    _, unit = np.nonzero(present)  # same (row-major) order as data[present]
    shape = (data.shape[1], values.size)
    if shape[0] * shape[1] <= _MAX_CELLS:
        flat = np.bincount(unit * shape[1] + inverse, minlength=shape[0] * shape[1])
        counts: np.ndarray | sparse.csr_matrix = flat.reshape(shape).astype(float)
    else:
        counts = sparse.csr_matrix((np.ones(unit.size), (unit, inverse)), shape=shape)
    return _Units(values=values, codes=codes, counts=counts, m=present.sum(axis=0))


def _ratio_delta(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Krippendorff's ratio δ² = ((a − b)/(a + b))², 0 where a + b = 0 (as the package)."""
    total = a + b
    return np.divide(a - b, total, out=np.zeros(np.broadcast(a, b).shape), where=total != 0) ** 2


def _quadratic_forms(rows: np.ndarray | sparse.csr_matrix, values: np.ndarray) -> np.ndarray:
    """``x_i^T Δ x_i`` for every row ``x_i`` with the ratio Δ, built in column blocks."""
    n_rows, n_values = rows.shape
    out = np.zeros(n_rows)
    step = max(1, _MAX_CELLS // max(n_values, n_rows, 1))
    for start in range(0, n_values, step):
        block = slice(start, start + step)
        delta = _ratio_delta(values[:, None], values[None, block])
        product = np.asarray(rows @ delta)
        if sparse.issparse(rows):
            out += np.asarray(rows[:, block].multiply(product).sum(axis=1)).ravel()
        else:
            out += (rows[:, block] * product).sum(axis=1)
    return out


def _midranks(counts_by_value: np.ndarray) -> np.ndarray:
    """Mid-rank of each value from its counts (last axis): Krippendorff's ordinal positions."""
    return np.cumsum(counts_by_value, axis=-1) - counts_by_value / 2.0


def _unit_sum_of_squares(positions: np.ndarray) -> np.ndarray:
    """Within-unit sum of squared deviations of a (R, U) array with NaN for missing."""
    centred = positions - np.nanmean(positions, axis=0)
    return np.nansum(centred**2, axis=0)


def krippendorff_alpha(reliability: np.ndarray, level: Level) -> float | None:
    """Krippendorff's α of a reliability matrix (raters × units, NaN = missing).

    ``level`` is one of :data:`LEVELS`; the ordinal metric ranks values by
    their marginal frequencies among the pairable values, as Krippendorff
    defines it. Returns ``None`` when α is undefined: no unit holds two
    values, or every pairable value is the same (no expected disagreement).
    """
    _check_level(level)
    units = _pairable_units(reliability)
    if units.values.size < 2:
        return None
    n = float(units.m.sum())
    weight = 1.0 / (units.m - 1)
    if level == "nominal":
        observed = float(((units.m**2 - units.same_value_pairs()) * weight).sum())
        n_c = np.asarray(units.counts.sum(axis=0)).ravel()
        expected = n**2 - float((n_c**2).sum())
    elif level == "ratio":
        observed = float((_quadratic_forms(units.counts, units.values) * weight).sum())
        n_c = np.asarray(units.counts.sum(axis=0)).ravel()
        expected = float(_quadratic_forms(n_c[None, :], units.values)[0])
    else:
        if level == "interval":
            position = units.values
        else:
            position = _midranks(np.asarray(units.counts.sum(axis=0)).ravel())
        x = np.where(units.codes >= 0, position[units.codes], np.nan)
        # Σ_ck n_uc n_uk (x_c − x_k)² = 2 m_u SS_u, and 2 n SS overall.
        observed = float((units.m * _unit_sum_of_squares(x) * weight).sum())
        pooled = x[~np.isnan(x)]
        expected = n * float(((pooled - pooled.mean()) ** 2).sum())
    if expected <= 0:
        return None
    return 1.0 - (n - 1.0) * observed / expected


def alpha_bootstrap_ci(
    reliability: np.ndarray,
    level: Level,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap confidence interval of Krippendorff's α.

    Method: units (columns) holding at least two values — the only units
    that carry information about α — are resampled with replacement,
    ``n_boot`` times, each resample as many units as the data has; α is
    recomputed on every resample at ``level`` (for ordinal data the mid-ranks
    are recomputed from the resample's own marginals); the interval is the
    ``(1 − confidence)/2`` and ``(1 + confidence)/2`` quantiles (linear
    interpolation) of those α. Resamples in which α is undefined (every value
    identical) are left out. Deterministic for a given ``seed``.

    This is the plain nonparametric bootstrap over units, not the
    Hayes & Krippendorff (2007) algorithm that resamples pairable values with
    a fixed expected disagreement. Each resample is a weighted sum of per-unit
    contributions computed once, so 1000 resamples cost a few matrix products.

    Returns ``None`` when α itself is undefined or no resample defines it.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must lie strictly between 0 and 1")
    alphas = alpha_bootstrap_distribution(reliability, level, n_boot=n_boot, seed=seed)
    if alphas is None:
        return None
    found = alphas[~np.isnan(alphas)]
    if found.size == 0:
        return None
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(found, [tail, 1.0 - tail])
    return float(low), float(high)


def alpha_bootstrap_distribution(
    reliability: np.ndarray, level: Level, *, n_boot: int = 1000, seed: int = 0
) -> np.ndarray | None:
    """α of each of ``n_boot`` bootstrap resamples of the pairable units (NaN where undefined).

    The resampling behind :func:`alpha_bootstrap_ci`, for readers who want the
    whole distribution; ``None`` when α of the data is undefined.
    """
    _check_level(level)
    if n_boot < 1:
        raise ValueError("n_boot must be at least 1")
    if krippendorff_alpha(reliability, level) is None:
        return None
    units = _pairable_units(reliability)
    rng = np.random.default_rng(seed)
    n_units = units.n_units
    # Temporaries are (chunk × units) and (chunk × distinct values): bound both.
    chunk = max(1, min(n_boot, _MAX_CELLS // max(n_units, units.values.size)))
    alphas = []
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        draws = rng.integers(0, n_units, size=(size, n_units))
        flat = draws + n_units * np.arange(size)[:, None]
        multiplicity = np.bincount(flat.ravel(), minlength=size * n_units).reshape(size, n_units)
        alphas.append(_alpha_of_resamples(units, level, multiplicity.astype(float)))
    return np.concatenate(alphas)


def _alpha_of_resamples(units: _Units, level: str, multiplicity: np.ndarray) -> np.ndarray:
    """α for each row of ``multiplicity`` (resamples × units, how often each unit was drawn)."""
    weight = 1.0 / (units.m - 1)
    n = multiplicity @ units.m.astype(float)
    n_c = units.totals(multiplicity)  # (B, V)
    if level == "nominal":
        observed = multiplicity @ ((units.m**2 - units.same_value_pairs()) * weight)
        expected = n**2 - (n_c**2).sum(axis=1)
    elif level == "ratio":
        observed = multiplicity @ (_quadratic_forms(units.counts, units.values) * weight)
        expected = _quadratic_forms(n_c, units.values)
    elif level == "interval":
        x = np.where(units.codes >= 0, units.values[units.codes], np.nan)
        observed = multiplicity @ (units.m * _unit_sum_of_squares(x) * weight)
        centred = units.values - units.values.mean()
        total = n_c @ centred
        expected = n * (n_c @ centred**2 - total**2 / n)
    else:
        position = _midranks(n_c)  # (B, V), one ranking per resample
        position -= ((n_c * position).sum(axis=1) / n)[:, None]
        s1 = np.asarray(units.counts @ position.T)  # (U, B)
        s2 = np.asarray(units.counts @ (position**2).T)
        per_unit = (units.m[:, None] * s2 - s1**2) * weight[:, None]
        observed = np.einsum("bu,ub->b", multiplicity, per_unit)
        expected = n * ((n_c * position**2).sum(axis=1))
    # α is undefined in a resample whose values are all identical; the counts
    # are exact integers, so test that rather than a rounded ``expected``.
    defined = (n_c > 0).sum(axis=1) >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 - (n - 1.0) * observed / expected
    return np.where(defined & (expected > 0), alpha, np.nan)


def _unit_counts(reliability: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(counts of each distinct value per unit (U, V), values per unit (U,))."""
    data = _as_reliability(reliability)
    present = ~np.isnan(data)
    values, inverse = np.unique(data[present], return_inverse=True)
    _, unit = np.nonzero(present)
    counts = np.zeros((data.shape[1], values.size))
    np.add.at(counts, (unit, inverse), 1.0)
    return counts, present.sum(axis=0)


def percent_agreement(reliability: np.ndarray) -> float | None:
    """Mean, over units rated at least twice, of the share of agreeing pairs within the unit.

    For a unit with ``m_u ≥ 2`` values of which ``n_uc`` equal ``c``, the
    share is ``Σ_c n_uc (n_uc − 1) / (m_u (m_u − 1))``: among all pairs of
    ratings of the unit by two different raters, the proportion with equal
    values. Units count equally, whatever their number of ratings. This is
    Gwet's (2014) percent agreement (irrCAC ``pa.coeff.raw``) and Fleiss'
    P̄ for complete data. Values are compared exactly (categorical data).
    ``None`` when no unit holds two values.
    """
    counts, m = _unit_counts(reliability)
    rated = m >= 2
    if not rated.any():
        return None
    agree = (counts[rated] * (counts[rated] - 1)).sum(axis=1) / (m[rated] * (m[rated] - 1))
    return float(agree.mean())


def fleiss_kappa(reliability: np.ndarray) -> float | None:
    """Fleiss' κ (Fleiss 1971) for any number of raters per unit.

    Categories are the distinct observed values. Fleiss assumed every unit
    has the same number of ratings; with missing ratings this uses the
    generalisation of Gwet (2014, irrCAC ``fleiss.kappa.raw``), identical to
    Fleiss' formula when the data are complete:

    * ``P_a`` = :func:`percent_agreement` (mean over units with ≥ 2 ratings);
    * ``p_c`` = mean over units with ≥ 1 rating of the unit's share of
      ratings in category ``c``; ``P_e = Σ_c p_c²``;
    * ``κ = (P_a − P_e) / (1 − P_e)``.

    ``None`` when no unit holds two ratings or only one category was used.
    """
    counts, m = _unit_counts(reliability)
    if not (m >= 2).any() or counts.shape[1] < 2:
        return None
    rated = m >= 1
    p_c = (counts[rated] / m[rated, None]).mean(axis=0)
    chance = float((p_c**2).sum())
    agree = percent_agreement(reliability)
    if agree is None or chance >= 1.0:
        return None
    return (agree - chance) / (1.0 - chance)


def kendall_w(matrix: np.ndarray) -> dict:
    """Kendall's coefficient of concordance W with the correction for ties.

    ``matrix`` is complete, shape ``(n_items, n_raters)``. Each rater's scores
    are ranked (ties get mid-ranks);
    ``W = 12 S / (m² (n³ − n) − m Σ_t (t³ − t))`` with ``S`` the sum of squared
    deviations of the items' rank sums and ``t`` the sizes of tie groups
    within raters (Kendall 1948; as irr's ``kendall(..., correct=TRUE)``).
    ``χ² = m (n − 1) W`` on ``n − 1`` degrees of freedom (large-sample test).
    Returns ``{"W", "chi2", "df", "p"}``; W, χ² and p are ``None`` when every
    rater gave every item the same score.
    """
    data = np.asarray(matrix, dtype=float)
    if data.ndim != 2 or np.isnan(data).any():
        raise ValueError("kendall_w needs a complete (n_items, n_raters) matrix")
    n, m = data.shape
    if n < 2 or m < 1:
        raise ValueError("kendall_w needs at least two items and one rater")
    ranks = stats.rankdata(data, axis=0)
    rank_sums = ranks.sum(axis=1)
    s = float(((rank_sums - rank_sums.mean()) ** 2).sum())
    ties = 0.0
    for column in data.T:
        _, sizes = np.unique(column, return_counts=True)
        ties += float((sizes**3 - sizes).sum())
    denominator = m**2 * (n**3 - n) - m * ties
    if denominator <= 0:
        return {"W": None, "chi2": None, "df": n - 1, "p": None}
    w = 12.0 * s / denominator
    chi2 = m * (n - 1) * w
    return {"W": w, "chi2": chi2, "df": n - 1, "p": float(stats.chi2.sf(chi2, n - 1))}
