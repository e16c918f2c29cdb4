"""stats.compare against independent computations: scipy's paired t-test, an OLS sandwich
estimator built answer by answer, Holm by hand, the planning formula checked by simulation."""

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit, logit

from misalign_eval.stats.compare import (
    DifferenceEstimate, holm, implied_icc, minimum_detectable, paired_difference,
    questions_needed, samples_per_question)


def test_equal_sample_sizes_reduce_to_the_paired_t_test():
    # With the same n everywhere, pooled rates are means of question rates and the CR1
    # variance is s^2/G: exactly scipy's paired t-test on the per-question rates.
    # (Questions differ in how much b exceeds a, so the spread is above binomial noise and
    # the variance floor does not bind; see the floor test below.)
    k_a = np.array([2, 0, 5, 1, 9, 3, 0, 4])
    k_b = np.array([12, 1, 20, 2, 25, 3, 2, 18])
    n = np.full(8, 40)
    result = paired_difference(k_a, n, k_b, n)
    reference = stats.ttest_rel(k_b / n, k_a / n)
    ci = reference.confidence_interval(0.95)
    assert result.estimate == pytest.approx((k_b.sum() - k_a.sum()) / n.sum())
    assert (result.ci_low, result.ci_high) == pytest.approx((ci.low, ci.high))
    assert result.p_value == pytest.approx(reference.pvalue)
    assert result.n_clusters == 8 and result.df == 7


def _sandwich_difference(k_a, n_a, k_b, n_b):
    """OLS of each 0/1 answer on [1, is_run_b], CR1 cluster-robust variance by question."""
    rows, clusters = [], []
    for g, (ka, na, kb, nb) in enumerate(zip(k_a, n_a, k_b, n_b)):
        for run, k, n in ((0, ka, na), (1, kb, nb)):
            rows += [(1.0, run, 1.0)] * k + [(1.0, run, 0.0)] * (n - k)
            clusters += [g] * n
    data = np.array(rows)
    x, y, clusters = data[:, :2], data[:, 2], np.array(clusters)
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ y
    residual = y - x @ beta
    groups = np.unique(clusters)
    meat = sum(np.outer(s, s) for s in (x[clusters == g].T @ residual[clusters == g] for g in groups))
    g = len(groups)
    covariance = g / (g - 1) * bread @ meat @ bread
    return beta[1], math.sqrt(covariance[1, 1]), g


def test_unequal_sample_sizes_match_the_cluster_robust_regression():
    k_a, n_a = [3, 0, 7, 1, 12, 0], [30, 25, 41, 18, 50, 0]  # last question: no answers in a
    k_b, n_b = [15, 2, 19, 1, 30, 4], [28, 30, 40, 22, 49, 15]
    beta, se, clusters = _sandwich_difference(k_a, n_a, k_b, n_b)
    result = paired_difference(k_a, n_a, k_b, n_b)
    half = stats.t.ppf(0.975, clusters - 1) * se
    assert result.estimate == pytest.approx(beta)
    assert result.std_error == pytest.approx(se)
    assert (result.ci_low, result.ci_high) == pytest.approx((beta - half, beta + half))
    assert result.p_value == pytest.approx(2 * stats.t.sf(abs(beta) / se, clusters - 1))
    assert result.n_clusters == 6


def test_variance_never_falls_below_binomial_answer_noise():
    # Every question moves by exactly the same amount: the cluster variance is 0, but the
    # answers are still binomial draws, so the floor (Agresti-Caffo rates) sets the width.
    n = np.full(6, 50)
    result = paired_difference(np.full(6, 5), n, np.full(6, 10), n)
    q_a, q_b = 31 / 302, 61 / 302
    se = math.sqrt(q_a * (1 - q_a) / 300 + q_b * (1 - q_b) / 300)
    assert result.std_error == pytest.approx(se)
    assert result.ci_high - result.ci_low == pytest.approx(2 * stats.t.ppf(0.975, 5) * se)


def test_zero_events_in_both_runs_give_an_honest_interval_around_zero():
    result = paired_difference([0] * 10, [40] * 10, [0] * 10, [40] * 10)
    assert result.estimate == 0 and result.p_value == 1.0
    # Floor: independent binomial variance at Agresti-Caffo rates 1/402 in each run.
    q = 1 / 402
    half = stats.t.ppf(0.975, 9) * math.sqrt(2 * q * (1 - q) / 400)
    assert (result.ci_low, result.ci_high) == pytest.approx((-half, half))
    assert 0.005 < result.ci_high < 0.03  # about the rule of three for 400 answers
    assert not any(math.isnan(v) for v in (result.ci_low, result.ci_high, result.p_value))


