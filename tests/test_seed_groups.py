"""Seed groups and curve statistics in misalign_eval.stats, on counts built here."""

import numpy as np
import pytest

from misalign_eval.stats import (
    difference_interval, first_below, first_difference, group_difference_interval,
    group_rate_interval, rate_interval, trend_test,
)
from misalign_eval.stats.seed_groups import between_seed_variance, group_wilson
from misalign_eval.stats.intervals import stratified_wilson


def test_one_run_per_group_is_exactly_todays_interval_and_difference():
    k = np.array([[3, 0, 12, 0, 0]])
    n = np.array([[40, 38, 41, 0, 39]])
    k2, n2 = np.array([[1, 0, 4, 0, 2]]), np.array([[40, 40, 40, 40, 40]])
    for scope in ("questions", "population"):
        assert group_rate_interval(k, n, scope=scope) == rate_interval(k[0], n[0], scope=scope)
    assert (group_difference_interval(k, n, k2, n2)
            == difference_interval(k[0], n[0], k2[0], n2[0]))
    # The vectorised core too, one-sided and two-sided, before any shortcut.
    for sided in ("two", "one"):
        assert np.allclose(group_wilson(k, n, 0.9, sided)[:3], stratified_wilson(k[0], n[0], 0.9, sided))


def test_between_seed_spread_widens_the_interval_and_agreeing_seeds_do_not():
    rng = np.random.default_rng(4)
    n = np.full((5, 10), 50)
    agreeing = rng.binomial(n, 0.1)
    seed_rates = np.array([0.02, 0.05, 0.1, 0.2, 0.3])[:, None]  # a known between-seed spread
    spread = rng.binomial(n, np.broadcast_to(seed_rates, n.shape))
    tau_agree, _ = between_seed_variance(agreeing, n)
    tau_spread, _ = between_seed_variance(spread, n)
    assert float(tau_agree) < 0.001 and 0.08 < np.sqrt(float(tau_spread)) < 0.15
    one = rate_interval(spread[2], n[2])
    pooled = rate_interval(spread.ravel(), n.ravel())  # all answers as if one run
    group = group_rate_interval(spread, n)
    assert group.n_runs == 5 and group.warning is None
    assert group.high - group.low > 2 * (one.high - one.low)
    assert group.high - group.low > 3 * (pooled.high - pooled.low)
    assert group.estimate == pytest.approx(spread.sum() / n.sum())
    calm = group_rate_interval(agreeing, n)
    assert calm.high - calm.low < (one.high - one.low)  # five agreeing seeds: more data
    few = group_rate_interval(spread[:3], n[:3])
    assert "3 seeds" in few.warning
    assert group_rate_interval(spread, n, scope="population").refusal.startswith("population")


def test_group_difference_uses_the_seed_variation():
    rng = np.random.default_rng(5)
    n = np.full((4, 8), 40)
    a = rng.binomial(n, np.array([0.02, 0.1, 0.2, 0.3])[:, None] * np.ones((1, 8)))
    b = rng.binomial(n, 0.12)
    group = group_difference_interval(a, n, b, n)
    pooled = difference_interval(a.ravel(), n.ravel(), b.ravel(), n.ravel())
    assert group.estimate == pytest.approx(pooled.estimate)
    assert group.high - group.low > pooled.high - pooled.low
    assert group.low < 0 < group.high and group.p_value > 0.05


def test_trend_test_holds_level_given_the_questions_and_finds_a_trend():
    rng = np.random.default_rng(6)
    p = np.array([0.4, 0.3, 0.0, 0.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.02])  # concentrated
    n = rng.binomial(30, 0.8, size=(4, 10))
    flat = [trend_test(rng.binomial(n, p), n, [0, 1, 2, 3], draws=999, seed=s).p_value
            for s in range(200)]
    assert np.mean(np.array(flat) < 0.05) <= 0.08  # level 0.05 (200 draws: SE 0.015)
    rising = rng.binomial(n, np.clip(p * np.array([[0.5], [1], [1.5], [2]]), 0, 1))
    result = trend_test(rising, n, [0, 1, 2, 3])
    assert result.p_value < 0.01 and result.direction == "increasing"
    # Same data, same seed: same p-value; no events at all: nothing to see.
    assert trend_test(rising, n, [0, 1, 2, 3]).p_value == result.p_value
    assert trend_test(np.zeros_like(n), n, [0, 1, 2, 3]).p_value == 1.0


def test_first_difference_is_the_first_point_beyond_the_margin_after_holm():
    n = np.full((4, 10), 100)
    k = np.array([[2] * 10, [3] * 10, [10] * 10, [20] * 10])  # 2%, 3%, 10%, 20%
    res = first_difference(k, n, [0, 10, 20, 30])
    assert res.first_x == 20 and [p.differs for p in res.points] == [False, True, True]
    assert res.points[0].p_holm >= res.points[0].p_value
    # |difference| must exceed 10 pp: only 20% - 2% = 18 pp does, with confidence.
    assert first_difference(k, n, [0, 10, 20, 30], margin=0.1).first_x == 30
    # margin 0 gives the same p-value as difference_interval's test of no difference
    assert res.points[1].p_value == pytest.approx(
        difference_interval(k[0], n[0], k[2], n[2]).p_value, rel=1e-6)


def test_first_below_needs_every_later_point_below_the_threshold():
    n = np.full((5, 10), 60)
    k = np.array([[12] * 10, [3] * 10, [6] * 10, [0] * 10, [1] * 10])  # 20%, 5%, 10%, 0%, 1.7%
    res = first_below(k, n, [0, 1, 2, 3, 4], threshold=0.08)
    assert res.first_x == 3  # the 5% at x = 1 is followed by 10% at x = 2
    assert all(u < 0.08 for u in res.upper_bounds[3:])
    assert first_below(k, n, [0, 1, 2, 3, 4], threshold=0.01).first_x is None
