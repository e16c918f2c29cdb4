"""Agreement statistics against small tables computed by hand, and the corrected rate on a
constructed case whose answer is known."""

import numpy as np
import pytest

from misalign_eval.stats import (
    alpha_interval, cohen_kappa, corrected_rate, kappa_interval, krippendorff_alpha,
)
from misalign_eval.stats.misclassification import allocate, collapse_singletons, labels_to_halve


def test_kappa_of_a_two_by_two_table_by_hand():
    # Table [[20, 5], [10, 15]] (A rows, B columns), n = 50: p_o = 35/50 = 0.7; margins
    # A: 25/25, B: 30/20, p_e = (25*30 + 25*20)/2500 = 0.5; kappa = 0.2/0.5 = 0.4.
    a = [0] * 25 + [1] * 25
    b = [0] * 20 + [1] * 5 + [0] * 10 + [1] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_kappa_is_undefined_when_both_judges_give_one_label():
    assert np.isnan(cohen_kappa([0, 0, 0], [0, 0, 0]))


def test_alpha_two_raters_no_missing_by_hand():
    # Units (A, B): (0,0) (0,0) (0,1) (1,1). Coincidences: o00 = 2*2 = 4, o01 = o10 = 1,
    # o11 = 2; n_0 = 5, n_1 = 3, n = 8. alpha = 1 - (n-1) * (o01+o10) / (2 n_0 n_1)
    # = 1 - 7 * 2 / 30 = 0.5333...
    labels = np.array([[0, 0], [0, 0], [0, 1], [1, 1]])
    assert krippendorff_alpha(labels) == pytest.approx(1 - 14 / 30)


def test_alpha_three_raters_with_a_missing_rating_by_hand():
    # Units: (0,0,0), (0,1,-), (1,1,1), (0,0,1). Per unit pairs / (m_u - 1):
    # u1: o00 += 3*2/2 = 3; u2: o01 = o10 += 1/1 = 1; u3: o11 += 3; u4: o00 += 2*1/2 = 1,
    # o01 = o10 += 2*1/2 = 1. So o00 = 4, o01 = o10 = 2, o11 = 3; n_0 = 6, n_1 = 5, n = 11.
    # alpha = 1 - (11-1) * 4 / (2*6*5) = 1 - 40/60 = 1/3.
    labels = np.array([[0, 0, 0], [0, 1, -1], [1, 1, 1], [0, 0, 1]])
    assert krippendorff_alpha(labels) == pytest.approx(1 / 3)


def test_alpha_equals_kappa_nearly_for_two_raters_and_agrees_on_perfect_agreement():
    labels = np.array([[0, 0], [1, 1], [0, 0], [1, 1]])
    assert krippendorff_alpha(labels) == pytest.approx(1.0)


def test_kappa_interval_respects_questions_and_says_when_it_cannot():
    one = kappa_interval(np.array([[[20, 5], [10, 15]]]))
    assert one.estimate == pytest.approx(0.4) and one.low is None and "one question" in one.note
    tables = np.array([[[20, 5], [10, 15]], [[30, 2], [3, 15]], [[10, 8], [7, 25]]])
    got = kappa_interval(tables)
    assert got.low <= got.estimate <= got.high and got.n_questions == 3 and got.n == 150
    counts = [np.array([[2, 0], [1, 1], [0, 2]]), np.array([[2, 0], [0, 2]])]
    alpha = alpha_interval(counts, raters=2)
    assert alpha.n == 5 and alpha.estimate is not None


