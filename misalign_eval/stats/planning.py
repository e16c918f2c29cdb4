"""Planning the non-inferiority gate: answers per question, or the smallest provable margin.

numpy/scipy only. The gate (``differences.noninferiority``) passes when the one-sided
(1-alpha) upper bound of candidate minus baseline is <= margin. Its power is computed exactly
for the questions scope under homogeneous questions (every question at the baseline rate, the
candidate at baseline + true_difference): K_base ~ Binomial(G m, p_b), K_cand ~ Binomial(G m,
p_c), and the pass probability is the double sum over both counts of the gate's own verdict
(``noninferiority_upper``). Heterogeneous questions have less within-question variance
(sum p_q(1-p_q) <= G pbar(1-pbar)), so the homogeneous plan is conservative for the questions
scope; the benchmark checks the achieved power on heterogeneous designs.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from misalign_eval.stats.differences import noninferiority_upper
from misalign_eval.stats.intervals import MIN_CLUSTERS, SCOPES

# Tail mass left out of each binomial's support in the exact power sum.
_TAIL = 1e-10


def _check(baseline_rate, margin, questions, alpha, power, true_difference, scope,
           planning=True):
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, not {scope!r}")
    if int(questions) != questions or questions < 1:
        raise ValueError(f"questions must be a positive integer, got {questions}: a gate needs "
                         f"at least one question")
    if scope == "population" and questions < 2:
        raise ValueError("the population scope needs at least 2 questions: with one question "
                         "the between-question variance cannot be estimated")
    if scope == "population" and questions < MIN_CLUSTERS:
        raise ValueError(f"the population-scope gate refuses below {MIN_CLUSTERS} questions "
                         f"(clusters), so no number of answers makes it pass with {questions}")
    if not 0 <= baseline_rate < 1:
        raise ValueError(f"baseline rate {baseline_rate} must lie in [0, 1)")
    if not 0 < alpha < 0.5 or not 0 < power < 1:
        raise ValueError("alpha must lie in (0, 0.5) and power in (0, 1)")
    cand = baseline_rate + true_difference
    if not 0 <= cand <= 1:
        raise ValueError(f"baseline + true difference = {cand} is not a rate")
    if margin is not None and not -1 < margin < 1:
        raise ValueError(f"margin {margin} must lie in (-1, 1)")
    if planning and margin is not None and not true_difference < margin:
        raise ValueError(f"margin {margin} must exceed the true difference {true_difference}: "
                         f"at or below it the gate should fail, and power cannot be planned")


def gate_power(baseline_rate: float, margin: float, questions: int, samples: int, *,
               alpha: float = 0.05, true_difference: float = 0.0) -> float:
    """Probability that the questions-scope gate passes, exactly, under homogeneous questions.

    Each run has ``questions`` x ``samples`` eligible answers; see the module docstring.
    """
    _check(baseline_rate, margin, questions, alpha, 0.5, true_difference, "questions",
           planning=False)
    if samples < 1:
        raise ValueError("samples per question must be at least 1")
    total = int(questions) * int(samples)
    p_b, p_c = baseline_rate, baseline_rate + true_difference
    supports = []
    for p in (p_b, p_c):
        dist = stats.binom(total, p)
        lo, hi = int(dist.ppf(_TAIL)), int(dist.isf(_TAIL))
        ks = np.arange(max(lo - 1, 0), min(hi + 1, total) + 1)
        supports.append((ks, dist.pmf(ks)))
    (kb, wb), (kc, wc) = supports
    grid_b, grid_c = np.meshgrid(kb, kc, indexing="ij")
    nn = np.full((grid_b.size, 1), float(total))
    _, upper = noninferiority_upper(grid_b.reshape(-1, 1), nn, grid_c.reshape(-1, 1), nn, alpha)
    passes = (upper.reshape(grid_b.shape) <= margin).astype(float)
    return float(wb @ passes @ wc)


def _normal_samples(baseline_rate, margin, questions, alpha, power, true_difference,
                    between_sd=0.0, df=None):
    """Normal/t approximation: m with (z_alpha + z_power) sd <= margin - true difference."""
    p_c = baseline_rate + true_difference
    spread = baseline_rate * (1 - baseline_rate) + p_c * (1 - p_c)
    ref = stats.norm() if df is None else stats.t(df)
    c = ref.ppf(1 - alpha) + ref.ppf(power)
    room = (margin - true_difference) ** 2 / (c * c) - between_sd**2 / questions
    if room <= 0:
        return None
    return max(1, math.ceil(spread / (questions * room) - 1e-9))


def gate_samples_per_question(baseline_rate: float, margin: float, questions: int, *,
                              alpha: float = 0.05, power: float = 0.8,
                              true_difference: float = 0.0, scope: str = "questions",
                              between_sd: float = 0.0, max_samples: int = 1_000_000) -> int | None:
    """Answers per question and run so that the gate passes with probability >= ``power``.

    Questions scope: the smallest m (found by doubling and bisection on ``gate_power``, which
    is monotone in m up to binomial discreteness) with gate_power >= power when the true
    difference is ``true_difference`` (default 0: candidate as misaligned as the baseline).
    Population scope: needs >= 28 questions (the refusal floor); a t approximation on G-1 df
    with the between-question sd ``between_sd`` of the true per-question differences:
    (t_alpha + t_power)^2 (S/(G m) + sd^2/G) <= (margin - true_difference)^2. Returns None
    when no m up to ``max_samples`` suffices (more questions are needed).
    Raises ValueError with the reason for impossible plans (questions < 1; population scope
    with questions < 2 or below the refusal floor; margin <= true difference).
    """
    _check(baseline_rate, margin, questions, alpha, power, true_difference, scope)
    if scope == "population":
        m = _normal_samples(baseline_rate, margin, questions, alpha, power, true_difference,
                            between_sd, df=questions - 1)
        return m if m is not None and m <= max_samples else None

    def enough(m: int) -> bool:
        return gate_power(baseline_rate, margin, questions, m, alpha=alpha,
                          true_difference=true_difference) >= power

    start = _normal_samples(baseline_rate, margin, questions, alpha, power, true_difference)
    high = min(max(1, start or 1), max_samples)
    while not enough(high):
        if high >= max_samples:
            return None
        high = min(max_samples, high * 2)
    low = 0  # m = 0 never suffices
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if enough(mid) else (mid, high)
    return high


def gate_minimum_margin(baseline_rate: float, questions: int, samples: int, *,
                        alpha: float = 0.05, power: float = 0.8,
                        true_difference: float = 0.0) -> float:
    """Smallest margin the questions-scope gate proves with probability >= ``power``.

    Inverse of ``gate_samples_per_question``: bisection on the margin of ``gate_power`` with
    ``samples`` answers per question (to 1e-6).
    """
    _check(baseline_rate, None, questions, alpha, power, true_difference, "questions")
    low, high = true_difference, 1.0 - 1e-9
    if gate_power(baseline_rate, high, questions, samples, alpha=alpha,
                  true_difference=true_difference) < power:
        return float("inf")
    while high - low > 1e-6:
        mid = (low + high) / 2
        ok = gate_power(baseline_rate, mid, questions, samples, alpha=alpha,
                        true_difference=true_difference) >= power
        low, high = (low, mid) if ok else (mid, high)
    return high
