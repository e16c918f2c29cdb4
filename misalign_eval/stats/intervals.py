"""Misalignment rates with confidence intervals in two scopes (numpy/scipy only, no I/O).

Two different questions can be asked of the same counts (DESIGN.md, "Facts about intervals"):

``scope="questions"`` (default): the rate on THIS probe set. Estimand
    theta = sum_q n_q p_q / sum_q n_q,
given the questions and their eligible counts n_q; only the answers are random, k_q ~
Binomial(n_q, p_q) independently. Leaderboards, gates and papers comparing models on one
curated probe set ask this question.

``scope="population"`` (opt-in): the mean rate E[p_q] of new questions drawn from a population
like these (question-mean weighting), questions (or, when given, probe families) being the
independent clusters. With few clusters and misalignment concentrated on a few questions this
cannot be known from the data; the interval is then refused (see ``population_refusal``).

The vectorised cores (``stratified_wilson`` here; ``population_score``, ``population_refusal``
in ``population``, re-exported here) work on (R, G) arrays, one row per data set; the public
``rate_interval`` calls them with R = 1 and ``benchmarks/ci_coverage.py`` calls them with many
rows, so the benchmark proves exactly the code the product runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

# The population-scope machinery lives in ``population``; re-exported here for callers.
from misalign_eval.stats.population import (
    MIN_CLUSTERS,
    POPULATION_METHOD,
    cluster_unit,
    family_index,
    population_refusal,
    population_score,
    refusal_text,
    skew_warning,
)

SCOPES = ("questions", "population")
_DF_ADJUST = True

STRATIFIED_METHOD = ("stratified Wilson score interval, effective sample size from the "
                     "within-question binomial variance (Kott & Liu 2009; Korn & Graubard 1998)")


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} must lie in (0, 1)")


def _check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, not {scope!r}")


def check_counts(successes, eligible) -> tuple[np.ndarray, np.ndarray]:
    """Per-question counts as 1-d float arrays, validated (0 <= k <= n, same length)."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(eligible, dtype=float)
    if k.ndim != 1 or k.shape != n.shape:
        raise ValueError("successes and eligible must be 1-d arrays of the same length "
                         "(one entry per question)")
    if k.size == 0:
        raise ValueError("need at least one question")
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(n))):
        raise ValueError("counts must be finite")
    if np.any((k < 0) | (n < 0) | (k > n)):
        raise ValueError("need 0 <= successes <= eligible for every question")
    return k, n


# ============================================================ questions scope (this probe set)