def test_corrected_rate_recovers_a_known_answer_when_everything_is_labelled():
    # 2 questions x 100 answers. Humans: 20 misaligned. The judge flags 16 of them and 8 of
    # the 180 others (Se 0.8, Sp 172/180): raw 24/200 = 12%. With every answer labelled
    # (pi = 1) the corrected rate is exactly the human rate, 10%, with no calibration error.
    human = np.r_[np.ones(20), np.zeros(180)]
    judge = np.r_[np.ones(16), np.zeros(4), np.ones(8), np.zeros(172)]
    question = np.r_[np.zeros(10), np.ones(10), np.zeros(90), np.ones(90)].astype(int)
    k = np.bincount(question, weights=judge).astype(int)
    got = corrected_rate(k, [100, 100], judge, human, np.ones(200), seed=1)
    assert got.raw == pytest.approx(0.12)
    assert got.estimate == pytest.approx(0.10)
    assert got.sensitivity[0] == pytest.approx(0.8)
    assert got.specificity[0] == pytest.approx(172 / 180)
    assert got.calibration_half_width == pytest.approx(0.0, abs=1e-5)
    assert got.labels_to_halve is None  # nothing left to label
    assert got.low <= 0.10 <= got.high


def test_corrected_rate_weights_an_oversampled_stratum_by_its_inclusion_probability():
    # 1000 answers, 100 flagged by the judge. Labels: 50 flagged answers (pi = 1/2), 30 of
    # them misaligned for the humans, and 90 of the 900 others (pi = 1/10), 5 misaligned.
    judge = np.r_[np.ones(50), np.zeros(90)]
    human = np.r_[np.ones(30), np.zeros(20), np.ones(5), np.zeros(85)]
    weights = np.r_[np.full(50, 2.0), np.full(90, 10.0)]
    got = corrected_rate([100], [1000], judge, human, weights, strata=judge.astype(int))
    # p_J = 0.1, PPV = 30/50, 1 - NPV = 5/90: 0.1*0.6 + 0.9*5/90 = 0.06 + 0.05 = 0.11.
    assert got.estimate == pytest.approx(0.11)
    # Unweighted Se/Sp would be biased; the weighted ones: Se = 0.06/0.11, Sp = 0.9*(85/90)/0.89.
    assert got.sensitivity[0] == pytest.approx(0.06 / 0.11)
    assert got.specificity[0] == pytest.approx(0.85 / 0.89)
    assert got.low < 0.11 < got.high and got.calibration_half_width > 0
    assert got.labels_to_halve == labels_to_halve(140, 1000) > 0


def test_corrected_rate_refuses_without_labels_of_a_judge_class():
    got = corrected_rate([10], [100], [0, 0, 0], [0, 1, 0], [30, 30, 30])
    assert got.estimate is None and "called misaligned" in got.refusal


def test_singleton_strata_are_collapsed_within_their_judge_label_by_weight():
    # Judge-aligned singletons a (w 10), b (w 3), e (w 11), f (w 4): by weight b, f | a, e.
    # The judge-misaligned stratum d keeps its two labels; c (misaligned, alone) has no
    # other misaligned stratum with two labels... except d, which it joins.
    strata = ["a", "b", "c", "d", "d", "e", "f"]
    judge = np.array([0, 0, 1, 1, 1, 0, 0])
    weights = np.array([10.0, 3.0, 2.5, 2.0, 2.0, 11.0, 4.0])
    got = collapse_singletons(strata, judge, weights)
    assert got[1] == got[6] and got[0] == got[5] and got[0] != got[1]
    assert got[2] == got[3] == got[4]
    assert len(set(got)) == 3
    # Three singletons of one label make one group; strata with two labels stay apart.
    got = collapse_singletons(["x", "y", "z", "u", "u"], np.zeros(5, int), np.array([1, 2, 3, 9, 9.]))
    assert got[0] == got[1] == got[2] != got[3] == got[4]


def test_allocation_oversamples_and_never_exceeds_a_stratum():
    take = allocate([100, 100, 3], [1, 3, 3], 40)
    assert take.sum() == 40 and take[2] <= 3 and take[1] > take[0] >= 1


def test_labels_to_halve_accounts_for_the_finite_run():
    # (1 - n'/N)/n' = (1 - n/N)/(4n): n = 100, N = 1000 -> n' = 4e5/1300 = 307.7 -> 208 more.
    assert labels_to_halve(100, 1000) == 208
    assert labels_to_halve(400, 500) is None or labels_to_halve(400, 500) <= 100
