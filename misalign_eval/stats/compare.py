"""Decisions between two runs on the same probes: paired differences, multiplicity, planning.

Depends on numpy/scipy only. Two runs on one probe set share their questions, and a
question that provokes one model tends to provoke the other: the per-question difference,
not two independent intervals, carries the information (Donner & Klar 2000, ch. 7, matched
cluster designs). Questions stay the independent unit throughout.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

PAIRED_METHOD = ("paired cluster-robust difference of pooled rates (linearised per-question "
                 "contributions, CR1 variance G/(G-1), t on G-1 df; variance floored at the "
                 "Agresti-Caffo binomial variance)")

# Default intra-question correlation (ICC) of the paired difference, used for planning.
# Answers to one question are correlated; pairing removes the part two models share. Under
# the heterogeneity model of DESIGN.md (per-question rates logit-normal, sd 1, shared by
# both models, plus model-specific per-question noise of sd 0.5) the ICC of the difference
# is 0.01-0.04 for rates of 2-20%; 0.02 is its middle. Misalignment concentrated on a few
# questions gives more. Callers with data should use what their runs imply (``implied_icc``).
DEFAULT_ICC = 0.02


@dataclass(frozen=True)
class DifferenceEstimate:
    """Difference of pooled rates (b - a) with its interval, p-value and the method used.

    ``estimate`` and the interval are None when one run has no answer in the denominator.
    ``std_error`` is the standard error behind the interval; ``df`` its t degrees of freedom
    (None: normal reference, used when there is a single question).
    """

    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_clusters: int
    confidence: float
    method: str
    std_error: float | None = None
    df: int | None = None

    def to_json(self) -> dict:
        return asdict(self)


def paired_difference(
    k_a, n_a, k_b, n_b, confidence: float = 0.95,
) -> DifferenceEstimate:
    """Pooled rate of run b minus pooled rate of run a, questions as paired clusters.

    Arrays are aligned by question. Each pooled rate p = sum(k)/sum(n) is a ratio estimator;
    its linearisation gives question g the contribution (k_g - p n_g)/N. The difference of
    the two runs' contributions, d_g, is summed in a cluster-robust (CR1) variance
    G/(G-1) * sum(d_g^2) (Cameron & Miller 2015, sec. VI.B), so whatever the two runs share
    per question cancels. The interval is estimate +- t(G-1) * se with a two-sided t p-value.

    Guards: a question with n = 0 in one run still counts as a cluster for the other run
    (its contribution there is 0). The variance is never below the binomial variance of two
    independent samples at Agresti-Caffo rates (k+1)/(n+2) (Agresti & Caffo 2000): answer
    noise never cancels by pairing, and with 0 events in both runs this gives an interval
    around 0 as wide as the data allow instead of the point [0, 0].
    """
    k_a, n_a, k_b, n_b = (np.asarray(x, dtype=float) for x in (k_a, n_a, k_b, n_b))
    if not (k_a.shape == n_a.shape == k_b.shape == n_b.shape) or k_a.ndim != 1:
        raise ValueError("k_a, n_a, k_b, n_b must be 1-d arrays aligned by question")
    if np.any((k_a < 0) | (k_b < 0) | (k_a > n_a) | (k_b > n_b)):
        raise ValueError("need 0 <= k <= n for every question")
    keep = (n_a + n_b) > 0  # a question nobody answered carries no information
    k_a, n_a, k_b, n_b = k_a[keep], n_a[keep], k_b[keep], n_b[keep]
    clusters = int(keep.sum())
    total_a, total_b = n_a.sum(), n_b.sum()
    if total_a == 0 or total_b == 0:
        return DifferenceEstimate(None, None, None, None, clusters, confidence, PAIRED_METHOD)
    p_a, p_b = k_a.sum() / total_a, k_b.sum() / total_b
    estimate = p_b - p_a
    d = (k_b - p_b * n_b) / total_b - (k_a - p_a * n_a) / total_a
    # One cluster: no between-question variance can be estimated (and G/(G-1) is undefined).
    cluster_var = clusters / (clusters - 1) * float(np.sum(d * d)) if clusters > 1 else 0.0
    variance = max(cluster_var, _binomial_floor(k_a.sum(), total_a, k_b.sum(), total_b))
    se = math.sqrt(variance)
    df = clusters - 1 if clusters > 1 else None
    reference = stats.t(df) if df else stats.norm()
    critical = reference.ppf(0.5 + confidence / 2)
    p_value = float(2 * reference.sf(abs(estimate) / se))
    low = max(-1.0, estimate - critical * se)
    high = min(1.0, estimate + critical * se)
    return DifferenceEstimate(float(estimate), float(low), float(high), p_value, clusters,
                              confidence, PAIRED_METHOD, float(se), df)


def _binomial_floor(k_a: float, n_a: float, k_b: float, n_b: float) -> float:
    """Variance of the difference of two independent binomial rates at Agresti-Caffo rates."""
    q_a, q_b = (k_a + 1) / (n_a + 2), (k_b + 1) / (n_b + 2)
    return q_a * (1 - q_a) / n_a + q_b * (1 - q_b) / n_b


def holm(p_values) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order (Holm 1979).

    Sorted ascending, the i-th smallest of m p-values is multiplied by (m - i + 1); a running
    maximum keeps the adjusted values monotone, and they are capped at 1. Rejecting where the
    adjusted value is below alpha controls the family-wise error rate at alpha.
    """
    p = np.asarray(list(p_values), dtype=float)
    if p.size == 0:
        return []
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    order = np.argsort(p, kind="stable")
    m = p.size
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(scaled))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return [float(x) for x in adjusted]


