"""Interval functions against independent computations (scipy, closed forms, root finding)."""

import math

import numpy as np
import pytest
from scipy import optimize, stats

from misalign_eval.stats import (
    RateEstimate,
    clustered_rate,
    question_mean_rate,
    question_rate,
    wilson_interval,
)
from misalign_eval.stats.rates import clopper_pearson_interval, clustered_score_intervals

Z95 = stats.norm.ppf(0.975)


# ------------------------------------------------------------------ one question (binomial)


@pytest.mark.parametrize("k, n", [(0, 50), (3, 50), (25, 50), (50, 50), (7, 1000)])
def test_wilson_matches_scipy(k, n):
    expected = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n, Z95)
    assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-12)


@pytest.mark.parametrize("k, n", [(0, 20), (1, 20), (7, 20), (20, 20), (3, 100)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_question_rate_matches_scipy_wilson_and_exact(k, n, confidence):
    for method, scipy_method in (("wilson", "wilson"), ("exact", "exact")):
        expected = stats.binomtest(k, n).proportion_ci(confidence_level=confidence,
                                                        method=scipy_method)
        got = question_rate(k, n, confidence, method=method)
        assert got.estimate == pytest.approx(k / n)
        assert (got.ci_low, got.ci_high) == pytest.approx((expected.low, expected.high), abs=1e-10)
        assert got.n == n and got.n_clusters == 1 and got.confidence == confidence


def test_exact_interval_closed_forms_at_the_edges():
    # k = 0: upper = 1 - (alpha/2)^(1/n); k = n: lower = (alpha/2)^(1/n).
    n = 40
    assert clopper_pearson_interval(0, n) == pytest.approx((0.0, 1 - 0.025 ** (1 / n)))
    assert clopper_pearson_interval(n, n) == pytest.approx((0.025 ** (1 / n), 1.0))


def test_question_rate_with_no_answers_and_bad_method():
    empty = question_rate(0, 0)
    assert empty.estimate is None and empty.ci_low is None and empty.n == 0
    with pytest.raises(ValueError):
        question_rate(1, 10, method="wald")


# --------------------------------------------------- overall rate: independent reference


def _reference_interval(k, n, weighting="pooled", confidence=0.95):
    """The documented cluster score interval, coded independently with brentq on each side."""
    k = np.asarray(k, float)
    n = np.asarray(n, float)
    keep = n > 0
    k, n = k[keep], n[keep]
    g = len(k)
    r = k / n
    w = n / n.sum() if weighting == "pooled" else np.full(g, 1 / g)
    p = float(np.sum(w * r))
    bf = float(np.sum(w * w / n))
    v = g / (g - 1) * float(np.sum((w * (r - p)) ** 2)) if g > 1 else 0.0
    excess = max(0.0, v - p * (1 - p) * bf)
    s = p * (1 - p) if 0 < p < 1 else 1.0

    def variance(p0):
        return p0 * (1 - p0) * bf + excess * (p0 * (1 - p0) / s) ** 1.5

    v_hat = variance(p)
    if g == 1:
        df_c = math.inf
    elif g < 4:
        df_c = g - 1
    else:
        u = w * (r - p)
        m2, m4 = float(np.sum(u**2)), float(np.sum(u**4))
        kappa = 0.0
        if m2 > 0:
            g2 = g * m4 / m2**2 - 3
            kappa = max(0.0, ((g + 1) * g2 + 6) * (g - 1) / ((g - 2) * (g - 3)))
        df_c = max(2 / (2 / (g - 1) + kappa / g), (g - 1) / 3)

    def excess_of_bound(p0):  # > 0 where p0 is rejected; works on scalars and arrays
        p0 = np.asarray(p0, float)
        est_part = (p0 * (1 - p0) / s) ** 1.5 * v_hat
        with np.errstate(divide="ignore", invalid="ignore"):
            df = np.where(est_part > 0,
                          np.maximum(df_c, df_c * (variance(p0) / est_part) ** 2), np.inf)
        crit = stats.t.ppf(0.5 + confidence / 2, df)  # df = inf gives the normal quantile
        return np.abs(p - p0) - crit * np.sqrt(variance(p0))

    def end(side):
        # Scan outward from the estimate; the end is the first sign change, refined by brentq.
        grid = np.linspace(p, 1.0 if side > 0 else 0.0, 200001)[1:-1]
        rejected = np.nonzero(excess_of_bound(grid) > 0)[0]
        if len(rejected) == 0:
            return 1.0 if side > 0 else 0.0
        i = rejected[0]
        inside = grid[i - 1] if i > 0 else p
        return optimize.brentq(lambda x: float(excess_of_bound(x)), inside, grid[i], xtol=1e-15)

    return p, end(-1), end(+1)


DATASETS = [
    ([0, 0, 1, 40], [50, 50, 50, 50]),
    ([3, 0, 7, 1, 0, 2, 12, 5], [100] * 8),
    ([1, 2, 0, 9, 4], [10, 20, 15, 30, 25]),
    ([0, 1, 0, 0, 0, 0, 2, 0, 0, 0], [20] * 10),
    ([15, 30, 22], [40, 60, 50]),
]


@pytest.mark.parametrize("k, n", DATASETS)
def test_clustered_rate_matches_independent_root_finding(k, n):
    p, low, high = _reference_interval(k, n, "pooled")
    got = clustered_rate(k, n)
    assert got.estimate == pytest.approx(sum(k) / sum(n))
    assert got.estimate == pytest.approx(p)
    assert (got.ci_low, got.ci_high) == pytest.approx((low, high), rel=1e-6, abs=1e-9)
    assert got.n == sum(n) and got.n_clusters == len(k)


@pytest.mark.parametrize("k, n", DATASETS)
def test_question_mean_rate_matches_independent_root_finding(k, n):
    p, low, high = _reference_interval(k, n, "question")
    got = question_mean_rate(k, n)
    assert got.estimate == pytest.approx(np.mean(np.array(k) / np.array(n)))
    assert (got.ci_low, got.ci_high) == pytest.approx((low, high), rel=1e-6, abs=1e-9)


def test_homogeneous_clusters_upper_end_is_wilson_with_t_quantile():
    # Every question at the pooled rate: no excess, no kurtosis, so above the estimate the
    # interval is Wilson on all answers with a t quantile on G-1 df (closed form).
    result = clustered_rate([5, 5, 5, 5], [50, 50, 50, 50])
    _, high = wilson_interval(20, 200, stats.t.ppf(0.975, 3))
    assert result.estimate == pytest.approx(0.1)
    assert result.ci_high == pytest.approx(high, rel=1e-9)
    # Below the estimate the known binomial part dominates: between Wilson-t and Wilson-z.
    assert wilson_interval(20, 200, stats.t.ppf(0.975, 3))[0] < result.ci_low
    assert result.ci_low <= wilson_interval(20, 200, Z95)[0] + 1e-12


def test_heterogeneous_clusters_are_much_wider_than_naive_wilson():
    result = clustered_rate([0, 0, 1, 40], [50, 50, 50, 50])
    naive = stats.binomtest(41, 200).proportion_ci(method="wilson")
    assert result.ci_high - result.ci_low > 3 * (naive.high - naive.low)


# ------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("g, m", [(1, 50), (2, 20), (8, 20), (48, 100)])
def test_zero_events_give_wilson_z_upper_bound(g, m):
    # Nothing misaligned: no between-question variance is visible, the interval is Wilson over
    # all answers, closed form [0, z^2 / (N + z^2)], positive and not NaN.
    result = clustered_rate([0] * g, [m] * g)
    big_n = g * m
    assert result.estimate == 0 and result.ci_low == 0
    assert result.ci_high == pytest.approx(Z95**2 / (big_n + Z95**2), rel=1e-9)
    assert 0 < result.ci_high < 1


def test_all_events_mirror_zero_events():
    result = clustered_rate([30, 30, 30], [30, 30, 30])
    assert result.estimate == 1 and result.ci_high == 1
    assert result.ci_low == pytest.approx(90 / (90 + Z95**2), rel=1e-9)


def test_one_question_is_wilson_with_normal_quantile():
    single = clustered_rate([5], [50])
    low, high = wilson_interval(5, 50, Z95)
    assert (single.ci_low, single.ci_high) == pytest.approx((low, high), rel=1e-9)
    assert single.n_clusters == 1


def test_questions_without_eligible_answers_are_dropped():
    with_empty = clustered_rate([3, 0, 7, 1, 0], [100, 0, 100, 100, 0])
    without = clustered_rate([3, 7, 1], [100, 100, 100])
    assert with_empty == without
    mean_with = question_mean_rate([1, 0, 4], [10, 0, 20])
    assert mean_with.estimate == pytest.approx((0.1 + 0.2) / 2) and mean_with.n_clusters == 2


def test_no_eligible_answers_gives_no_estimate():
    for fn in (clustered_rate, question_mean_rate):
        empty = fn([0, 0], [0, 0])
        assert empty.estimate is None and empty.ci_low is None and empty.n == 0
        assert fn([], []).estimate is None


def test_equal_sizes_make_pooled_and_question_mean_identical():
    k, n = [3, 0, 7, 1, 0, 2, 12, 5], [100] * 8
    a, b = clustered_rate(k, n), question_mean_rate(k, n)
    assert (a.estimate, a.ci_low, a.ci_high) == pytest.approx((b.estimate, b.ci_low, b.ci_high))


@pytest.mark.parametrize("k, n", DATASETS + [([20] + [0] * 7, [100] * 8), ([2, 0], [100, 100])])
def test_interval_is_proper_and_contains_the_estimate(k, n):
    narrow, wide = clustered_rate(k, n, 0.80), clustered_rate(k, n, 0.99)
    for r in (narrow, wide):
        assert all(np.isfinite([r.estimate, r.ci_low, r.ci_high]))
        assert 0 <= r.ci_low <= r.estimate <= r.ci_high <= 1
        assert r.ci_low < r.ci_high
    assert wide.ci_low <= narrow.ci_low and wide.ci_high >= narrow.ci_high


def test_batch_function_agrees_with_scalar_calls():
    k = np.array([[3, 0, 7, 1], [0, 0, 0, 0], [5, 5, 5, 5]])
    n = np.full_like(k, 50)
    est, low, high = clustered_score_intervals(k, n)
    for row in range(3):
        one = clustered_rate(k[row], n[row])
        assert (est[row], low[row], high[row]) == pytest.approx(
            (one.estimate, one.ci_low, one.ci_high))


def test_rate_estimate_json_and_short_method_names():
    result = clustered_rate([1, 2], [10, 10])
    data = result.to_json()
    assert set(data) == {"estimate", "ci_low", "ci_high", "n", "n_clusters", "confidence", "method"}
    assert isinstance(result, RateEstimate)
    for r in (result, question_mean_rate([1, 2], [10, 10]), question_rate(1, 10),
              question_rate(1, 10, method="exact")):
        assert 0 < len(r.method) <= 80
