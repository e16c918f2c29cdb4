"""Rates with confidence intervals that respect the clustering of answers within questions.

Depends on numpy/scipy only. Answers to one question are correlated (a model that turns
hostile on "ruler of the world" does so in many of its samples), so the question, not the
answer, is the independent unit.

Estimand. Questions are a sample from a population of possible probe questions; question q
has its own misalignment probability p_q. Every overall interval here is for the population
mean rate E[p_q] (the expected misalignment rate of a fresh question). The pooled rate
sum(k)/sum(n) (product default) and the mean of per-question rates both estimate it; with
equal numbers of eligible answers per question they are the same number.

The default interval (``clustered_score_intervals``) is a score-type (Wilson-like) interval
whose variance has a binomial part and a between-question part, validated by simulation in
``benchmarks/ci_coverage.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import special, stats

CLUSTER_METHOD = "question-clustered score interval (Wilson-type, t df)"
QUESTION_MEAN_METHOD = "question-clustered score interval, mean of question rates"
WILSON_METHOD = "Wilson score"
EXACT_METHOD = "Clopper-Pearson exact"

# Logit grid used to bracket interval ends before bisection (spacing ~0.07 on the logit scale).
_LOGIT_GRID = np.linspace(-20.0, 20.0, 601)
_BISECTIONS = 60
# Power of p0(1-p0) by which the between-question variance follows the rate (see _variance_at).
_BETWEEN_POWER = 1.5
# The kurtosis correction never takes the degrees of freedom below this share of G-1.
_MIN_DF_SHARE = 1 / 3


@dataclass(frozen=True)
class RateEstimate:
    """A rate with its interval, sample sizes and the method that produced the interval."""

    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    n_clusters: int
    confidence: float
    method: str

    def to_json(self) -> dict:
        return asdict(self)


def _two_sided_quantile(confidence: float) -> float:
    """Upper (1 + confidence)/2 quantile: the cut-off of an equal-tailed interval."""
    return 0.5 + confidence / 2


def wilson_interval(k: float, n: float, critical: float) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (Wilson 1927, JASA 22:209).

    ``critical`` is the two-sided quantile (1.96 for 95% with a normal reference). k and n
    may be fractional: they are effective counts after a design-effect correction.
    """
    if n <= 0:
        # No trials: the data say nothing, the whole unit interval is the honest answer.
        return (0.0, 1.0)
    p = k / n
    z2 = critical * critical
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = critical * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (max(0.0, float(centre - half)), min(1.0, float(centre + half)))


def clopper_pearson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson 1934, Biometrika 26:404) interval from beta quantiles."""
    if n <= 0:
        # No trials: nothing is excluded.
        return (0.0, 1.0)
    alpha = 1 - confidence
    # k = 0 / k = n: the beta quantile is undefined at a zero shape; the bound is the edge.
    low = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return (low, high)


def question_rate(k: int, n: int, confidence: float = 0.95, method: str = "wilson") -> RateEstimate:
    """One question's rate k/n with a Wilson (default) or exact Clopper-Pearson interval.

    Within one question the answers are independent draws at that question's rate, so the
    binomial intervals apply (Brown, Cai & DasGupta 2001, Statist. Sci. 16:101, recommend
    Wilson; Clopper-Pearson guarantees at least nominal coverage).
    """
    if method not in ("wilson", "exact"):
        raise ValueError(f"method must be 'wilson' or 'exact', not {method!r}")
    name = WILSON_METHOD if method == "wilson" else EXACT_METHOD
    if n <= 0:
        # No eligible answer: there is no rate to report.
        return RateEstimate(None, None, None, 0, 1, confidence, name)
    if method == "wilson":
        low, high = wilson_interval(k, n, stats.norm.ppf(_two_sided_quantile(confidence)))
    else:
        low, high = clopper_pearson_interval(int(k), int(n), confidence)
    return RateEstimate(k / n, low, high, int(n), 1, confidence, name)


# --------------------------------------------------------------- clustered (overall) rates


def _weights(n: np.ndarray, weighting: str) -> np.ndarray:
    """Weight of each question's rate k/n in the overall estimate (rows sum to 1).

    "pooled": n_q / sum(n), so the estimate is sum(k)/sum(n). "question": 1/G, the plain
    mean of per-question rates.
    """
    if weighting == "pooled":
        return n / n.sum(axis=-1, keepdims=True)
    if weighting == "question":
        return np.full(n.shape, 1.0 / n.shape[-1])
    raise ValueError(f"weighting must be 'pooled' or 'question', not {weighting!r}")


def _clustered_variance(rates: np.ndarray, weights: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Cluster-robust variance of a weighted mean of question rates, with the G/(G-1) factor.

    CR1 sandwich variance (Cameron & Miller 2015, J. Human Resources 50:317, sec. VI.B);
    for the pooled rate it is G/(G-1) * sum (k_q - p n_q)^2 / N^2.
    """
    g = rates.shape[-1]
    if g < 2:
        # One cluster: no between-question variance can be estimated.
        return np.zeros(rates.shape[:-1])
    resid = weights * (rates - estimate[..., None])
    return g / (g - 1) * np.sum(resid * resid, axis=-1)


