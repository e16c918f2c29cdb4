"""One question's interval functions against scipy and closed forms."""


import pytest
from scipy import stats

from misalign_eval.stats.rates import clopper_pearson_interval, question_rate, wilson_interval

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
