"""Agreement statistics against published values, the ``krippendorff`` package, and properties.

Sources of the reference values:

* Krippendorff, K. (2011). *Computing Krippendorff's Alpha-Reliability*:
  example A (binary, 2 observers, α = .095), example B (nominal, 2 observers,
  α = .692) and example C (4 observers × 12 units with missing values:
  nominal .743, ordinal .815, interval .849, ratio .797).
* Wikipedia, "Krippendorff's alpha", computational example (3 coders × 15
  units): nominal 0.691358, interval 0.810845 (also the ``krippendorff``
  package's documentation).
* Gwet (2014) via the irrCAC vignette, ``cac.raw4raters`` (= example C,
  units in rows): percent agreement 0.8181818, Fleiss' κ 0.76117.
* Fleiss, J. L. (1971), Table 1, 30 patients × 6 psychiatrists: κ = .430
  (irr ``kappam.fleiss(diagnoses)`` = 0.4302445); Wikipedia's "Fleiss' kappa"
  example (10 subjects × 14 raters): κ = 0.210.
* irr ``kappa2`` on the ``anxiety`` data (raters 2 and 3): unweighted
  −0.006289308, "equal" (linear) 0.1459075, "squared" 0.2520325; irr
  ``kappa2(diagnoses[, 1:2])`` = 0.651; SAS's 3×3 example: κ = 0.4842,
  linear weighted κ = 0.4701 (as in statsmodels' tests).
* irr ``kendall``: 6 subjects × 3 raters without ties, W = 0.568,
  χ²(5) = 8.52, p = 0.13; ``kendall(anxiety, TRUE)``: Wt = 0.54,
  χ²(19) = 30.8, p = 0.0429.
"""

from __future__ import annotations

import itertools
import warnings

import krippendorff
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.analysis.stats.agreement import (
    LEVELS,
    _alpha_of_resamples,  # the vectorised core of the bootstrap, checked against brute force
    _pairable_units,
    alpha_bootstrap_ci,
    alpha_bootstrap_distribution,
    cohen_kappa,
    fleiss_kappa,
    kendall_w,
    krippendorff_alpha,
    percent_agreement,
)
from apps.analysis.stats.kappa import cohen_kappa_pairs

N = np.nan

# Krippendorff (2011), example C: observers in rows, units in columns.
EXAMPLE_C = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
        [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
    ]
)

# Wikipedia's computational example: coders A, B, C × 15 units.
WIKIPEDIA_EXAMPLE = np.array(
    [
        [N, N, N, N, N, 3, 4, 1, 2, 1, 1, 3, 3, N, 3],
        [1, N, 2, 1, 3, 3, 4, 3, N, N, N, N, N, N, N],
        [N, N, 2, 1, 3, 4, 4, N, 2, 1, 1, 3, 3, N, 4],
    ]
)