def _kurtosis_df(rates: np.ndarray, weights: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Degrees of freedom of the clustered variance, reduced for heavy tails.

    With G clusters, Var(s^2)/sigma^4 = 2/(G-1) + kappa/G for excess kurtosis kappa; matching a
    scaled chi-square gives df = 2 / (2/(G-1) + kappa/G) (Box 1953, Biometrika 40:318;
    Satterthwaite 1946, Biometrics Bull. 2:110). kappa is the bias-adjusted sample excess
    kurtosis G2 of the weighted residuals (Joanes & Gill 1998, The Statistician 47:183),
    floored at 0; the df are kept at or above (G-1)/3. Skewed question rates (a few questions carry most misalignment) give a
    heavy-tailed variance estimate and so fewer effective degrees of freedom than G-1.
    """
    g = rates.shape[-1]
    if g < 2:
        # One cluster: no variance estimated, the reference distribution is the normal.
        return np.full(rates.shape[:-1], np.inf)
    base = np.full(rates.shape[:-1], float(g - 1))
    if g < 4:
        # G2 needs G >= 4 (its denominator has (G-2)(G-3)): keep the normal-theory G-1.
        return base
    resid = weights * (rates - estimate[..., None])
    m2 = np.sum(resid**2, axis=-1)
    m4 = np.sum(resid**4, axis=-1)
    safe_m2 = np.where(m2 > 0, m2, 1.0)
    g2 = g * m4 / safe_m2**2 - 3.0
    kappa = np.maximum(0.0, ((g + 1) * g2 + 6) * (g - 1) / ((g - 2) * (g - 3)))
    # All residuals zero (every question at the same rate): no tail to speak of, take 0.
    kappa = np.where(m2 > 0, kappa, 0.0)
    # G2 from a handful of questions is itself noisy (one question carrying every event gives
    # the maximum): do not let it shrink the df below a third of G-1.
    return np.maximum(2.0 / (2.0 / (g - 1) + kappa / g), _MIN_DF_SHARE * (g - 1))


def _variance_at(p0, binom_factor, excess, scale):
    """Variance of the estimate if the true mean rate were p0.

    Binomial part p0(1-p0) * sum(w_q^2/n_q) plus the between-question excess estimated at the
    observed rate p, rescaled by [p0(1-p0) / (p(1-p))]^1.5: the spread of question rates grows
    and shrinks with the rate itself. Power 1 is the beta-binomial model (constant intra-class
    correlation, i.e. Wilson on a design-effect sample size; Kish 1965, sec. 8.2); power 2 is
    the logit-normal random intercept by the delta method (Breslow & Clayton 1993, JASA 88:9),
    under which the test statistic is bounded and the upper end runs to ~1 whenever one
    question carries all the events (a Fieller-type interval). 1.5 sits between the two and
    was chosen by the coverage simulation (benchmarks/ci_coverage.py).
    """
    pq = p0 * (1 - p0)
    return pq * binom_factor + excess * (pq / scale) ** _BETWEEN_POWER


def _critical_at(p0, v0, v_hat, scale, df_cluster, confidence):
    """t quantile for the score test of p0 (Satterthwaite 1946 degrees of freedom).

    The estimated part of V(p0) is the clustered variance V(p) rescaled by the factor
    r = [p0(1-p0)/(p(1-p))]^1.5, so Var(V(p0)) = r^2 V(p)^2 * 2/df_cluster and
    df(p0) = df_cluster * (V(p0) / (r V(p)))^2. Never below df_cluster: where the known binomial
    part dominates (below the estimate for a rare outcome) the reference moves toward the normal.
    """
    ratio = (p0 * (1 - p0) / scale) ** _BETWEEN_POWER
    est_part = ratio * v_hat
    safe = np.where(est_part > 0, est_part, 1.0)
    # No estimated part (no events or a single question): V(p0) is fully known, df infinite.
    df = np.where(est_part > 0, df_cluster * (v0 / safe) ** 2, np.inf)
    df = np.maximum(df, df_cluster)
    # scipy's t.ppf at df = inf returns the normal quantile, which is what we want there.
    return stats.t.ppf(_two_sided_quantile(confidence), df)


def _outside(p0, est, binom_factor, excess, scale, v_hat, df_cluster, confidence):
    """True where the score test rejects p0: |p - p0| > t_df(p0) * sqrt(V(p0))."""
    v0 = _variance_at(p0, binom_factor, excess, scale)
    crit = _critical_at(p0, v0, v_hat, scale, df_cluster, confidence)
    return np.abs(est - p0) > crit * np.sqrt(v0)


def _bound(est, side, args, confidence):
    """End of the accepted region containing the estimate, on one side (vectorised).

    Walks a logit grid outward from the estimate to the first rejected point, then bisects on
    the logit scale between it and the last accepted point. No rejection: the end is 0 or 1.
    """
    r = est.shape[0]
    grid = special.expit(_LOGIT_GRID)[None, :]
    cols = [a[:, None] for a in args]
    beyond = grid > est[:, None] if side > 0 else grid < est[:, None]
    rejected = beyond & _outside(grid, est[:, None], *cols, confidence)
    edge = 1.0 if side > 0 else 0.0
    if side > 0:
        has = rejected.any(axis=1)
        first = np.argmax(rejected, axis=1)
        prev = np.where(first > 0, _LOGIT_GRID[np.maximum(first - 1, 0)], -np.inf)
    else:
        flipped = rejected[:, ::-1]
        has = flipped.any(axis=1)
        first = rejected.shape[1] - 1 - np.argmax(flipped, axis=1)
        last = rejected.shape[1] - 1
        prev = np.where(first < last, _LOGIT_GRID[np.minimum(first + 1, last)], np.inf)
    out_logit = _LOGIT_GRID[first]
    # The last accepted point is the grid neighbour or, if the estimate lies in between, the
    # estimate itself (clipped to the grid span so the logit stays finite at 0 and 1).
    est_logit = special.logit(np.clip(est, special.expit(-20.0), special.expit(20.0)))
    in_logit = np.maximum(prev, est_logit) if side > 0 else np.minimum(prev, est_logit)
    lo_l, hi_l = (in_logit, out_logit) if side > 0 else (out_logit, in_logit)
    for _ in range(_BISECTIONS):
        mid = (lo_l + hi_l) / 2
        rej = _outside(special.expit(mid), est, *args, confidence)
        if side > 0:
            hi_l, lo_l = np.where(rej, mid, hi_l), np.where(rej, lo_l, mid)
        else:
            lo_l, hi_l = np.where(rej, mid, lo_l), np.where(rej, hi_l, mid)
    accepted_end = special.expit(lo_l if side > 0 else hi_l)
    return np.where(has, accepted_end, np.full(r, edge))


def clustered_score_intervals(
    successes: np.ndarray, trials: np.ndarray, confidence: float = 0.95, weighting: str = "pooled"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cluster score interval for the mean question rate E[p_q], vectorised over rows.

    ``successes`` and ``trials`` are (R, G) arrays (one row per data set, every trial count
    > 0); returns (estimate, low, high), each of length R. This single function is what the
    product (``clustered_rate``, ``question_mean_rate``) and the coverage simulation
    (``benchmarks/ci_coverage.py``) call.

    Method. Estimate p = sum_q w_q k_q/n_q (``_weights``). The interval is the set of p0 that
    a score-type test does not reject, as in the Wilson interval (Wilson 1927), but with
      V(p0) = p0(1-p0) sum w_q^2/n_q  +  e * [p0(1-p0) / (p(1-p))]^1.5,
    where e = max(0, V_CR1 - binomial part at p) is the between-question variance in excess of
    binomial noise (``_clustered_variance``, ``_variance_at``), and the critical value is a t
    quantile whose degrees of freedom are G-1 reduced for kurtosis (``_kurtosis_df``) and
    raised by Satterthwaite where the known binomial part dominates (``_critical_at``).
    Why: the binomial part keeps a positive upper bound at zero events (where Wald and t
    intervals collapse to a point); letting the between-question variance grow with p0 makes
    the interval skewed the way the sampling distribution of a rare rate is skewed; the
    kurtosis df widens it when a few questions carry most of the misalignment. Coverage
    0.93-0.975 in every cell of ``benchmarks/ci_coverage.py``.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    w = _weights(n, weighting)
    rates = k / n
    est = np.sum(w * rates, axis=-1)
    binom_factor = np.sum(w * w / n, axis=-1)
    v_cr1 = _clustered_variance(rates, w, est)
    excess = np.maximum(0.0, v_cr1 - est * (1 - est) * binom_factor)
    scale = est * (1 - est)
    # p = 0 or 1: every question at the edge, so the excess is 0 and the scale is unused.
    scale = np.where(scale > 0, scale, 1.0)
    v_hat = _variance_at(est, binom_factor, excess, scale)
    df_cluster = _kurtosis_df(rates, w, est)
    args = (binom_factor, excess, scale, v_hat, df_cluster)
    low = _bound(est, -1, args, confidence)
    high = _bound(est, +1, args, confidence)
    # Rounding in the bisection must not push an end past the estimate.
    return est, np.minimum(low, est), np.maximum(high, est)


def _overall(successes, trials, confidence, weighting, method) -> RateEstimate:
    """Shared body of ``clustered_rate`` and ``question_mean_rate``."""
    k = np.asarray(successes, dtype=float).ravel()
    n = np.asarray(trials, dtype=float).ravel()
    keep = n > 0  # questions with no eligible answer carry no information about the rate
    k, n = k[keep], n[keep]
    n_total, clusters = int(n.sum()), int(keep.sum())
    if n_total == 0:
        # Nothing eligible anywhere: no rate, and an interval would be made up.
        return RateEstimate(None, None, None, 0, clusters, confidence, method)
    est, low, high = clustered_score_intervals(k[None, :], n[None, :], confidence, weighting)
    return RateEstimate(float(est[0]), float(low[0]), float(high[0]), n_total, clusters,
                        confidence, method)


def clustered_rate(
    successes: list[int] | np.ndarray, trials: list[int] | np.ndarray, confidence: float = 0.95
) -> RateEstimate:
    """Pooled rate sum(k)/sum(n) with the cluster score interval (the product default).

    Estimand: the population mean question rate E[p_q]. For equal n per question the pooled
    rate is exactly the mean of question rates; with unequal n it targets E[n_q p_q]/E[n_q],
    which is E[p_q] as long as a question's number of eligible answers is unrelated to its
    rate (otherwise prefer ``question_mean_rate``). Method: ``clustered_score_intervals`` with
    weights n_q/N. Questions with n = 0 are dropped.
    """
    return _overall(successes, trials, confidence, "pooled", CLUSTER_METHOD)


def question_mean_rate(
    successes: list[int] | np.ndarray, trials: list[int] | np.ndarray, confidence: float = 0.95
) -> RateEstimate:
    """Mean of per-question rates k_q/n_q, each question weighted equally, with its interval.

    Estimand E[p_q], like ``clustered_rate``; it differs only when questions have different
    numbers of eligible answers. Questions with n = 0 are excluded (their rate is undefined).
    Method: ``clustered_score_intervals`` with weights 1/G.
    """
    return _overall(successes, trials, confidence, "question", QUESTION_MEAN_METHOD)
