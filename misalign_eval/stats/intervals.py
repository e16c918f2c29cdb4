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

The vectorised cores (``stratified_wilson``, ``population_score``, ``population_refusal``) work
on (R, G) arrays, one row per data set; the public ``rate_interval`` calls them with R = 1 and
``benchmarks/ci_coverage.py`` calls them with many rows, so the benchmark proves exactly the code
the product runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import special, stats

SCOPES = ("questions", "population")
_DF_ADJUST = True

STRATIFIED_METHOD = ("stratified Wilson score interval, effective sample size from the "
                     "within-question binomial variance (Kott & Liu 2009; Korn & Graubard 1998)")
POPULATION_METHOD = ("question-mean rate, cluster score interval (clusters: {unit}; between-"
                     "cluster variance scaled with [p0(1-p0)]^1.5, t reference with kurtosis-"
                     "reduced df)")

# --- population scope: constants of the score interval (see population_score) ---------------
# Power of p0(1-p0) by which the between-cluster variance follows the hypothesised rate p0.
# 1 is the beta-binomial (constant ICC) model, 2 the logit-normal random intercept by the delta
# method; 1.5 lies between and was chosen by the coverage simulation (benchmarks/ci_coverage.py).
_BETWEEN_POWER = 1.5
# The kurtosis correction never takes the degrees of freedom below this share of C-1.
_MIN_DF_SHARE = 1 / 3
# Logit grid that brackets interval ends before bisection, and the number of bisections.
_LOGIT_GRID = np.linspace(-20.0, 20.0, 401)
_BISECTIONS = 50

# --- population scope: refusal rule (see population_refusal) ---------------------------------
# Sugden, Smith & Jones (2000), JRSS B 62:787, refining Cochran's (1977, sec. 2.15) rule: a
# normal-theory interval for a mean of C independent units needs C > 28 + 25 * g1^2, where g1
# is the skewness of the units. Applied to the cluster (question or family) rates.
_COCHRAN_BASE = 28
_COCHRAN_SKEW = 25
MIN_CLUSTERS = _COCHRAN_BASE


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


def family_index(families, questions: int) -> np.ndarray:
    """Single source of truth for cluster identity: integer cluster id per question.

    ``families`` None: every question is its own cluster. Otherwise any hashable labels, one
    per question; questions sharing a label form one cluster.
    """
    if families is None:
        return np.arange(questions)
    labels = list(families)
    if len(labels) != questions:
        raise ValueError(f"families has {len(labels)} labels for {questions} questions")
    _, index = np.unique(np.asarray([str(x) for x in labels]), return_inverse=True)
    return index.ravel()


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


# ======================================================== population scope (new questions)


