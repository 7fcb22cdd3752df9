"""Cohen's κ: of two raters (:func:`cohen_kappa`), and of every pair of raters at once.

A *reliability matrix* has shape ``(n_raters, n_units)``, float, ``np.nan`` for
a missing rating. Undefined values are returned as ``None``, never ``NaN``.

Both functions count a contingency table of the two raters' categories and
compute κ from it with the same code (``_kappa``), so :func:`cohen_kappa_pairs`
gives exactly the values of :func:`cohen_kappa` called pair by pair; it only
counts the tables faster (``np.bincount`` on category codes found once for the
whole matrix), which matters with tens of raters: 30 raters are 435 pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

__all__ = ["KAPPA_WEIGHTS", "cohen_kappa", "cohen_kappa_pairs"]

Weights = Literal[None, "linear", "quadratic"]
# Key in the result of cohen_kappa_pairs → weights.
KAPPA_WEIGHTS: dict[str, Weights] = {
    "unweighted": None,
    "linear": "linear",
    "quadratic": "quadratic",
}


def cohen_kappa(
    a: np.ndarray,
    b: np.ndarray,
    *,
    weights: Weights = None,
    categories: Sequence[float] | None = None,
) -> float | None:
    """Cohen's κ (1960) of two raters, or weighted κ (Cohen 1968).

    Pairs where either rating is NaN are dropped. ``categories`` orders the
    possible values (default: the sorted union of the observed values); the
    weights use category *positions* in that order, ``|i − j|`` (linear) or
    ``(i − j)²`` (quadratic), as irr's ``kappa2`` and scikit-learn's
    ``cohen_kappa_score`` do. ``κ_w = 1 − Σ w·p_obs / Σ w·p_chance``.
    ``None`` when no pair remains or chance disagreement is zero.
    """
    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError("the two raters must rate the same units")
    both = ~(np.isnan(x) | np.isnan(y))
    x, y = x[both], y[both]
    if x.size == 0:
        return None
    if categories is None:
        cats = np.unique(np.concatenate([x, y]))
    else:
        cats = np.asarray(categories, dtype=float)
        if np.unique(cats).size != cats.size:
            raise ValueError("categories must be distinct")
    order = np.argsort(cats)
    ix = order[np.searchsorted(cats, x, sorter=order).clip(0, cats.size - 1)]
    iy = order[np.searchsorted(cats, y, sorter=order).clip(0, cats.size - 1)]
    if not (np.array_equal(cats[ix], x) and np.array_equal(cats[iy], y)):
        raise ValueError("a rating is not among the categories")
    k = cats.size
    observed = np.zeros((k, k))
    np.add.at(observed, (ix, iy), 1.0)
    observed /= x.size
    return _kappa(observed, _chance(observed), _weights(k, weights))


def cohen_kappa_pairs(reliability: np.ndarray, *, min_units: int = 2) -> list[dict]:
    """Cohen's κ — unweighted, linear and quadratic — of every pair of raters.

    ``reliability`` is ``(n_raters, n_units)``. The categories are the sorted
    distinct values of the whole matrix, so the weights use the same positions
    for every pair. Pairs that rated fewer than ``min_units`` units in common
    are left out. Returns, in the order of ``itertools.combinations``,
    ``{"a": i, "b": j, "n": n, "unweighted": κ, "linear": κ, "quadratic": κ}``
    with row indices ``i < j``; each κ equals ``cohen_kappa(reliability[i],
    reliability[j], weights=…, categories=<those categories>)``.
    """
    data = np.asarray(reliability, dtype=float)
    if data.ndim != 2:
        raise ValueError("a reliability matrix must be 2-D (n_raters, n_units)")
    present = ~np.isnan(data)
    categories = np.unique(data[present])
    k = categories.size
    if k == 0:
        return []
    codes = np.zeros(data.shape, dtype=np.int64)
    codes[present] = np.searchsorted(categories, data[present])
    weights = {name: _weights(k, w) for name, w in KAPPA_WEIGHTS.items()}
    pairs = []
    for i in range(data.shape[0]):
        for j in range(i + 1, data.shape[0]):
            both = present[i] & present[j]
            n = int(both.sum())
            if n < min_units:
                continue
            table = np.bincount(codes[i][both] * k + codes[j][both], minlength=k * k)
            observed = table.reshape(k, k) / n
            chance = _chance(observed)
            entry: dict = {"a": i, "b": j, "n": n}
            entry.update({name: _kappa(observed, chance, w) for name, w in weights.items()})
            pairs.append(entry)
    return pairs


def _chance(observed: np.ndarray) -> np.ndarray:
    """The table expected from the two raters' margins."""
    return np.outer(observed.sum(axis=1), observed.sum(axis=0))


def _weights(k: int, weights: Weights) -> np.ndarray:
    """Disagreement weights of ``k`` ordered categories."""
    distance = np.abs(np.subtract.outer(np.arange(k), np.arange(k))).astype(float)
    if weights is None:
        return (distance > 0).astype(float)
    if weights == "linear":
        return distance
    if weights == "quadratic":
        return distance**2
    raise ValueError(f"unknown weights {weights!r}")


def _kappa(observed: np.ndarray, chance: np.ndarray, w: np.ndarray) -> float | None:
    """κ_w from the observed proportions, the chance proportions and the weights."""
    expected = float((w * chance).sum())
    if expected <= 0:
        return None
    return 1.0 - float((w * observed).sum()) / expected
