"""Interval functions against independent computations (scipy, closed forms)."""

import numpy as np
import pytest
from scipy import stats

from misalign_eval.stats import clustered_rate, wilson_interval


@pytest.mark.parametrize("k, n", [(0, 50), (3, 50), (25, 50), (50, 50), (7, 1000)])
def test_wilson_matches_scipy(k, n):
    expected = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = wilson_interval(k, n, stats.norm.ppf(0.975))
    assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_homogeneous_clusters_give_wilson_with_t_quantile():
    # Every question has exactly the pooled rate: no between-question variance, deff floors at 1.
    result = clustered_rate([5, 5, 5, 5], [50, 50, 50, 50])
    low, high = wilson_interval(20, 200, stats.t.ppf(0.975, 3))
    assert result.estimate == pytest.approx(0.1)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high))
    assert result.n == 200 and result.n_clusters == 4


def test_heterogeneous_clusters_widen_the_interval_by_the_design_effect():
    k, n = np.array([0, 0, 1, 40]), np.array([50, 50, 50, 50])
    result = clustered_rate(k, n)
    p = k.sum() / n.sum()
    cluster_var = 4 / 3 * np.sum((k - p * n) ** 2) / n.sum() ** 2
    deff = cluster_var / (p * (1 - p) / n.sum())
    low, high = wilson_interval(p * n.sum() / deff, n.sum() / deff, stats.t.ppf(0.975, 3))
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high))
    naive = stats.binomtest(41, 200).proportion_ci(method="wilson")
    assert result.ci_high - result.ci_low > 3 * (naive.high - naive.low)


def test_zero_events_give_a_positive_upper_bound():
    result = clustered_rate([0] * 10, [50] * 10)
    assert result.estimate == 0 and result.ci_low == 0
    assert 0 < result.ci_high < 0.05


def test_no_eligible_answers_gives_no_estimate_and_one_cluster_uses_normal_quantile():
    empty = clustered_rate([0, 0], [0, 0])
    assert empty.estimate is None and empty.n == 0
    single = clustered_rate([5], [50])
    low, high = wilson_interval(5, 50, stats.norm.ppf(0.975))
    assert (single.ci_low, single.ci_high) == pytest.approx((low, high))