def _cluster_parts(successes, eligible, cluster):
    """Question-mean estimate and the cluster-level pieces of its variance, vectorised.

    Returns (estimate, binomial factor B = sum 1/(G^2 n_q), cluster residual totals e_c (R, C),
    clusters with a rated question, questions with a rate). Questions with n_q = 0 have no rate
    and are left out of the mean and of their cluster.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(eligible, dtype=float)
    rated = n > 0
    g = rated.sum(axis=-1)
    safe_g = np.where(g > 0, g, 1).astype(float)
    rate = np.where(rated, k / np.where(rated, n, 1.0), 0.0)
    est = rate.sum(axis=-1) / safe_g
    binom = np.where(rated, 1.0 / np.where(rated, n, 1.0), 0.0).sum(axis=-1) / safe_g**2
    resid = np.where(rated, (rate - est[..., None]) / safe_g[..., None], 0.0)
    onehot = np.zeros((k.shape[-1], int(cluster.max()) + 1))
    onehot[np.arange(k.shape[-1]), cluster] = 1.0
    totals = resid @ onehot
    clusters = (rated.astype(float) @ onehot > 0).sum(axis=-1)
    return est, binom, totals, clusters, g


def _kurtosis_df(totals, clusters):
    """Degrees of freedom of the CR1 variance, reduced for heavy-tailed cluster totals.

    Var(s^2)/sigma^4 = 2/(C-1) + kappa/C for excess kurtosis kappa; matching a scaled chi-square
    gives df = 2/(2/(C-1) + kappa/C) (Box 1953, Biometrika 40:318). kappa: bias-adjusted sample
    excess kurtosis G2 (Joanes & Gill 1998), floored at 0; df kept >= (C-1)/3. Clusters with no
    rated question have total 0 and are excluded through ``clusters``.
    """
    c = clusters.astype(float)
    base = np.maximum(c - 1, 1.0)
    m2 = np.sum(totals**2, axis=-1)
    m4 = np.sum(totals**4, axis=-1)
    safe_m2 = np.where(m2 > 0, m2, 1.0)
    g2 = c * m4 / safe_m2**2 - 3.0
    # G2 needs C >= 4 (its denominator has (C-2)(C-3)).
    ok = (c >= 4) & (m2 > 0)
    cc = np.where(ok, c, 5.0)
    kappa = np.where(ok, np.maximum(0.0, ((cc + 1) * g2 + 6) * (cc - 1) / ((cc - 2) * (cc - 3))),
                     0.0)
    df = np.maximum(2.0 / (2.0 / base + kappa / np.maximum(c, 1.0)), _MIN_DF_SHARE * base)
    # One cluster: no variance estimated at all, the reference is the normal.
    return np.where(c >= 2, df, np.inf)


def _rejects(p0, est, binom, excess, scale, v_hat, df_c, z_tail):
    """Score test of p0: |est - p0| > t_df(p0) sqrt(V(p0)), V(p0) binomial + scaled excess.

    df(p0) by Satterthwaite (1946): the estimated part r*V(p) carries df_c, the binomial part
    is known, so df(p0) = df_c (V(p0)/(r V(p)))^2, never below df_c.
    """
    pq = p0 * (1 - p0)
    ratio = (pq / scale) ** _BETWEEN_POWER
    v0 = pq * binom + excess * ratio
    est_part = ratio * v_hat
    df = np.where(est_part > 0, df_c * (v0 / np.where(est_part > 0, est_part, 1.0)) ** 2, np.inf)
    df = np.maximum(df, df_c)
    crit = stats.t.isf(z_tail, df)
    return np.abs(est - p0) > crit * np.sqrt(v0)


def _score_end(est, side, args, tail):
    """End of the accepted region around the estimate on one side (logit grid + bisection)."""
    grid = special.expit(_LOGIT_GRID)[None, :]
    cols = [a[:, None] for a in args]
    beyond = grid > est[:, None] if side > 0 else grid < est[:, None]
    rejected = beyond & _rejects(grid, est[:, None], *cols, tail)
    last = rejected.shape[1] - 1
    if side > 0:
        has = rejected.any(axis=1)
        first = np.argmax(rejected, axis=1)
        prev = np.where(first > 0, _LOGIT_GRID[np.maximum(first - 1, 0)], -np.inf)
    else:
        has = rejected[:, ::-1].any(axis=1)
        first = last - np.argmax(rejected[:, ::-1], axis=1)
        prev = np.where(first < last, _LOGIT_GRID[np.minimum(first + 1, last)], np.inf)
    out_l = _LOGIT_GRID[first]
    est_l = special.logit(np.clip(est, special.expit(-20.0), special.expit(20.0)))
    in_l = np.maximum(prev, est_l) if side > 0 else np.minimum(prev, est_l)
    lo, hi = (in_l, out_l) if side > 0 else (out_l, in_l)
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        rej = _rejects(special.expit(mid), est, *args, tail)
        if side > 0:
            hi, lo = np.where(rej, mid, hi), np.where(rej, lo, mid)
        else:
            lo, hi = np.where(rej, mid, lo), np.where(rej, hi, mid)
    end = special.expit(lo if side > 0 else hi)
    return np.where(has, end, 1.0 if side > 0 else 0.0)


def population_score(successes, eligible, families=None, confidence: float = 0.95,
                     sided: str = "two"):
    """Cluster score interval for E[p_q] (question-mean weighting), vectorised over rows.

    Estimate: mean over rated questions of k_q/n_q. Variance at a hypothesised mean p0:
      V(p0) = p0(1-p0) sum_q 1/(G^2 n_q)  +  e * [p0(1-p0) / (p(1-p))]^1.5,
    where e = max(0, V_CR1 - binomial part at the estimate) is the between-cluster excess of the
    CR1 variance C/(C-1) sum_c e_c^2 over cluster residual totals (Cameron & Miller 2015,
    J. Human Resources 50:317); clusters are families when given, else questions. The interval
    is the set of p0 not rejected by |p - p0| <= t_df sqrt(V(p0)) (a Wilson-type score
    inversion, Wilson 1927): the binomial part keeps an upper bound above 0 at zero events, and
    the excess growing with p0 makes the upper end reach further than the lower one, the way a
    rare, skewed rate's sampling distribution does. df: C-1 reduced for kurtosis of the cluster
    totals (``_kurtosis_df``), raised by Satterthwaite where the binomial part dominates.
    Returns (estimate, low, high); ``sided="one"`` gives one-sided (confidence) limits.
    """
    k = np.atleast_2d(np.asarray(successes, dtype=float))
    n = np.atleast_2d(np.asarray(eligible, dtype=float))
    cluster = family_index(families, k.shape[-1])
    est, binom, totals, clusters, g = _cluster_parts(k, n, cluster)
    c = clusters.astype(float)
    v_cr1 = np.where(c >= 2, c / np.maximum(c - 1, 1) * np.sum(totals**2, axis=-1), 0.0)
    excess = np.maximum(0.0, v_cr1 - est * (1 - est) * binom)
    scale = est * (1 - est)
    # Estimate at 0 or 1: every rate at the edge, the excess is 0 and the scale unused.
    scale = np.where(scale > 0, scale, 1.0)
    v_hat = est * (1 - est) * binom + excess
    df_c = _kurtosis_df(totals, clusters)
    tail = (1 - confidence) / 2 if sided == "two" else 1 - confidence
    args = (binom, excess, scale, v_hat, df_c)
    empty = g == 0
    safe_est = np.where(empty, 0.0, est)
    low = np.minimum(_score_end(safe_est, -1, args, tail), safe_est)
    high = np.maximum(_score_end(safe_est, +1, args, tail), safe_est)
    return (np.where(empty, np.nan, est), np.where(empty, 0.0, low), np.where(empty, 1.0, high))


def population_refusal(successes, eligible, families=None):
    """Clusters needed for a population claim, and the clusters available, vectorised.

    Rule: Sugden, Smith & Jones (2000, JRSS B 62:787), refining Cochran (1977, sec. 2.15): a
    mean of C independent units supports a normal-theory interval when
    C >= 28 + 25 g1^2, g1 the skewness of the units. Here the units are clusters (questions,
    or families when given) and g1 is the skewness of the cluster rates *between* clusters:
    the sample third and second moments minus their binomial (within-question) parts, so that
    answer noise at rare rates does not count as skew.

    The interval is refused only when C < 28 (the rule's floor, ``MIN_CLUSTERS``): the
    decision does not depend on the observed skewness, because the samples that look least
    skewed are the ones that missed the rare misaligned questions, and refusing the skewed ones
    would keep exactly the intervals that miss (measured in benchmarks/ci_coverage.py). Where
    C >= 28 but the skewness asks for more, the result carries a warning with that number.
    Returns (needed, available) as integer arrays.
    """
    k = np.atleast_2d(np.asarray(successes, dtype=float))
    n = np.atleast_2d(np.asarray(eligible, dtype=float))
    cluster = family_index(families, k.shape[-1])
    rated = n > 0
    rate = np.where(rated, k / np.where(rated, n, 1.0), 0.0)
    onehot = np.zeros((k.shape[-1], int(cluster.max()) + 1))
    onehot[np.arange(k.shape[-1]), cluster] = 1.0
    count = rated.astype(float) @ onehot
    present = count > 0
    size = np.where(present, count, 1.0)
    values = (rate @ onehot) / size
    # Within-question noise of each cluster value: variance (unbiased) and third moment.
    var_q = np.where(n >= 2, rate * (1 - rate) / np.maximum(n - 1, 1.0), 0.0)
    third_q = np.where(rated, rate * (1 - rate) * (1 - 2 * rate) / np.where(rated, n, 1.0) ** 2,
                       0.0)
    noise_var = np.where(present, (var_q @ onehot) / size**2, 0.0)
    noise_third = np.where(present, (third_q @ onehot) / size**3, 0.0)
    c = present.sum(axis=-1).astype(float)
    safe_c = np.maximum(c, 1.0)
    mean = np.where(present, values, 0.0).sum(axis=-1) / safe_c
    dev = np.where(present, values - mean[..., None], 0.0)
    m2 = np.sum(dev**2, axis=-1) / np.maximum(c - 1, 1.0)
    m3 = np.sum(dev**3, axis=-1) * c / np.maximum((c - 1) * (c - 2), 1.0)
    # E[(X-mu)^3] = mu3(p) + 3 Cov(p, noise var) + E[noise third moment], X = p + noise.
    cov = np.sum(dev * noise_var, axis=-1) / np.maximum(c - 1, 1.0)
    mu2 = m2 - noise_var.sum(axis=-1) / safe_c
    mu3 = m3 - noise_third.sum(axis=-1) / safe_c - 3 * cov
    # No between-cluster variance left after the binomial part: no skew to speak of.
    g1 = np.where(mu2 > 0, np.maximum(mu3, 0.0) / np.where(mu2 > 0, mu2, 1.0) ** 1.5, 0.0)
    needed = np.ceil(_COCHRAN_BASE + _COCHRAN_SKEW * np.minimum(g1, 1e3) ** 2).astype(int)
    return needed, c.astype(int)


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


def refusal_text(needed: int, available: int, unit: str) -> str:
    """Why a population claim is refused, and how many clusters it would need."""
    return (f"population interval refused: {available} {unit} cannot support a claim about new "
            f"questions; at least {max(needed, MIN_CLUSTERS)} {unit} would be needed "
            f"(Sugden-Smith-Jones rule C >= 28 + 25 g1^2, g1 the between-{unit} skewness); "
            f"use scope='questions' for a claim about this probe set")


def skew_warning(needed: int, available: int, unit: str) -> str | None:
    """Caveat when there are enough clusters for the floor but the skewness asks for more."""
    if needed <= available:
        return None
    return (f"misalignment is skewed across {unit} (Sugden-Smith-Jones rule asks for {needed} "
            f"{unit}, {available} available): coverage of the population interval may fall "
            f"short of nominal when a few {unit} carry most of the misalignment")


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
    unit = "families" if families is not None else "questions"
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


def normal_quantile(confidence: float, sided: str = "two") -> float:
    """Normal quantile of one limit: two-sided (1+c)/2, one-sided c."""
    return float(stats.norm.ppf(0.5 + confidence / 2 if sided == "two" else confidence))


__all__ = ["RateInterval", "rate_interval", "stratified_wilson", "population_score",
           "population_refusal", "effective_n", "wilson_bounds", "family_index", "check_counts"]