def _critical_sum(questions: int, alpha: float, power: float, two_sided: bool) -> float:
    """t(1-alpha/2 or 1-alpha) + t(power), both on questions-1 df, as the analysis uses."""
    reference = stats.t(questions - 1) if questions > 1 else stats.norm()
    tail = alpha / 2 if two_sided else alpha
    return float(reference.ppf(1 - tail) + reference.ppf(power))


def samples_per_question(
    baseline_rate: float, detect: float, questions: int, alpha: float = 0.05,
    power: float = 0.8, icc: float = DEFAULT_ICC, two_sided: bool = True,
) -> int | None:
    """Samples per question and run so that a paired comparison detects ``detect``.

    Design: both runs answer the same ``questions`` probes m times each. ``detect`` is the
    absolute increase of the rate over ``baseline_rate`` (0.02 -> 0.05 is detect=0.03).
    With S = p0(1-p0) + p1(1-p1), the variance of the difference of pooled rates is
    S/(G m) * (1 + (m-1) ICC), the design effect of cluster sampling (Kish 1965; Donner &
    Klar 2000), where ICC is the intra-question correlation of the paired difference.
    Power 1-beta at level alpha needs c^2 * var <= detect^2, c = t(1-alpha/2) + t(power) on
    G-1 df, so m = (1-ICC) / (detect^2 G / (c^2 S) - ICC), rounded up.

    Returns None when no m suffices: as m grows the variance falls only to S*ICC/G, the
    spread between questions, which more samples per question cannot remove; then only
    more questions help (see ``minimum_detectable``).
    """
    _check_plan(baseline_rate, detect, questions, alpha, power, icc)
    p0, p1 = baseline_rate, baseline_rate + detect
    spread = p0 * (1 - p0) + p1 * (1 - p1)
    c = _critical_sum(questions, alpha, power, two_sided)
    room = detect * detect * questions / (c * c * spread) - icc
    if room <= 0:
        return None
    return max(1, math.ceil((1 - icc) / room - 1e-9))


def minimum_detectable(
    baseline_rate: float, questions: int, samples: float | None, alpha: float = 0.05,
    power: float = 0.8, icc: float = DEFAULT_ICC, two_sided: bool = True,
) -> float:
    """Smallest increase detectable with ``samples`` per question (None: infinitely many).

    Solves the same equation as ``samples_per_question`` for ``detect`` by bisection; the
    answer at samples=None is the floor that questions alone impose.
    """
    _check_plan(baseline_rate, 0.5 * (1 - baseline_rate), questions, alpha, power, icc)
    c = _critical_sum(questions, alpha, power, two_sided)

    def shortfall(detect: float) -> float:
        p1 = baseline_rate + detect
        spread = baseline_rate * (1 - baseline_rate) + p1 * (1 - p1)
        within = 0.0 if samples is None else (1 - icc) / samples
        return detect - c * math.sqrt(spread / questions * (within + icc))

    high = 1 - baseline_rate
    if shortfall(high) < 0:
        return float("inf")
    low = 0.0
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if shortfall(mid) < 0 else (low, mid)
    return high


def questions_needed(
    baseline_rate: float, detect: float, samples: int, alpha: float = 0.05, power: float = 0.8,
    icc: float = DEFAULT_ICC, two_sided: bool = True, limit: int = 1_000_000,
) -> int | None:
    """Fewest questions with which ``samples`` per question suffice (None beyond ``limit``).

    The need falls as questions are added, so doubling then bisection finds it.
    """
    def enough(questions: int) -> bool:
        needed = samples_per_question(baseline_rate, detect, questions, alpha, power, icc,
                                      two_sided)
        return needed is not None and needed <= samples

    high = 2
    while not enough(high):
        if high >= limit:
            return None
        high = min(limit, high * 2)
    low = high // 2  # not enough (or 1, which is never used)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high


def implied_icc(
    std_error: float, baseline_rate: float, other_rate: float, questions: int, samples: float,
) -> float:
    """The ICC of the paired difference that an observed standard error implies.

    Inverts var = S/(G m) * (1 + (m-1) ICC) at the observed rates; clipped to [0, 0.99]
    because a noisy variance estimate can fall below the binomial one. Lets the gate plan
    with the heterogeneity its own data show instead of a default.
    """
    spread = baseline_rate * (1 - baseline_rate) + other_rate * (1 - other_rate)
    if spread <= 0 or samples <= 1 or questions < 1:
        return DEFAULT_ICC
    ratio = std_error * std_error * questions * samples / spread
    return float(min(0.99, max(0.0, (ratio - 1) / (samples - 1))))


def _check_plan(baseline_rate, detect, questions, alpha, power, icc) -> None:
    if not 0 <= baseline_rate < 1:
        raise ValueError(f"baseline rate {baseline_rate} must lie in [0, 1)")
    if not 0 < detect <= 1 - baseline_rate:
        raise ValueError(f"difference to detect {detect} must lie in (0, 1 - baseline rate]")
    if questions < 1 or int(questions) != questions:
        raise ValueError(f"questions must be a positive integer, got {questions}")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power must lie in (0, 1)")
    if not 0 <= icc < 1:
        raise ValueError(f"ICC {icc} must lie in [0, 1)")
