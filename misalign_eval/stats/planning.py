"""Planning the non-inferiority gate: answers per question, or the smallest provable margin.

numpy/scipy only. The gate (``differences.noninferiority``) passes when the one-sided
(1-alpha) upper bound of candidate minus baseline is <= margin. Its power is computed exactly
for the questions scope under homogeneous questions (every question at the baseline rate, the
candidate at baseline + true_difference): K_base ~ Binomial(G m, p_b), K_cand ~ Binomial(G m,
p_c), and the pass probability is the double sum over both counts of the gate's own verdict
(``noninferiority_upper``). Heterogeneous questions have less within-question variance
(sum p_q(1-p_q) <= G pbar(1-pbar)), so the homogeneous plan is conservative for the questions
scope; the benchmark checks the achieved power on heterogeneous designs.

The population-scope gate's power depends on how the rates spread over questions (its bound
carries the between-question variance, skew-aware), so it is simulated with the gate's own
bound (``paired_population.paired_score``): G questions drawn from a population of question
rates (the baseline's observed ones, or a logit-normal with a given sd), answers drawn for
both runs, PASS counted. A t approximation with homogeneous questions, tried first, planned
m that reached only 0.62-0.72 power for a 0.8 target in the benchmark's designs.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from misalign_eval.stats.differences import noninferiority_upper
from misalign_eval.stats.intervals import MIN_CLUSTERS, SCOPES
from misalign_eval.stats.paired_population import paired_score

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


def _normal_samples(baseline_rate, margin, questions, alpha, power, true_difference):
    """Normal approximation: m with (z_alpha + z_power) sd <= margin - true difference."""
    p_c = baseline_rate + true_difference
    spread = baseline_rate * (1 - baseline_rate) + p_c * (1 - p_c)
    c = stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)
    room = (margin - true_difference) ** 2 / (c * c)
    return max(1, math.ceil(spread / (questions * room) - 1e-9))


# Population-scope power simulation: replicates, and the size of a logit-normal population.
POWER_REPLICATES = 2000
_POPULATION_SIZE = 20000


def logit_normal_rates(mean_rate: float, sd: float, size: int = _POPULATION_SIZE,
                       seed: int = 0) -> np.ndarray:
    """Question rates expit(mu + sd Z) whose mean is ``mean_rate`` (mu by bisection): a
    population of questions for planning; sd 0.5 light, 1 moderate, 2 heavy heterogeneity
    (a few questions carry most of the misalignment)."""
    if not 0 < mean_rate < 1 or sd < 0:
        raise ValueError("the mean rate must lie in (0, 1) and the sd be at least 0")
    return _with_mean(sd * np.random.default_rng(seed).standard_normal(size), mean_rate)


def _shifted(rates: np.ndarray, difference: float) -> np.ndarray:
    """The rates shifted on the logit so that their mean rises by ``difference``."""
    if difference == 0:
        return rates
    return _with_mean(special.logit(np.clip(rates, 1e-12, 1 - 1e-12)), rates.mean() + difference)


def _with_mean(logits: np.ndarray, mean_rate: float) -> np.ndarray:
    """expit(logits + s), the one shift s (by bisection) that makes their mean ``mean_rate``."""
    low, high = -40.0, 40.0
    for _ in range(80):
        mid = (low + high) / 2
        low, high = (mid, high) if special.expit(logits + mid).mean() < mean_rate else (low, mid)
    return special.expit(logits + (low + high) / 2)


def population_gate_power(question_rates, margin: float, questions: int, samples: int, *,
                          alpha: float = 0.05, true_difference: float = 0.0,
                          replicates: int = POWER_REPLICATES, seed: int = 0) -> float:
    """P(PASS) of the population-scope gate, by simulation (see the module docstring).

    Each replicate draws ``questions`` rates with replacement from ``question_rates`` (the
    candidate's: those rates shifted on the logit so the mean difference is
    ``true_difference``), ``samples`` eligible answers per question and run, and applies the
    gate's one-sided bound. Questions are drawn independently (no probe families). Monte
    Carlo SE about 0.009 at power 0.8 with the default replicates.
    """
    rates = np.asarray(question_rates, dtype=float).ravel()
    if rates.size == 0 or not ((rates >= 0) & (rates <= 1)).all():
        raise ValueError("question rates must be a non-empty array of rates in [0, 1]")
    _check(float(rates.mean()), margin, questions, alpha, 0.5, true_difference, "population",
           planning=False)
    if samples < 1:
        raise ValueError("samples per question must be at least 1")
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, rates.size, (replicates, int(questions)))
    n = np.full(pick.shape, float(samples))
    k_b = rng.binomial(int(samples), rates[pick])
    k_c = rng.binomial(int(samples), _shifted(rates, true_difference)[pick])
    _, _, upper, _ = paired_score(k_b, n, k_c, n, None, 1 - alpha, sided="one", ends="high")
    return float(np.mean(upper <= margin))


def gate_samples_per_question(baseline_rate: float, margin: float, questions: int, *,
                              alpha: float = 0.05, power: float = 0.8,
                              true_difference: float = 0.0, scope: str = "questions",
                              question_sd: float = 1.0, question_rates=None,
                              max_samples: int = 1_000_000) -> int | None:
    """Answers per question and run so that the gate passes with probability >= ``power``.

    The smallest m (found by doubling and bisection, the power being monotone in m up to
    binomial discreteness or Monte Carlo error) whose power is >= ``power`` when the true
    difference is ``true_difference`` (default 0: candidate as misaligned as the baseline).
    Questions scope: ``gate_power`` (exact, homogeneous questions). Population scope (needs
    >= 28 questions, the refusal floor): ``population_gate_power`` on ``question_rates`` (e.g.
    the baseline's observed rates) or, when None, on logit-normal rates with mean
    ``baseline_rate`` and logit sd ``question_sd``; at most 20,000 answers per question are
    tried. Returns None when no m up to ``max_samples`` suffices (more questions or a larger
    margin are needed). Raises ValueError with the reason for impossible plans (questions <
    1; population scope with questions < 2 or below the refusal floor; margin <= true
    difference).
    """
    _check(baseline_rate, margin, questions, alpha, power, true_difference, scope)
    if scope == "population":
        rates = (logit_normal_rates(baseline_rate, question_sd) if question_rates is None
                 else np.asarray(question_rates, dtype=float))
        max_samples = min(max_samples, 20_000)

        def enough(m: int) -> bool:
            return population_gate_power(rates, margin, questions, m, alpha=alpha,
                                         true_difference=true_difference) >= power
    else:
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