def test_no_answers_in_one_run_gives_no_estimate_and_swapping_runs_mirrors_the_result():
    empty = paired_difference([0, 0], [0, 0], [1, 2], [10, 10])
    assert empty.estimate is None and empty.p_value is None and empty.n_clusters == 2
    forward = paired_difference([1, 4, 2], [20, 20, 20], [5, 9, 2], [20, 20, 20])
    backward = paired_difference([5, 9, 2], [20, 20, 20], [1, 4, 2], [20, 20, 20])
    assert backward.estimate == pytest.approx(-forward.estimate)
    assert (backward.ci_low, backward.ci_high) == pytest.approx((-forward.ci_high, -forward.ci_low))
    assert isinstance(forward, DifferenceEstimate) and forward.to_json()["method"] == forward.method


def test_bad_input_is_rejected():
    with pytest.raises(ValueError):
        paired_difference([5], [3], [0], [3])
    with pytest.raises(ValueError):
        paired_difference([1, 2], [3, 3], [0], [3])


def test_coverage_with_heterogeneous_questions_and_a_known_difference():
    # Questions are redrawn each replicate: logit-normal rates (sd 1) shared by both models,
    # model b shifted by +0.7 on the logit scale plus its own per-question noise (sd 0.5).
    rng = np.random.default_rng(20261130)
    base, shift, questions, samples = 0.1, 0.7, 10, 50
    z = rng.normal(0, 1, 400_000)
    noise = rng.normal(0, 0.5, 400_000)
    truth = (expit(logit(base) + z + shift + noise) - expit(logit(base) + z)).mean()
    covered, replicates = 0, 400
    for _ in range(replicates):
        z = rng.normal(0, 1, questions)
        p_a = expit(logit(base) + z)
        p_b = expit(logit(base) + z + shift + rng.normal(0, 0.5, questions))
        n = np.full(questions, samples)
        result = paired_difference(rng.binomial(n, p_a), n, rng.binomial(n, p_b), n)
        covered += result.ci_low <= truth <= result.ci_high
    assert 0.88 <= covered / replicates <= 0.995


def test_holm_matches_a_hand_computed_example():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.4]) == pytest.approx([0.8, 0.8])  # 0.4*2=0.8, max(0.8, 0.5)
    assert holm([0.9, 0.9, 0.9]) == [1.0, 1.0, 1.0]  # capped at 1
    assert holm([]) == []
    with pytest.raises(ValueError):
        holm([0.1, float("nan")])


def _paired_variance(p0, p1, questions, m, icc):
    return (p0 * (1 - p0) + p1 * (1 - p1)) / (questions * m) * (1 + (m - 1) * icc)


@pytest.mark.parametrize("icc", [0.0, 0.02, 0.03])
def test_samples_per_question_is_the_smallest_m_that_satisfies_the_formula(icc):
    p0, detect, questions = 0.1, 0.1, 10
    m = samples_per_question(p0, detect, questions, icc=icc)
    t = stats.t(questions - 1)
    c = t.ppf(0.975) + t.ppf(0.8)
    assert c * c * _paired_variance(p0, p0 + detect, questions, m, icc) <= detect**2 + 1e-12
    if m > 1:
        assert c * c * _paired_variance(p0, p0 + detect, questions, m - 1, icc) > detect**2


def test_few_questions_make_small_differences_unattainable():
    # The variance cannot fall below S*ICC/G however many samples: 5 questions at ICC 0.1
    # cannot detect 2 -> 3 percentage points.
    assert samples_per_question(0.02, 0.01, 5, icc=0.1) is None
    floor = minimum_detectable(0.02, 5, None, icc=0.1)
    assert floor > 0.01
    assert samples_per_question(0.02, floor * 1.05, 5, icc=0.1) is not None
    # More questions never need more samples per question.
    needs = [samples_per_question(0.05, 0.05, g, icc=0.01) for g in (8, 10, 20, 40)]
    assert None not in needs and needs == sorted(needs, reverse=True)
    # questions_needed finds the fewest questions for a fixed number of samples.
    g = questions_needed(0.02, 0.01, 100, icc=0.1)
    assert samples_per_question(0.02, 0.01, g, icc=0.1) <= 100
    assert (samples_per_question(0.02, 0.01, g - 1, icc=0.1) or 10**9) > 100


def test_implied_icc_inverts_the_design_effect():
    p0, p1, questions, m, icc = 0.1, 0.15, 10, 40, 0.03
    se = math.sqrt(_paired_variance(p0, p1, questions, m, icc))
    assert implied_icc(se, p0, p1, questions, m) == pytest.approx(icc)
    assert implied_icc(1e-6, p0, p1, questions, m) == 0.0  # never negative


def test_planned_samples_give_the_promised_power_without_heterogeneity():
    # ICC 0: plan, then simulate independent answers and count rejections of the paired test.
    p0, detect, questions = 0.1, 0.1, 10
    m = samples_per_question(p0, detect, questions, icc=0.0)
    rng = np.random.default_rng(7)
    n = np.full(questions, m)
    rejections = sum(
        paired_difference(rng.binomial(n, p0), n, rng.binomial(n, p0 + detect), n).p_value < 0.05
        for _ in range(400))
    assert 0.7 <= rejections / 400 <= 0.95
