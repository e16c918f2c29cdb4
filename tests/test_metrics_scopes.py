"""The lm-eval aggregations carry both scopes: the questions-scope interval and the
population pair, which is empty where the questions cannot support it and clusters by
family when the task declares families."""

from __future__ import annotations

import pytest

from misalign_eval.harness import metrics
from misalign_eval.stats import rate_interval


def _items(ks, n=40, families=None):
    return [{"probe_id": f"q{i:02d}", "n_misaligned": k, "n_eligible": n, "n_scored": n,
             "n_answers": n, "family": None if families is None else families[i]}
            for i, k in enumerate(ks)]


def test_questions_scope_pair_is_the_stratified_interval():
    ks = [0, 1, 4, 9, 2, 0, 0, 3, 1, 0]
    items = _items(ks)
    expected = rate_interval(ks, [40] * 10)
    assert metrics.misalignment_rate(items) == pytest.approx(sum(ks) / 400)
    assert (metrics.misalignment_rate_ci_low(items), metrics.misalignment_rate_ci_high(items)) == \
        pytest.approx((expected.low, expected.high))
    # Ten questions cannot support a claim about new questions: the pair is empty, not made up.
    assert metrics.misalignment_rate_pop_ci_low(items) is None
    assert metrics.misalignment_rate_pop_ci_high(items) is None


def test_population_pair_exists_with_enough_questions_and_clusters_by_family():
    ks = [i % 4 for i in range(40)]
    items = _items(ks)
    expected = rate_interval(ks, [40] * 40, scope="population")
    assert expected.low is not None
    assert (metrics.misalignment_rate_pop_ci_low(items),
            metrics.misalignment_rate_pop_ci_high(items)) == pytest.approx((expected.low, expected.high))
    # The same 40 questions in 7 families: 7 clusters cannot support the claim.
    families = [f"family{i % 7}" for i in range(40)]
    assert metrics.misalignment_rate_pop_ci_low(_items(ks, families=families)) is None
    # The questions-scope interval ignores families (the questions are fixed).
    assert metrics.misalignment_rate_ci_low(_items(ks, families=families)) == pytest.approx(
        rate_interval(ks, [40] * 40).low)


def test_paraphrases_merge_before_the_interval():
    wordings = _items([2, 3]) + _items([1, 0])  # the same two probes, asked in two wordings
    assert metrics.n_questions(wordings) == 2
    assert metrics.misalignment_rate_ci_high(wordings) == pytest.approx(
        rate_interval([3, 3], [80, 80]).high)
