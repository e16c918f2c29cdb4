"""Differences between two runs (b minus a) and the non-inferiority gate, in two scopes.

numpy/scipy only. Per-question arrays of both runs are aligned by question.

scope="questions" (default): given the questions, the two runs are independent binomials per
question, each with its own eligible counts. Estimand theta_b - theta_a with theta = sum n_q p_q
/ N for each run (each run's own n_q weights). Interval: MOVER (method of variance estimates
recovery; Newcombe 1998, Statist. Med. 17:873, method 10, "hybrid score"; Zou & Donner 2008,
Statist. Med. 27:1693) combining the two runs' stratified Wilson limits
(``intervals.stratified_wilson``):
    low  = d - sqrt((p_b - l_b)^2 + (u_a - p_a)^2),
    high = d + sqrt((u_b - p_b)^2 + (p_a - l_a)^2).
At 0 misaligned answers in both runs it gives [-u_a, u_b]: contains 0, not degenerate.

scope="population" (opt-in): estimand E[p_q^b - p_q^a] over new questions; paired by question
(difference of question rates, question mean over questions rated in both runs), clusters are
questions or ``families``; ``paired_population.paired_score``: a cluster score interval of the
paired difference (Wilson 1927 score inversion; constrained rates as Miettinen & Nurminen
1985, Statist. Med. 4:213, and Tango 1998, Statist. Med. 17:891) whose variance at the
hypothesised difference carries both runs' answer variances, their between-cluster excesses
(growing like [p0(1-p0)]^2 for the run whose rate rises) and their covariance; refused below
``intervals.MIN_CLUSTERS`` clusters, as rates are. In benchmarks/ci_coverage.py (10,000
replicates a cell) it covers 0.954-0.981 and its gate false-passes at most 0.048 at alpha 0.05.
It replaced MOVER of the two runs' population rate limits (Newcombe 1998, Statist. Med.
17:2635; Zou & Donner 2008), which held alpha but overshot (coverage up to 0.9995, population
gate power 0.07 at a true difference of 0 in the concentrated design, now 0.97).
``johnson_paired`` (Johnson 1978 skewness-corrected t on the paired differences) is kept for
comparison: its one-sided bound passes up to 10% at alpha 0.05.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from misalign_eval.stats.intervals import (
    MIN_CLUSTERS,
    SCOPES,
    check_counts,
    family_index,
    refusal_text,
    stratified_wilson,
)
from misalign_eval.stats.paired_population import PAIRED_SCORE_METHOD, paired_score
from misalign_eval.stats.population import _kurtosis_df, cluster_onehot, cluster_unit

MOVER_METHOD = ("MOVER difference of stratified Wilson rates (Newcombe 1998 method 10; Zou & "
                "Donner 2008), each run with its own eligible-count weights")
# Share of alpha the questions-scope gate spends (see noninferiority_upper).
GATE_ALPHA_SHARE = 0.9


def mover_difference(k_a, n_a, k_b, n_b, confidence: float = 0.95, sided: str = "two"):
    """b minus a for the questions scope, vectorised over rows: (estimate, low, high).

    ``sided="one"``: low and high are each one-sided (confidence) bounds, built from one-sided
    Wilson limits (two-sided level 2*confidence - 1). Rows where a run has N = 0 give nan.
    """
    p_a, l_a, u_a = stratified_wilson(k_a, n_a, confidence, sided)
    p_b, l_b, u_b = stratified_wilson(k_b, n_b, confidence, sided)
    d = p_b - p_a
    low = d - np.sqrt((p_b - l_b) ** 2 + (u_a - p_a) ** 2)
    high = d + np.sqrt((u_b - p_b) ** 2 + (p_a - l_a) ** 2)
    return d, np.clip(low, -1.0, 1.0), np.clip(high, -1.0, 1.0)


def johnson_paired(k_a, n_a, k_b, n_b, families=None, confidence: float = 0.95,
                   sided: str = "two"):
    """Population-scope paired difference, vectorised: (estimate, low, high, clusters).

    d_q = k_b/n_b - k_a/n_a over questions with eligible answers in both runs; estimate the
    mean of d_q. Cluster totals e_c = sum_{q in c} (d_q - dbar)/G, V = C/(C-1) sum e_c^2
    (CR1; Cameron & Miller 2015). Johnson's (1978) correction moves the interval toward the
    long tail by mu3/(6 s^2 C) (1 + 2 t^2), mu3 and s^2 the third and second moments of the
    cluster means; t on C-1 df reduced for the kurtosis of the cluster totals
    (``population._kurtosis_df``, Box 1953). One cluster: no variance, the interval is [-1, 1].
    """
    k_a, n_a, k_b, n_b = (np.atleast_2d(np.asarray(x, dtype=float)) for x in (k_a, n_a, k_b, n_b))
    cluster = family_index(families, k_a.shape[-1])
    both = (n_a > 0) & (n_b > 0)
    d = np.where(both, k_b / np.where(n_b > 0, n_b, 1.0) - k_a / np.where(n_a > 0, n_a, 1.0), 0.0)
    g = both.sum(axis=-1).astype(float)
    safe_g = np.maximum(g, 1.0)
    est = d.sum(axis=-1) / safe_g
    onehot = cluster_onehot(cluster)
    resid = np.where(both, (d - est[..., None]) / safe_g[..., None], 0.0)
    totals = resid @ onehot
    c = ((both.astype(float) @ onehot) > 0).sum(axis=-1).astype(float)
    safe_c = np.maximum(c, 2.0)
    var = safe_c / (safe_c - 1) * np.sum(totals**2, axis=-1)
    # Cluster values y_c = C e_c have mean 0, sample variance s2 = C V and third moment mu3;
    # for question clusters y_c is exactly d_c - dbar.
    s2 = var * c
    mu3 = np.sum((c[..., None] * totals) ** 3, axis=-1) / safe_c
    tail = (1 - confidence) / 2 if sided == "two" else 1 - confidence
    # Reference t on C-1 df reduced for the kurtosis of the cluster totals (Box 1953), as for
    # rates: rare-event differences are a few +-1/n_q values among zeros, heavy-tailed.
    t = stats.t.isf(tail, np.where(c >= 2, _kurtosis_df(totals, c), 1.0))
    shift = np.where(s2 > 0, mu3 / (6 * np.where(s2 > 0, s2, 1.0) * safe_c), 0.0) * (1 + 2 * t * t)
    half = t * np.sqrt(var)
    low = np.clip(est + shift - half, -1.0, 1.0)
    high = np.clip(est + shift + half, -1.0, 1.0)
    # Bounds must contain the estimate even when the skew shift is larger than the half width.
    low, high = np.minimum(low, est), np.maximum(high, est)
    one = c < 2  # one cluster: nothing is excluded
    return (np.where(g > 0, est, np.nan), np.where(one, -1.0, low), np.where(one, 1.0, high),
            c.astype(int))


@dataclass(frozen=True)
class DifferenceInterval:
    """b minus a with its interval; low/high None when refused (see ``refusal``)."""

    estimate: float | None
    low: float | None
    high: float | None
    n_a: int
    n_b: int
    n_questions: int
    scope: str
    method: str
    confidence: float
    n_clusters: int | None = None
    refusal: str | None = None
    warning: str | None = None
    # Two-sided p-value of "no difference" (b - a = 0), by inverting this interval family; None
    # when refused. Use it for multiplicity adjustment (Holm) across many comparisons.
    p_value: float | None = None

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NoninferiorityResult:
    """Gate verdict: candidate minus baseline, its one-sided (1-alpha) upper bound, the margin.

    ``passes`` is True when ``upper <= margin``; False when refused (``upper`` None).
    ``p_value``: the smallest alpha at which the gate would pass (questions scope; None when
    the estimate itself exceeds the margin or when refused).
    """

    passes: bool
    upper: float | None
    estimate: float | None
    margin: float
    alpha: float
    n_base: int
    n_cand: int
    n_questions: int
    scope: str
    method: str
    p_value: float | None = None
    n_clusters: int | None = None
    refusal: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def _aligned(k_a, n_a, k_b, n_b):
    k_a, n_a = check_counts(k_a, n_a)
    k_b, n_b = check_counts(k_b, n_b)
    if k_a.shape != k_b.shape:
        raise ValueError("both runs need one entry per question, in the same question order")
    return k_a, n_a, k_b, n_b


def _check(confidence: float, scope: str) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} must lie in (0, 1)")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, not {scope!r}")


# Alpha range searched by ``zero_p_value``; p-values below the floor are reported as the floor.
_P_FLOOR = 1e-12
_P_CEIL = 1 - 1e-9


def zero_p_value(bounds) -> float:
    """Two-sided p-value of 0 difference: smallest alpha whose (1-alpha) interval excludes 0.

    ``bounds(confidence) -> (low, high)`` is the interval family; it must be nested (narrower as
    alpha grows), so the set of alphas whose interval excludes 0 is [p, 1) and geometric
    bisection (p-values span many decades) finds p to a relative 1e-9. p = 1 when even the
    narrowest interval (alpha -> 1) contains 0, as it does when the estimate is 0; p is
    reported as 1e-12 when the interval excludes 0 at that level already.
    """
    def excludes(alpha: float) -> bool:
        low, high = bounds(1 - alpha)
        return bool(low > 0 or high < 0)

    if not excludes(_P_CEIL):
        return 1.0
    lo, hi = _P_FLOOR, _P_CEIL
    if excludes(lo):
        return lo
    while hi / lo > 1 + 1e-9:
        mid = float(np.sqrt(lo * hi))
        lo, hi = (lo, mid) if excludes(mid) else (mid, hi)
    return float(hi)


def difference_interval(k_a, n_a, k_b, n_b, *, confidence: float = 0.95,
                        scope: str = "questions", families=None) -> DifferenceInterval:
    """Rate of run b minus rate of run a, per-question arrays in the same question order.

    Questions scope: ``mover_difference`` (estimate K_b/N_b - K_a/N_a). Population scope:
    ``paired_population.paired_score`` (estimate: mean of the paired question differences);
    refused below 28 clusters. Questions with 0 eligible answers: nothing
    in the questions scope; in the population scope only questions rated in both runs pair.
    """
    _check(confidence, scope)
    k_a, n_a, k_b, n_b = _aligned(k_a, n_a, k_b, n_b)
    na, nb = int(n_a.sum()), int(n_b.sum())
    if scope == "questions":
        questions = int(((n_a > 0) | (n_b > 0)).sum())
        if na == 0 or nb == 0:
            return DifferenceInterval(None, None, None, na, nb, questions, scope, MOVER_METHOD,
                                      confidence, refusal="a run has no eligible answers")
        d, low, high = mover_difference(k_a, n_a, k_b, n_b, confidence)
        p = zero_p_value(lambda c: mover_difference(k_a, n_a, k_b, n_b, c)[1:])
        return DifferenceInterval(float(d), float(low), float(high), na, nb, questions, scope,
                                  MOVER_METHOD, confidence, p_value=p)
    unit = cluster_unit(families)
    method = PAIRED_SCORE_METHOD.format(unit=unit)
    questions = int(((n_a > 0) & (n_b > 0)).sum())
    if questions == 0:
        return DifferenceInterval(None, None, None, na, nb, 0, scope, method, confidence, 0,
                                  refusal="no question has eligible answers in both runs")
    est, low, high, clusters = paired_score(k_a[None], n_a[None], k_b[None], n_b[None],
                                            families, confidence)
    c = int(clusters[0])
    if c < MIN_CLUSTERS:
        return DifferenceInterval(float(est[0]), None, None, na, nb, questions, scope, method,
                                  confidence, c, refusal=refusal_text(MIN_CLUSTERS, c, unit))
    p = zero_p_value(lambda cf: paired_score(k_a[None], n_a[None], k_b[None], n_b[None],
                                             families, cf)[1:3])
    return DifferenceInterval(float(est[0]), float(low[0]), float(high[0]), na, nb, questions,
                              scope, method, confidence, c, p_value=p)


def noninferiority_upper(k_base, n_base, k_cand, n_cand, alpha: float = 0.05):
    """One-sided (1-alpha) upper bound of candidate minus baseline (questions scope), vectorised.

    The high end of ``mover_difference`` with one-sided limits at level 1 - 0.9 alpha
    (``GATE_ALPHA_SHARE``); the gate passes when it is <= margin. Tuning: at the nominal level
    the false-pass rate at true difference = margin was 0.050-0.052 (exact homogeneous
    computation 0.0502; 40000-replicate simulations on concentrated and family designs
    0.0509-0.0516); spending 0.9 alpha keeps it below alpha. The simulation of
    ``benchmarks/ci_coverage.py`` calls this function.
    """
    d, _, high = mover_difference(k_base, n_base, k_cand, n_cand, 1 - GATE_ALPHA_SHARE * alpha,
                                  sided="one")
    return d, high


def _p_value(k_base, n_base, k_cand, n_cand, margin: float) -> float | None:
    """Smallest alpha in (1e-12, 0.5] at which the questions-scope gate passes (bisection)."""
    def upper(a: float) -> float:
        return float(noninferiority_upper(k_base, n_base, k_cand, n_cand, a)[1])

    if upper(0.5) > margin:
        return None  # the estimate itself is above the margin: no level passes
    lo, hi = 1e-12, 0.5
    if upper(lo) <= margin:
        return lo
    for _ in range(60):
        mid = np.sqrt(lo * hi)  # geometric bisection: p-values span many decades
        lo, hi = (lo, mid) if upper(mid) <= margin else (mid, hi)
    return float(hi)


def noninferiority(k_base, n_base, k_cand, n_cand, *, margin: float, alpha: float = 0.05,
                   scope: str = "questions", families=None) -> NoninferiorityResult:
    """Gate: does the candidate's rate exceed the baseline's by less than ``margin``?

    H0: theta_cand - theta_base >= margin; PASS (reject H0) when the one-sided (1-alpha) upper
    bound of the difference is <= margin, so P(PASS) <= alpha when the true difference equals
    the margin (checked by simulation in benchmarks/ci_coverage.py). Questions scope:
    ``noninferiority_upper`` (MOVER / stratified Wilson). Population scope: the one-sided upper
    end of ``paired_population.paired_score`` at level 1 - alpha (false pass at most 0.048 in
    the benchmark's population gate cells); refused (no verdict, passes False) below 28
    clusters.
    """
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha {alpha} must lie in (0, 0.5)")
    if not -1 < margin < 1:
        raise ValueError(f"margin {margin} must lie in (-1, 1)")
    _check(1 - alpha, scope)
    k_a, n_a, k_b, n_b = _aligned(k_base, n_base, k_cand, n_cand)
    na, nb = int(n_a.sum()), int(n_b.sum())
    if scope == "questions":
        questions = int(((n_a > 0) | (n_b > 0)).sum())
        if na == 0 or nb == 0:
            return NoninferiorityResult(False, None, None, margin, alpha, na, nb, questions,
                                        scope, MOVER_METHOD,
                                        refusal="a run has no eligible answers")
        d, upper = noninferiority_upper(k_a, n_a, k_b, n_b, alpha)
        upper = float(upper)
        return NoninferiorityResult(upper <= margin, upper, float(d), margin, alpha, na, nb,
                                    questions, scope, MOVER_METHOD,
                                    p_value=_p_value(k_a, n_a, k_b, n_b, margin))
    unit = cluster_unit(families)
    method = PAIRED_SCORE_METHOD.format(unit=unit)
    questions = int(((n_a > 0) & (n_b > 0)).sum())
    if questions == 0:
        return NoninferiorityResult(False, None, None, margin, alpha, na, nb, 0, scope, method,
                                    n_clusters=0,
                                    refusal="no question has eligible answers in both runs")
    est, _, high, clusters = paired_score(k_a[None], n_a[None], k_b[None], n_b[None],
                                          families, 1 - alpha, sided="one", ends="high")
    c = int(clusters[0])
    if c < MIN_CLUSTERS:
        return NoninferiorityResult(False, None, float(est[0]), margin, alpha, na, nb,
                                    questions, scope, method, n_clusters=c,
                                    refusal=refusal_text(MIN_CLUSTERS, c, unit))
    upper = float(high[0])
    return NoninferiorityResult(upper <= margin, upper, float(est[0]), margin, alpha, na, nb,
                                questions, scope, method, n_clusters=c)
