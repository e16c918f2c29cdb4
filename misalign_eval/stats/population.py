"""Population scope (new questions): cluster score interval and refusal rule, vectorised.

The machinery behind ``rate_interval(..., scope="population")`` (see ``intervals``): the
question-mean estimate of E[p_q] with questions or probe families as independent clusters,
``population_score`` (the interval) and ``population_refusal`` (clusters needed / available).
Work on (R, G) arrays, one row per data set, so ``benchmarks/ci_coverage.py`` proves the code the
product runs. numpy/scipy only.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

POPULATION_METHOD = ("question-mean rate, cluster score interval (clusters: {unit}; between-"
                     "cluster variance scaled with [p0(1-p0)]^2 for the upper end, p0(1-p0) for "
                     "the lower end; t reference with kurtosis-reduced df)")

# --- population scope: constants of the score interval (see population_score) ---------------
# Power of p0(1-p0) by which the between-cluster variance follows the hypothesised rate p0, per
# end of the interval. 1 is the beta-binomial (constant intra-class correlation) model; 2 the
# logit-normal random intercept by the delta method, at small rates the constant-coefficient-of-
# variation (gamma / log-normal) variance function V(mu) ~ mu^2 of quasi-likelihood (McCullagh &
# Nelder 1989, sec. 9.2). Each end uses the one of the two models that is conservative on its
# side: the upper end lets the between-cluster variance grow like mu^2 (the heavy right tail of
# rare, heterogeneous rates, where samples that missed the hot questions show a small variance),
# the lower end lets it shrink only like mu. A single power 1.5 undercovered at logit sd 2
# (truth above the upper end in 4.7-8.2% of replicates) and overshot the lower tail for
# concentrated designs (4.0-4.8% below); see benchmarks/ci_coverage.py.
# Measured and not adopted (30 independent-question cells at G = 50, 2000-4000 replicates; this
# method: 16-20/30 in 0.94-0.97): profile-likelihood (likelihood-ratio, F(1, C-1) reference)
# intervals for E[p_q] under a fitted logit-normal (8/30) or beta-binomial (5/30) random-effects
# model lose coverage where the model is wrong (logit-normal 0.63-0.82 in "conc" at m = 100,
# beta-binomial 0.84-0.88 at logit sd 2) and where n_q depends on p_q (the likelihood weights
# questions by n_q: 0.91-0.93); the union of the logit-normal upper end with this upper end at
# power 1 gives 18/30 (heavy0.2 mostly fixed, light designs 0.97-0.98); a Pearson-dispersion
# gate on the excess gives 17/30; a binomial part with per-question rates (unbiased sum_q
# k(n-k)/(n^2(n-1)), or sum_q k/n^2: n_q related to p_q) 22/30 vs 20/30 on the same draws, all
# light cells in target, but heavy0.2 down to 0.89 (variance moves from the excess, which
# grows like p0^2, to the binomial part). More questions do not rescue the rule either (no refusal
# floor): at G = 100 and 200 heavy0.2 stays at 0.93-0.95 and "conc" at 0.96-0.98.
_UPPER_POWER = 2.0
_LOWER_POWER = 1.0
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


def cluster_unit(families) -> str:
    """What the clusters are, for messages: "families" only when some questions share one."""
    if families is None:
        return "questions"
    labels = [str(x) for x in families]
    return "families" if len(set(labels)) < len(labels) else "questions"


def cluster_onehot(cluster: np.ndarray) -> np.ndarray:
    """(G, C) indicator of each question's cluster: sums over questions by cluster as a product."""
    onehot = np.zeros((cluster.size, int(cluster.max()) + 1))
    onehot[np.arange(cluster.size), cluster] = 1.0
    return onehot


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
    onehot = cluster_onehot(cluster)
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