# Fleiss (1971) Table 1 as raw diagnoses (1-5), patients in rows, six raters.
DIAGNOSES = np.array(
    [
        [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
    ],
    dtype=float,
)  # fmt: skip

# Wikipedia's Fleiss example: for each of 10 subjects, how many of 14 raters chose each category.
FLEISS_WIKIPEDIA_COUNTS = np.array(
    [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
)  # fmt: skip

# irr's ``anxiety``: 20 subjects rated 1-6 by three raters (columns).
ANXIETY = np.array(
    [
        3, 3, 3, 4, 5, 5, 2, 3, 5, 2, 2, 6, 1, 5, 2, 2, 1, 2, 4, 3,
        3, 6, 4, 6, 2, 4, 2, 4, 3, 3, 2, 3, 3, 3, 2, 2, 1, 3, 3, 4,
        2, 1, 4, 4, 3, 2, 1, 6, 1, 1, 1, 2, 3, 3, 1, 1, 3, 3, 2, 2,
    ],
    dtype=float,
).reshape(3, 20).T  # fmt: skip


def counts_to_reliability(counts: np.ndarray) -> np.ndarray:
    """Raters × units matrix from per-unit category counts (categories numbered from 1)."""
    columns = [np.repeat(np.arange(1, counts.shape[1] + 1), row) for row in counts]
    return np.array(columns, dtype=float).T


def table_to_pairs(table: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Two raters' ratings (categories numbered from 1) from their contingency table."""
    a, b = [], []
    for i, row in enumerate(table, start=1):
        for j, count in enumerate(row, start=1):
            a += [i] * count
            b += [j] * count
    return np.array(a, dtype=float), np.array(b, dtype=float)


# --- Krippendorff's alpha: published values ----------------------------------------------------


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_alpha_reproduces_krippendorff_2011_example_c(level, published):
    # given four observers' values for twelve units, some missing (Krippendorff 2011, C)
    # when alpha is computed at each level of measurement
    alpha = krippendorff_alpha(EXAMPLE_C, level)
    # then it equals the published value to the three decimals printed
    assert round(alpha, 3) == published


def test_alpha_reproduces_krippendorff_2011_binary_and_nominal_examples():
    # given the two-observer examples A (binary) and B (nominal, a-e coded 1-5)
    binary = np.array([[0, 1, 0, 0, 0, 0, 0, 0, 1, 0], [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]], float)
    nominal = np.array(
        [[1, 1, 2, 2, 4, 3, 3, 3, 5, 4, 4, 1], [2, 1, 2, 2, 2, 3, 3, 3, 5, 4, 4, 4]], float
    )
    # when / then
    assert round(krippendorff_alpha(binary, "nominal"), 3) == 0.095
    assert round(krippendorff_alpha(nominal, "nominal"), 3) == 0.692


def test_alpha_reproduces_the_wikipedia_computational_example():
    # given three coders, fifteen units, many values missing
    # when / then
    assert round(krippendorff_alpha(WIKIPEDIA_EXAMPLE, "nominal"), 6) == 0.691358
    assert round(krippendorff_alpha(WIKIPEDIA_EXAMPLE, "interval"), 6) == 0.810845


def test_alpha_is_none_without_pairable_values_or_without_variation():
    # given no unit rated twice, and then units that all received the same value
    lonely = np.array([[1, N, 3], [N, 2, N]])
    uniform = np.array([[2, 2, 2, N], [2, 2, N, 5]])  # the 5 is in a unit rated once
    for level in LEVELS:
        # when / then
        assert krippendorff_alpha(lonely, level) is None
        assert krippendorff_alpha(uniform, level) is None


def test_alpha_rejects_unknown_levels_and_infinite_values():
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(EXAMPLE_C, "circular")
    with pytest.raises(ValueError, match="NaN"):
        krippendorff_alpha(np.array([[1.0, np.inf], [1.0, 2.0]]), "interval")
    with pytest.raises(ValueError, match="2-D"):
        krippendorff_alpha(np.array([1.0, 2.0]), "interval")


# --- Krippendorff's alpha: properties ---------------------------------------------------------


@st.composite
def reliability_matrices(draw, *, integer: bool = True, min_raters: int = 2):
    """Raters × units matrices with missing values; integers 0-5 or floats in [0, 100]."""
    n_raters = draw(st.integers(min_raters, 6))
    n_units = draw(st.integers(1, 14))
    size = n_raters * n_units
    if integer:
        values = draw(st.lists(st.integers(0, 5), min_size=size, max_size=size))
    else:
        floats = st.floats(0, 100, allow_nan=False, allow_infinity=False)
        values = draw(st.lists(floats, min_size=size, max_size=size))
    missing = draw(st.lists(st.booleans(), min_size=size, max_size=size))
    data = np.array(values, dtype=float)
    data[np.array(missing)] = np.nan
    return data.reshape(n_raters, n_units)


def package_alpha(data: np.ndarray, level: str) -> float | None:
    """The ``krippendorff`` package's α, with its errors and NaN mapped to None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            value = float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
    except ValueError:
        return None
    return None if np.isnan(value) else value


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(reliability_matrices(), reliability_matrices(integer=False)))
def test_alpha_equals_the_krippendorff_package_at_every_level(data):
    for level in LEVELS:
        expected = package_alpha(data, level)
        got = krippendorff_alpha(data, level)
        if expected is None:
            assert got is None
        else:
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


@given(
    unit_values=st.lists(st.integers(1, 5), min_size=1, max_size=12),
    n_raters=st.integers(2, 5),
    missing_seed=st.integers(0, 2**32 - 1),
    level=st.sampled_from(LEVELS),
)
def test_alpha_is_one_under_perfect_agreement(unit_values, n_raters, missing_seed, level):
    # given raters who agree on every unit (some ratings missing)
    data = np.tile(np.array(unit_values, dtype=float), (n_raters, 1))
    data[np.random.default_rng(missing_seed).random(data.shape) < 0.3] = np.nan
    pairable = data[:, (~np.isnan(data)).sum(axis=0) >= 2]
    # when
    alpha = krippendorff_alpha(data, level)
    # then α is 1 whenever it is defined (two distinct values among pairable units)
    if np.unique(pairable[~np.isnan(pairable)]).size >= 2:
        assert alpha == pytest.approx(1.0, abs=1e-12)
    else:
        assert alpha is None


@settings(max_examples=50)
@given(data=reliability_matrices(), order_seed=st.integers(0, 2**32 - 1))
def test_alpha_does_not_depend_on_the_order_of_raters_or_units(data, order_seed):
    rng = np.random.default_rng(order_seed)
    shuffled = data[rng.permutation(data.shape[0])][:, rng.permutation(data.shape[1])]
    for level in LEVELS:
        before, after = krippendorff_alpha(data, level), krippendorff_alpha(shuffled, level)
        if before is None:
            assert after is None
        else:
            assert after == pytest.approx(before, rel=1e-12, abs=1e-12)


# --- bootstrap ----------------------------------------------------------------------------------


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(data=reliability_matrices(min_raters=3), weights_seed=st.integers(0, 2**32 - 1))
def test_each_vectorised_resample_equals_alpha_of_the_resampled_matrix(data, weights_seed):
    # given the pairable units and how often a few resamples drew each of them
    pairable = data[:, (~np.isnan(data)).sum(axis=0) >= 2]
    if pairable.shape[1] == 0:
        return
    units = _pairable_units(data)
    multiplicity = np.random.default_rng(weights_seed).integers(0, 3, (4, pairable.shape[1]))
    multiplicity[:, 0] += 1  # no empty resample
    for level in LEVELS:
        # when α is computed for all resamples at once
        fast = _alpha_of_resamples(units, level, multiplicity.astype(float))
        # then each equals α recomputed from scratch on the repeated columns
        for row, got in zip(multiplicity, fast, strict=True):
            expected = krippendorff_alpha(np.repeat(pairable, row, axis=1), level)
            if expected is None:
                assert np.isnan(got)
            else:
                assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)


def simulated_ratings(seed: int, *, n_raters: int = 4, n_units: int = 80) -> np.ndarray:
    """Likert 1-5 ratings of units with a true quality, rater noise and 20 % missing."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(0, 1, n_units)
    scores = np.rint(np.clip(3 + truth + rng.normal(0, 0.7, (n_raters, n_units)), 1, 5))
    scores[rng.random(scores.shape) < 0.2] = np.nan
    return scores


@settings(max_examples=10, derandomize=True, deadline=None)
@given(seed=st.integers(0, 10_000), level=st.sampled_from(LEVELS))
def test_bootstrap_interval_brackets_alpha_on_well_behaved_data(seed, level):
    # given moderately reliable simulated ratings
    data = simulated_ratings(seed)
    # when
    low, high = alpha_bootstrap_ci(data, level, n_boot=300, seed=seed)
    # then the percentile interval is ordered, at most 1, and contains the estimate
    assert low <= krippendorff_alpha(data, level) <= high <= 1.0


def test_bootstrap_is_deterministic_for_a_seed_and_narrows_with_confidence():
    data = simulated_ratings(7)
    first = alpha_bootstrap_ci(data, "ordinal", n_boot=400, seed=3)
    assert alpha_bootstrap_ci(data, "ordinal", n_boot=400, seed=3) == first
    low80, high80 = alpha_bootstrap_ci(data, "ordinal", n_boot=400, seed=3, confidence=0.8)
    assert first[0] <= low80 <= high80 <= first[1]


def test_bootstrap_interval_is_the_percentile_interval_of_the_resampled_alphas():
    # given the α of 500 resamples of simulated ratings
    data = simulated_ratings(11)
    alphas = alpha_bootstrap_distribution(data, "interval", n_boot=500, seed=5)
    # when the 90 % interval is asked for with the same seed
    low, high = alpha_bootstrap_ci(data, "interval", n_boot=500, seed=5, confidence=0.9)
    # then it is their 5th and 95th percentiles
    assert alphas.shape == (500,)
    assert (low, high) == tuple(np.quantile(alphas, [0.05, 0.95]))


def test_bootstrap_is_none_when_alpha_is_undefined_and_rejects_bad_arguments():
    assert alpha_bootstrap_ci(np.array([[1, N], [N, 2]]), "nominal") is None
    with pytest.raises(ValueError, match="confidence"):
        alpha_bootstrap_ci(EXAMPLE_C, "nominal", confidence=1.0)
    with pytest.raises(ValueError, match="n_boot"):
        alpha_bootstrap_ci(EXAMPLE_C, "nominal", n_boot=0)


# --- percent agreement and Fleiss' kappa ----------------------------------------------------------


def test_percent_agreement_is_gwets_on_data_with_missing_values():
    # given example C, i.e. irrCAC's cac.raw4raters (eleven units rated twice or more)
    # when / then
    assert round(percent_agreement(EXAMPLE_C), 7) == 0.8181818


def test_percent_agreement_is_none_without_a_unit_rated_twice():
    assert percent_agreement(np.array([[1, N], [N, 1]])) is None


def test_fleiss_kappa_reproduces_fleiss_1971():
    # given 30 patients each diagnosed by 6 psychiatrists (rows are raters after .T)
    kappa = fleiss_kappa(DIAGNOSES.T)
    # then
    assert round(kappa, 3) == 0.430
    assert round(kappa, 7) == 0.4302445


def test_fleiss_kappa_reproduces_the_wikipedia_example():
    assert round(fleiss_kappa(counts_to_reliability(FLEISS_WIKIPEDIA_COUNTS)), 3) == 0.210


def test_fleiss_kappa_with_missing_ratings_is_gwets_generalisation():
    # given units rated by 1 to 4 raters (irrCAC: pa = 0.8181818, pe = 0.2387153)
    # when / then
    assert round(fleiss_kappa(EXAMPLE_C), 5) == 0.76117


def test_fleiss_kappa_is_none_when_one_category_is_used():
    assert fleiss_kappa(np.full((3, 4), 2.0)) is None


@settings(max_examples=50)
@given(data=reliability_matrices(), order_seed=st.integers(0, 2**32 - 1))
def test_fleiss_kappa_and_percent_agreement_ignore_rater_order(data, order_seed):
    shuffled = data[np.random.default_rng(order_seed).permutation(data.shape[0])]
    for statistic in (fleiss_kappa, percent_agreement):
        before, after = statistic(data), statistic(shuffled)
        assert (before is None and after is None) or after == pytest.approx(before)


# --- Cohen's kappa --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "published"),
    [(None, -0.006289308), ("linear", 0.1459075), ("quadratic", 0.2520325)],
)
def test_cohen_kappa_reproduces_irr_on_the_anxiety_data(weights, published):
    # given raters 2 and 3 of irr's anxiety data (categories 1, 2, 3, 4, 6 used)
    kappa = cohen_kappa(ANXIETY[:, 1], ANXIETY[:, 2], weights=weights)
    # then
    assert round(kappa, 7) == round(published, 7)


def test_cohen_kappa_reproduces_irr_and_sas_examples():
    assert round(cohen_kappa(DIAGNOSES[:, 0], DIAGNOSES[:, 1]), 3) == 0.651
    a, b = table_to_pairs([[0, 4, 1], [0, 8, 0], [0, 1, 5]])
    assert round(cohen_kappa(a, b), 4) == 0.4842
    assert round(cohen_kappa(a, b, weights="linear"), 4) == 0.4701


def test_cohen_kappa_drops_pairs_with_a_missing_rating():
    a, b = ANXIETY[:, 1].copy(), ANXIETY[:, 2].copy()
    expected = cohen_kappa(a, b)
    a_more, b_more = np.append(a, [N, 4.0]), np.append(b, [2.0, N])
    assert cohen_kappa(a_more, b_more) == expected
    assert cohen_kappa(np.array([N]), np.array([1.0])) is None


def test_cohen_kappa_weights_use_positions_in_the_given_categories():
    # given an unused category 5 declared between 4 and 6, linear distances change
    a, b = ANXIETY[:, 1], ANXIETY[:, 2]
    declared = cohen_kappa(a, b, weights="linear", categories=[1, 2, 3, 4, 5, 6])
    assert declared != pytest.approx(cohen_kappa(a, b, weights="linear"))
    # and unweighted kappa does not care about unused categories
    assert cohen_kappa(a, b, categories=[1, 2, 3, 4, 5, 6]) == pytest.approx(cohen_kappa(a, b))
    with pytest.raises(ValueError, match="categories"):
        cohen_kappa(a, b, categories=[1, 2, 3])


def test_cohen_kappa_is_none_when_chance_disagreement_is_zero():
    assert cohen_kappa(np.array([2.0, 2.0]), np.array([2.0, 2.0])) is None


def test_cohen_kappa_pairs_reproduces_irr_on_the_anxiety_data():
    # given raters 2 and 3 of irr's anxiety data as a two-rater reliability matrix
    # when every pair is computed
    pairs = cohen_kappa_pairs(ANXIETY[:, 1:3].T)
    # then the one pair has irr's three values
    assert [(p["a"], p["b"], p["n"]) for p in pairs] == [(0, 1, 20)]
    published = {"unweighted": -0.006289308, "linear": 0.1459075, "quadratic": 0.2520325}
    assert {k: round(pairs[0][k], 7) for k in published} == {
        k: round(v, 7) for k, v in published.items()
    }


def test_cohen_kappa_pairs_leaves_out_pairs_with_too_few_units_in_common():
    # given rater 2 shares one unit with rater 0 and none with rater 1
    data = np.array([[1, 2, 3, N], [2, 2, 3, N], [N, N, 1, 2.0]])
    # when / then only the pair (0, 1) is kept, and nothing for an empty matrix
    assert [(p["a"], p["b"], p["n"]) for p in cohen_kappa_pairs(data)] == [(0, 1, 3)]
    assert [(p["a"], p["b"]) for p in cohen_kappa_pairs(data, min_units=1)] == [
        (0, 1),
        (0, 2),
        (1, 2),
    ]
    assert cohen_kappa_pairs(np.full((3, 2), N)) == []


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(reliability_matrices(), reliability_matrices(integer=False)))
def test_cohen_kappa_pairs_equal_cohen_kappa_pair_by_pair_exactly(data):
    # given the categories of the whole matrix
    values = data[~np.isnan(data)]
    categories = np.unique(values)
    # when every pair is computed at once
    pairs = cohen_kappa_pairs(data, min_units=1)
    # then each value is exactly what cohen_kappa gives for the pair alone
    weights = {"unweighted": None, "linear": "linear", "quadratic": "quadratic"}
    expected = [
        {
            "a": i,
            "b": j,
            "n": int((~np.isnan(data[i]) & ~np.isnan(data[j])).sum()),
            **{
                k: cohen_kappa(data[i], data[j], weights=w, categories=categories)
                for k, w in weights.items()
            },
        }
        for i, j in itertools.combinations(range(data.shape[0]), 2)
    ]
    expected = [entry for entry in expected if entry["n"] >= 1]
    assert pairs == expected


# --- Kendall's W ----------------------------------------------------------------------------------


def test_kendall_w_reproduces_irr_without_ties():
    ranks = np.array([[1, 6, 3, 2, 5, 4], [1, 5, 6, 2, 4, 3], [2, 3, 6, 5, 4, 1]], float).T
    result = kendall_w(ranks)
    assert round(result["W"], 3) == 0.568
    assert round(result["chi2"], 2) == 8.52
    assert result["df"] == 5
    assert round(result["p"], 2) == 0.13


def test_kendall_w_reproduces_irr_with_the_correction_for_ties():
    result = kendall_w(ANXIETY)
    assert round(result["W"], 2) == 0.54
    assert round(result["chi2"], 1) == 30.8
    assert result["df"] == 19
    assert round(result["p"], 4) == 0.0429


def test_kendall_w_is_one_for_identical_rankings_and_none_without_variation():
    same = np.tile(np.array([[1.0], [3.0], [2.0], [2.0]]), (1, 4))
    assert kendall_w(same)["W"] == pytest.approx(1.0)
    assert kendall_w(np.ones((4, 3)))["W"] is None
    with pytest.raises(ValueError, match="complete"):
        kendall_w(np.array([[1.0, N], [2.0, 1.0]]))