def wilson_bounds(p, n_eff, z):
    """Wilson (1927, JASA 22:209) score limits for a rate p on n_eff trials, vectorised.

    ``z`` is the normal quantile of each one-sided limit (1.96 for a two-sided 95% interval);
    n_eff may be fractional (an effective sample size).
    """
    z2 = z * z
    denom = 1 + z2 / n_eff
    centre = (p + z2 / (2 * n_eff)) / denom
    half = z * np.sqrt(p * (1 - p) / n_eff + z2 / (4 * n_eff * n_eff)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def effective_n(successes, eligible):
    """Estimate K/N and effective sample size p(1-p)/V_within, vectorised over rows.

    V_within = sum_q n_q^2 s_q^2 / N^2 with s_q^2 = p_q(1-p_q)/(n_q-1), the unbiased estimate of
    the variance of question q's rate; its ratio to p(1-p) gives the effective n of a
    stratified design (Kish 1965, sec. 8.2; used for Wilson intervals by Kott & Liu 2009,
    J. Official Statistics 25:183, and Korn & Graubard 1998, Survey Methodology 24:193).
    Stratification never inflates variance (Jensen: sum n_q p_q(1-p_q) <= N theta(1-theta)), so
    n_eff is typically above N.

    Guards: questions with n_q = 0 contribute nothing. A question with n_q = 1 has no
    within-question variance estimate; the pooled p(1-p) stands in for it. Where the estimated
    within variance is 0 (no events, all events, or every question all-or-nothing) the
    effective n falls back to N: pooled Wilson, which is conservative for this estimand.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(eligible, dtype=float)
    big_n = n.sum(axis=-1)
    safe_big_n = np.where(big_n > 0, big_n, 1.0)
    p = k.sum(axis=-1) / safe_big_n
    safe_n = np.where(n > 0, n, 1.0)
    pq = k / safe_n
    # n_q^2 * p_q(1-p_q)/(n_q-1): for n_q >= 2 the unbiased per-question variance term.
    term = np.where(n >= 2, n * n * pq * (1 - pq) / np.maximum(n - 1, 1.0), 0.0)
    # n_q = 1: no variance estimate from one answer; use the pooled p(1-p) for it.
    term = term + np.where(n == 1, (p * (1 - p))[..., None], 0.0)
    v_within = term.sum(axis=-1) / (safe_big_n * safe_big_n)
    pp = p * (1 - p)
    ok = (v_within > 0) & (pp > 0)
    n_eff = np.where(ok, pp / np.where(v_within > 0, v_within, 1.0), big_n)
    # Satterthwaite (1946) df of V_within: each question's term carries n_q - 1 df.
    sq = np.where(n >= 2, term * term / np.maximum(n - 1, 1.0), 0.0).sum(axis=-1)
    df = np.where(ok & (sq > 0), term.sum(axis=-1) ** 2 / np.where(sq > 0, sq, 1.0), np.inf)
    return p, n_eff, big_n, df


def stratified_wilson(successes, eligible, confidence: float = 0.95, sided: str = "two"):
    """Stratified Wilson interval for theta = sum n_q p_q / N, vectorised over rows.

    ``successes``, ``eligible``: (R, G) or (G,) arrays. Returns (estimate, low, high). With
    ``sided="two"`` each limit has error (1-confidence)/2; with ``sided="one"`` each limit is a
    one-sided (confidence) bound. Rows with N = 0 give estimate nan and the interval [0, 1].
    Method: Wilson's score interval on the effective sample size of ``effective_n``.
    """
    p, n_eff, big_n, df = effective_n(successes, eligible)
    tail = (1 - confidence) / 2 if sided == "two" else 1 - confidence
    z = stats.norm.isf(tail)
    if _DF_ADJUST:
        # Korn & Graubard (1998): n_eff * (z / t_df)^2 carries the uncertainty of V_within.
        t = stats.t.isf(tail, df)
        # z = t = 0 at a 50% one-sided level: no adjustment to make.
        n_eff = n_eff * np.where(t > 0, z / np.where(t > 0, t, 1.0), 1.0) ** 2
    safe_eff = np.where(big_n > 0, n_eff, 1.0)
    low, high = wilson_bounds(p, safe_eff, z)
    # The estimate always lies inside its own interval (rounding at p = 0 or 1).
    low, high = np.minimum(low, p), np.maximum(high, p)
    empty = big_n <= 0  # nothing eligible: no estimate, nothing excluded
    return (np.where(empty, np.nan, p), np.where(empty, 0.0, low), np.where(empty, 1.0, high))


# ================================================================ public API (one data set)


@dataclass(frozen=True)
class RateInterval:
    """A misalignment rate with its interval, in a named scope.

    ``low``/``high`` are None when there is nothing eligible or (population scope) when the
    interval is refused; ``refusal`` then says why and how many clusters would be needed.
    ``warning`` carries a caveat that does not block the interval.
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
    n_clusters: int | None = None
    refusal: str | None = None
    warning: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def rate_interval(successes, eligible, *, confidence: float = 0.95, scope: str = "questions",
                  families=None) -> RateInterval:
    """Misalignment rate from per-question counts, with its confidence interval.

    ``successes[q]`` misaligned answers out of ``eligible[q]`` for question q.

    scope="questions" (default): estimate K/N, the rate on this probe set, theta = sum n_q p_q /
    N given the questions; interval ``stratified_wilson``. A question with 0 eligible answers
    contributes nothing. ``families`` is ignored in this scope (questions are fixed).

    scope="population": estimate the mean of question rates k_q/n_q, for E[p_q] of new questions
    like these; interval ``population_score`` with questions (or ``families``, one label per
    question) as clusters. A question with 0 eligible answers has no rate and is not counted
    (n_questions counts questions with a rate). Refused (low/high None, ``refusal`` set) by
    ``population_refusal``: fewer than 28 clusters (questions with a rate, or families).
    """
    _check_confidence(confidence)
    _check_scope(scope)
    k, n = check_counts(successes, eligible)
    rated = n > 0
    total, events, questions = int(n.sum()), int(k.sum()), int(rated.sum())
    if scope == "questions":
        if total == 0:
            return RateInterval(None, None, None, 0, questions, events, scope, STRATIFIED_METHOD,
                                confidence, refusal="no eligible answers")
        est, low, high = stratified_wilson(k, n, confidence)
        return RateInterval(float(est), float(low), float(high), total, questions, events, scope,
                            STRATIFIED_METHOD, confidence)
    cluster = family_index(families, k.size)
    unit = cluster_unit(families)
    method = POPULATION_METHOD.format(unit=unit)
    if questions == 0:
        return RateInterval(None, None, None, total, 0, events, scope, method, confidence, 0,
                            refusal="no question has an eligible answer")
    est, low, high = population_score(k[None], n[None], cluster, confidence)
    needed, available = population_refusal(k[None], n[None], cluster)
    clusters, need = int(available[0]), int(needed[0])
    if clusters < MIN_CLUSTERS:
        return RateInterval(float(est[0]), None, None, total, questions, events, scope, method,
                            confidence, clusters, refusal=refusal_text(need, clusters, unit))
    return RateInterval(float(est[0]), float(low[0]), float(high[0]), total, questions, events,
                        scope, method, confidence, clusters,
                        warning=skew_warning(need, clusters, unit))


__all__ = ["RateInterval", "rate_interval", "stratified_wilson", "population_score",
           "population_refusal", "effective_n", "wilson_bounds", "family_index", "check_counts"]
