"""A condition measured by several fine-tuning seeds: pooled rate, seed as a random effect.

numpy/scipy only. A group is S runs (seeds) of one condition on the same G questions, counts
as (S, G) arrays ``k[s, q]`` misaligned of ``n[s, q]`` eligible (leading axes vectorise).

Estimand (questions scope): the condition's rate on these questions for a seed drawn like
these, theta = E_seed[theta_s], theta_s = sum_q n_sq p_sq / N_s the rate of seed s. Model:
theta_s = theta + u_s with u_s of variance tau^2 between seeds, and within each run the
answers of question q are Binomial(n_sq, p_sq) given the seed.

Estimate: the pooled rate K/N (every answer of every seed). Its variance is the within-run
part V_w (the stratified binomial variance, every (seed, question) a stratum, as
``intervals.effective_n``) plus the between-seed part V_b = tau^2 sum_s w_s^2, w_s = N_s / N.
tau^2 by the method of moments for arbitrary weights (DerSimonian & Kacker 2007, Contemp.
Clin. Trials 28:105, eq. 6; DerSimonian & Laird 1986 for inverse-variance weights):
    Q = sum_s w_s (theta_s - theta)^2,   E[Q] = sum_s w_s (1 - w_s) (tau^2 + v_s),
    tau^2 = max(0, (Q - sum_s w_s (1 - w_s) v_s) / sum_s w_s (1 - w_s)),
v_s the unbiased within variance of seed s. The interval is the stratified Wilson interval of
``intervals.stratified_wilson`` on the effective sample size p(1-p) / (V_w + V_b), with the
Korn-Graubard t adjustment on Satterthwaite (1946) df combining the within df with S - 1 df
for V_b; the variance is never taken below the seed-clustered CR1 variance (then on S - 1 df),
the modified Hartung-Knapp rule for few clusters. With one seed (or tau^2 estimated 0) V_b = 0 and the interval is exactly the
stratified Wilson interval of the pooled answers: a single run gives today's numbers.

Two conditions: MOVER (Newcombe 1998, method 10; Zou & Donner 2008) on the two groups'
intervals, as ``differences.mover_difference`` does for single runs (which it equals then).
The population scope (new questions AND new seeds) is not estimated for several seeds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from misalign_eval.stats.differences import (
    DifferenceInterval,
    difference_interval,
    zero_p_value,
)
from misalign_eval.stats.intervals import (
    SCOPES,
    effective_n,
    rate_interval,
    wilson_bounds,
)

GROUP_METHOD = ("pooled rate of {s} seeds; stratified Wilson interval on the effective sample "
                "size of within-run plus between-seed variance (seed as a random effect, "
                "DerSimonian-Kacker moment estimate of tau^2, never below the seed-clustered "
                "variance)")
GROUP_DIFFERENCE_METHOD = ("MOVER difference (Newcombe 1998 method 10) of the two conditions' "
                           "seed-group intervals (seed as a random effect)")
# Below this many seeds the measured coverage falls short when seeds differ a lot.
FEW_SEEDS = 5
POPULATION_REFUSAL = ("population scope is not available for a group of several seeds (new "
                      "questions and new seeds at once); use scope='questions'")


def _as_groups(successes, eligible) -> tuple[np.ndarray, np.ndarray]:
    k = np.asarray(successes, dtype=float)
    n = np.asarray(eligible, dtype=float)
    if k.ndim < 2 or k.shape != n.shape:
        raise ValueError("successes and eligible must be (seeds, questions) arrays of the same "
                         "shape, one row per seed run in the same question order")
    if k.shape[-2] == 0 or k.shape[-1] == 0:
        raise ValueError("need at least one seed and one question")
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(n))):
        raise ValueError("counts must be finite")
    if np.any((k < 0) | (n < 0) | (k > n)):
        raise ValueError("need 0 <= successes <= eligible for every seed and question")
    return k, n


def between_seed_variance(successes, eligible):
    """tau^2 (DerSimonian-Kacker moments, weights N_s/N) and seed weights, vectorised.

    Returns (tau2, w) with w of shape (..., S). One seed, or seeds with nothing eligible:
    tau2 = 0 (no between-seed variation can be estimated; guards keep it 0, not NaN).
    """
    k, n = _as_groups(successes, eligible)
    n_s = n.sum(axis=-1)
    big_n = n_s.sum(axis=-1, keepdims=True)
    w = n_s / np.where(big_n > 0, big_n, 1.0)
    theta_s = k.sum(axis=-1) / np.where(n_s > 0, n_s, 1.0)
    pooled = (w * theta_s).sum(axis=-1, keepdims=True)
    # Unbiased within variance of each seed's rate: sum_q n_q^2 p_q(1-p_q)/(n_q-1) / N_s^2.
    pq = k / np.where(n > 0, n, 1.0)
    term = np.where(n >= 2, n * n * pq * (1 - pq) / np.maximum(n - 1, 1.0), 0.0)
    v_s = term.sum(axis=-1) / np.where(n_s > 0, n_s, 1.0) ** 2
    spread = w * (1 - w)
    q = (w * (theta_s - pooled) ** 2).sum(axis=-1)
    denom = spread.sum(axis=-1)
    tau2 = np.where(denom > 0, np.maximum(0.0, (q - (spread * v_s).sum(axis=-1))
                                          / np.where(denom > 0, denom, 1.0)), 0.0)
    return tau2, w


def seed_cr1(k, n, pooled, w):
    """Seed-clustered CR1 variance of the pooled rate (Cameron & Miller 2015), S >= 2."""
    s = k.shape[-2]
    n_s = n.sum(axis=-1)
    theta_s = k.sum(axis=-1) / np.where(n_s > 0, n_s, 1.0)
    return s / (s - 1) * ((w * (theta_s - pooled[..., None])) ** 2).sum(axis=-1)


def group_wilson(successes, eligible, confidence: float = 0.95, sided: str = "two"):
    """Seed-group interval, vectorised over leading axes: (estimate, low, high, tau2).

    ``successes``, ``eligible``: (..., S, G). ``sided="one"``: each limit a one-sided
    (confidence) bound, as ``intervals.stratified_wilson``.
    """
    k, n = _as_groups(successes, eligible)
    s, g = k.shape[-2:]
    flat_k = k.reshape(k.shape[:-2] + (s * g,))
    flat_n = n.reshape(n.shape[:-2] + (s * g,))
    p, n_eff, big_n, df_w = effective_n(flat_k, flat_n)
    tau2, w = between_seed_variance(k, n)
    v_b = tau2 * (w * w).sum(axis=-1)
    pp = p * (1 - p)
    v_w = pp / np.where(n_eff > 0, n_eff, 1.0)
    v = v_w + v_b
    has_b = (v_b > 0) & (pp > 0)
    n_eff = np.where(has_b, pp / np.where(v > 0, v, 1.0), n_eff)
    # Satterthwaite: V_w carries df_w (inf when known), V_b carries S - 1.
    between_df = max(s - 1, 1)
    sq = np.where(np.isfinite(df_w), v_w**2 / np.where(np.isfinite(df_w), df_w, 1.0), 0.0)
    parts = sq + v_b**2 / between_df
    df = np.where(has_b, v**2 / np.where(parts > 0, parts, 1.0), df_w)
    # Modified Hartung-Knapp (Roever, Knapp & Friede 2015, BMC Med. Res. Methodol. 15:99): never
    # below the seed-clustered CR1 variance S/(S-1) sum_s w_s^2 (theta_s - theta)^2, on S - 1 df.
    # Model-based variance alone covered 0.80-0.93 with 2-5 seeds in benchmarks/curves.py.
    cr1 = seed_cr1(k, n, p, w) if s >= 2 else np.zeros_like(v)
    robust = (cr1 > v) & (pp > 0)
    v = np.where(robust, cr1, v)
    n_eff = np.where(robust, pp / np.where(v > 0, v, 1.0), n_eff)
    df = np.where(robust, float(between_df), df)
    tail = (1 - confidence) / 2 if sided == "two" else 1 - confidence
    z = stats.norm.isf(tail)
    t = stats.t.isf(tail, df)
    # Korn & Graubard (1998), as stratified_wilson: z = t = 0 at a 50% one-sided level.
    n_eff = n_eff * np.where(t > 0, z / np.where(t > 0, t, 1.0), 1.0) ** 2
    safe_eff = np.where(big_n > 0, n_eff, 1.0)
    low, high = wilson_bounds(p, safe_eff, z)
    low, high = np.minimum(low, p), np.maximum(high, p)
    empty = big_n <= 0
    return (np.where(empty, np.nan, p), np.where(empty, 0.0, low), np.where(empty, 1.0, high),
            tau2)


def group_mover(k_a, n_a, k_b, n_b, confidence: float = 0.95, sided: str = "two"):
    """Condition b minus condition a (seed groups), vectorised: (estimate, low, high).

    Each group may have its own number of seeds; both on the same questions. With one seed
    each this is ``differences.mover_difference``.
    """
    p_a, l_a, u_a, _ = group_wilson(k_a, n_a, confidence, sided)
    p_b, l_b, u_b, _ = group_wilson(k_b, n_b, confidence, sided)
    d = p_b - p_a
    low = d - np.sqrt((p_b - l_b) ** 2 + (u_a - p_a) ** 2)
    high = d + np.sqrt((u_b - p_b) ** 2 + (p_a - l_a) ** 2)
    return d, np.clip(low, -1.0, 1.0), np.clip(high, -1.0, 1.0)


@dataclass(frozen=True)
class GroupRateInterval:
    """A condition's pooled rate over its seed runs, with the seed-group interval.

    The same fields as ``RateInterval`` (so tables print it the same way) plus ``n_runs`` and
    ``between_seed_sd`` (sqrt of tau^2, on the rate scale).
    """

    estimate: float | None
    low: float | None
    high: float | None
    n: int
    n_questions: int
    successes: int
    scope: str
    method: str
    confidence: float
    n_runs: int
    between_seed_sd: float
    n_clusters: int | None = None
    refusal: str | None = None
    warning: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def _check(confidence: float, scope: str) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} must lie in (0, 1)")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, not {scope!r}")


def group_rate_interval(successes, eligible, *, confidence: float = 0.95,
                        scope: str = "questions", families=None):
    """Pooled rate of a group of seed runs ((S, G) counts) with its seed-group interval.

    One run (S = 1): exactly ``rate_interval`` of that run, in either scope. Several runs:
    questions scope only (``GroupRateInterval``; population scope is refused).
    """
    _check(confidence, scope)
    k, n = _as_groups(successes, eligible)
    if k.ndim != 2:
        raise ValueError("one group: successes and eligible must be (seeds, questions)")
    if k.shape[0] == 1:
        return rate_interval(k[0], n[0], confidence=confidence, scope=scope, families=families)
    s = k.shape[0]
    total, events = int(n.sum()), int(k.sum())
    questions = int((n.sum(axis=0) > 0).sum())
    method = GROUP_METHOD.format(s=s)
    if scope == "population" or total == 0:
        reason = POPULATION_REFUSAL if scope == "population" else "no eligible answers"
        est = events / total if total else None
        return GroupRateInterval(est, None, None, total, questions, events, scope, method,
                                 confidence, s, 0.0, refusal=reason)
    est, low, high, tau2 = group_wilson(k, n, confidence)
    return GroupRateInterval(float(est), float(low), float(high), total, questions, events,
                             scope, method, confidence, s, float(np.sqrt(tau2)),
                             warning=few_seeds_warning(s))


def few_seeds_warning(seeds: int) -> str | None:
    """Caveat for groups whose between-seed variance rests on few degrees of freedom."""
    if seeds >= FEW_SEEDS:
        return None
    return (f"{seeds} seeds: the between-seed variance rests on {seeds - 1} degree(s) of "
            f"freedom, and when seeds differ a lot the interval covers less than its nominal "
            f"level (benchmarks/curves.py); {FEW_SEEDS} or more seeds are needed for that")


def group_difference_interval(k_a, n_a, k_b, n_b, *, confidence: float = 0.95,
                              scope: str = "questions", families=None) -> DifferenceInterval:
    """Condition b minus condition a, each (seeds, questions) counts on the same questions.

    One run on each side: exactly ``difference_interval``. Otherwise ``group_mover`` with its
    two-sided p-value of no difference (interval inversion, ``differences.zero_p_value``);
    population scope refused.
    """
    _check(confidence, scope)
    k_a, n_a = _as_groups(k_a, n_a)
    k_b, n_b = _as_groups(k_b, n_b)
    if k_a.ndim != 2 or k_b.ndim != 2 or k_a.shape[1] != k_b.shape[1]:
        raise ValueError("both groups need (seeds, questions) counts on the same questions")
    if k_a.shape[0] == 1 and k_b.shape[0] == 1:
        return difference_interval(k_a[0], n_a[0], k_b[0], n_b[0], confidence=confidence,
                                   scope=scope, families=families)
    na, nb = int(n_a.sum()), int(n_b.sum())
    questions = int(((n_a.sum(axis=0) > 0) | (n_b.sum(axis=0) > 0)).sum())
    if scope == "population":
        return DifferenceInterval(None, None, None, na, nb, questions, scope,
                                  GROUP_DIFFERENCE_METHOD, confidence,
                                  refusal=POPULATION_REFUSAL)
    if na == 0 or nb == 0:
        return DifferenceInterval(None, None, None, na, nb, questions, scope,
                                  GROUP_DIFFERENCE_METHOD, confidence,
                                  refusal="a group has no eligible answers")
    d, low, high = group_mover(k_a, n_a, k_b, n_b, confidence)
    p = zero_p_value(lambda c: group_mover(k_a, n_a, k_b, n_b, c)[1:])
    return DifferenceInterval(float(d), float(low), float(high), na, nb, questions, scope,
                              GROUP_DIFFERENCE_METHOD, confidence, p_value=p)


__all__ = ["GroupRateInterval", "group_rate_interval", "group_difference_interval",
           "group_wilson", "group_mover", "between_seed_variance"]