def _rejects(p0, est, binom, excess, scale, v_hat, df_c, z_tail, power):
    """Score test of p0: |est - p0| > t_df(p0) sqrt(V(p0)), V(p0) binomial + scaled excess.

    The excess follows p0 as [p0(1-p0)/(p(1-p))]^power.

    df(p0) by Satterthwaite (1946): the estimated part r*V(p) carries df_c, the binomial part
    is known, so df(p0) = df_c (V(p0)/(r V(p)))^2, never below df_c.
    """
    pq = p0 * (1 - p0)
    ratio = (pq / scale) ** power
    v0 = pq * binom + excess * ratio
    est_part = ratio * v_hat
    df = np.where(est_part > 0, df_c * (v0 / np.where(est_part > 0, est_part, 1.0)) ** 2, np.inf)
    df = np.maximum(df, df_c)
    gap, root = np.broadcast_arrays(np.abs(est - p0), np.sqrt(v0))
    df = np.broadcast_to(df, gap.shape)
    # The t quantile lies between the normal one (df -> inf) and the one at df_c (df >= df_c):
    # outside that band the verdict is known without it, so only the band calls t.isf (the
    # cost of this function). Same verdicts as comparing with t.isf(z_tail, df) everywhere.
    surely = gap > stats.t.isf(z_tail, df_c) * root
    band = ~surely & (gap > stats.norm.isf(z_tail) * root)
    out = np.array(surely, copy=True)
    out[band] = gap[band] > stats.t.isf(z_tail, df[band]) * root[band]
    return out


def _score_end(est, side, args, tail):
    """End of the accepted region around the estimate on one side (logit grid + bisection).

    The excess variance follows p0 with ``_UPPER_POWER`` above the estimate (side > 0) and
    ``_LOWER_POWER`` below it.
    """
    power = _UPPER_POWER if side > 0 else _LOWER_POWER
    grid = special.expit(_LOGIT_GRID)[None, :]
    cols = [a[:, None] for a in args]
    beyond = grid > est[:, None] if side > 0 else grid < est[:, None]
    rejected = beyond & _rejects(grid, est[:, None], *cols, tail, power)
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
        rej = _rejects(special.expit(mid), est, *args, tail, power)
        if side > 0:
            hi, lo = np.where(rej, mid, hi), np.where(rej, lo, mid)
        else:
            lo, hi = np.where(rej, mid, lo), np.where(rej, hi, mid)
    end = special.expit(lo if side > 0 else hi)
    return np.where(has, end, 1.0 if side > 0 else 0.0)


def population_score(successes, eligible, families=None, confidence: float = 0.95,
                     sided: str = "two", ends: str = "both"):
    """Cluster score interval for E[p_q] (question-mean weighting), vectorised over rows.

    Estimate: mean over rated questions of k_q/n_q. Variance at a hypothesised mean p0:
      V(p0) = p0(1-p0) sum_q 1/(G^2 n_q)  +  e * [p0(1-p0) / (p(1-p))]^a,
    a = 2 above the estimate and 1 below it (``_UPPER_POWER``, ``_LOWER_POWER``),
    where e = max(0, V_CR1 - binomial part at the estimate) is the between-cluster excess of the
    CR1 variance C/(C-1) sum_c e_c^2 over cluster residual totals (Cameron & Miller 2015,
    J. Human Resources 50:317); clusters are families when given, else questions. The interval
    is the set of p0 not rejected by |p - p0| <= t_df sqrt(V(p0)) (a Wilson-type score
    inversion, Wilson 1927): the binomial part keeps an upper bound above 0 at zero events, and
    the excess growing with p0 makes the upper end reach further than the lower one, the way a
    rare, skewed rate's sampling distribution does. df: C-1 reduced for kurtosis of the cluster
    totals (``_kurtosis_df``), raised by Satterthwaite where the binomial part dominates.
    Returns (estimate, low, high); ``sided="one"`` gives one-sided (confidence) limits.
    ``ends``: "both" (default), or "low" / "high" to compute only that end (the other is
    returned as 0 / 1, i.e. unbounded), which halves the work when one bound is enough.
    """
    if ends not in ("both", "low", "high"):
        raise ValueError(f"ends must be 'both', 'low' or 'high', not {ends!r}")
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
    low = (np.minimum(_score_end(safe_est, -1, args, tail), safe_est) if ends != "high"
           else np.zeros_like(safe_est))
    high = (np.maximum(_score_end(safe_est, +1, args, tail), safe_est) if ends != "low"
            else np.ones_like(safe_est))
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
    onehot = cluster_onehot(cluster)
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


__all__ = ["MIN_CLUSTERS", "POPULATION_METHOD", "cluster_onehot", "cluster_unit",
           "family_index", "population_refusal", "population_score", "refusal_text",
           "skew_warning"]
