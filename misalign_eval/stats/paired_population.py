"""Population-scope paired difference b minus a: a cluster score interval, vectorised.

The machinery behind ``difference_interval`` / ``noninferiority`` with scope="population"
(see ``differences``). Estimand E[p_bq - p_aq] over new questions like these; both runs rate
the same questions, paired by question; clusters are questions or probe families. Works on
(R, G) arrays, one row per data set, so ``benchmarks/ci_coverage.py`` proves the code the
product runs. numpy/scipy only.

Why not MOVER of the two runs' population rate limits (the earlier method): each run's limits
carry the skew of its question rates, but the paired difference cancels the shared question
effect, so MOVER overshot (coverage up to 0.9995, population gate power 0.07 at a true
difference of 0 in the concentrated design); the symmetric or Johnson-corrected t on the
differences is too liberal (one-sided misses up to 10% at alpha 0.05) because samples that
missed the hot questions show both a small difference and a small variance. Measured in
benchmarks/ci_coverage.py (10,000 replicates a cell): coverage 0.954-0.981, gate false pass
at most 0.048; widest where a few hot questions at 20-60% carry the shift (the constant-CV
growth of the rising run is then more than needed).
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from misalign_eval.stats.population import _kurtosis_df, cluster_onehot, family_index

PAIRED_SCORE_METHOD = ("paired by question, question mean over questions rated in both runs; "
                       "cluster score interval of the difference (clusters: {unit}; variance "
                       "at the hypothesised difference: both runs' answer variances plus their "
                       "between-cluster excesses and covariance, each run's scaled with "
                       "[p0(1-p0)]^2 where its rate rises, p0(1-p0) where it falls; continuity "
                       "correction; t reference with kurtosis-reduced df)")
# Power of p0(1-p0) by which a run's between-cluster variance follows its hypothesised rate,
# as for one rate (``population``): 2 (constant coefficient of variation, the heavy right tail
# of rare heterogeneous rates) where the rate rises above its estimate, 1 (beta-binomial)
# where it falls. Fixed here so that the difference keeps its measured behaviour.
_RISE_POWER = 2.0
_FALL_POWER = 1.0
# Share of the way from the estimate to +-1 at which ends are bracketed, then bisected.
_GRID = special.expit(np.linspace(-20.0, 0.0, 201))
_BISECTIONS = 40


def _run_parts(k, n, both, onehot, safe_g):
    """Question mean of one run over the paired questions, its binomial factor
    B = sum 1/(G^2 n_q), the unbiased within-question (answer) variance of the mean
    W = sum r_q(1-r_q)/((n_q-1) G^2) (questions with n_q >= 2) and its cluster residual totals."""
    rate = np.where(both, k / np.where(both, n, 1.0), 0.0)
    est = rate.sum(axis=-1) / safe_g
    binom = np.where(both, 1.0 / np.where(both, n, 1.0), 0.0).sum(axis=-1) / safe_g**2
    within = np.where(both & (n >= 2), rate * (1 - rate) / np.maximum(n - 1, 1.0), 0.0)
    totals = np.where(both, (rate - est[..., None]) / safe_g[..., None], 0.0) @ onehot
    return est, binom, within.sum(axis=-1) / safe_g**2, totals


def paired_score(k_a, n_a, k_b, n_b, families=None, confidence: float = 0.95,
                 sided: str = "two", ends: str = "both"):
    """Population-scope paired difference b minus a, vectorised: (estimate, low, high, clusters).

    Estimate d = p_b - p_a, question means over the questions rated in both runs. Each run r:
    W_r = sum r_q(1-r_q)/((n_q-1) G^2), the unbiased answer (binomial) variance of its mean;
    X_r = max(0, CR1_r - W_r), the between-cluster excess of its CR1 variance (Cameron & Miller
    2015, J. Human Resources 50:317); C, the CR1 covariance of the two question means (question
    effects only, so kept within +-sqrt(X_a X_b)); V_r = W_r + X_r, so that the variance at the
    estimate is the CR1 variance of the paired differences. A difference d0 is tested at the
    rates (mu_a, mu_b), mu_b - mu_a = d0, nearest the estimates in that covariance (constrained
    least squares, as the constrained estimates of Miettinen & Nurminen 1985, Statist. Med.
    4:213, and of Tango's 1998 paired score interval, Statist. Med. 17:891): mu_b = p_b +
    w (d0 - d), w = (V_b - C)/(V_a + V_b - 2C), rates kept in [0, 1]. Variance there:
        V(d0) = W_a u_a + W_b u_b + X_a s_a^2 + X_b s_b^2 - 2 C s_a s_b,
    u_r = mu_r(1-mu_r) / (p_r(1-p_r)) (binomial; at p_r = 0 the known mu_r(1-mu_r) B_r,
    B_r = sum 1/(G^2 n_q)), s_r = u_r^(power/2), power 2 where mu_r > p_r, else 1. So a run
    whose rate must rise for d0 brings the long right tail of rare rates, while the shared
    question effect cancels through C. The interval is the set of d0 with
    |d - d0| - h <= t sqrt(V(d0)) (score inversion, Wilson 1927), h half the mean lattice step
    of the estimate, (B_a + B_b)/4 (continuity correction, Yates 1934), t on C-1 df reduced for
    the kurtosis of the paired cluster totals (``population._kurtosis_df``, Box 1953). The
    binomial parts keep the interval open at 0 events in both runs. ``sided="one"``: each end
    is a one-sided (confidence) bound; ``ends``: "high" / "low" computes only that end (the other
    is returned as 1 / -1). One cluster: [-1, 1].
    """
    if ends not in ("both", "low", "high"):
        raise ValueError(f"ends must be 'both', 'low' or 'high', not {ends!r}")
    k_a, n_a, k_b, n_b = (np.atleast_2d(np.asarray(x, dtype=float)) for x in (k_a, n_a, k_b, n_b))
    cluster = family_index(families, k_a.shape[-1])
    both = (n_a > 0) & (n_b > 0)
    onehot = cluster_onehot(cluster)
    g = both.sum(axis=-1)
    c = ((both.astype(float) @ onehot) > 0).sum(axis=-1).astype(float)
    safe_g = np.maximum(g, 1).astype(float)
    p_a, lat_a, w_a, e_a = _run_parts(k_a, n_a, both, onehot, safe_g)
    p_b, lat_b, w_b, e_b = _run_parts(k_b, n_b, both, onehot, safe_g)
    f = np.where(c >= 2, c / np.maximum(c - 1, 1.0), 0.0)
    x_a = np.maximum(0.0, f * np.sum(e_a**2, axis=-1) - w_a)
    x_b = np.maximum(0.0, f * np.sum(e_b**2, axis=-1) - w_b)
    lim = np.sqrt(x_a * x_b)
    cov = np.clip(f * np.sum(e_a * e_b, axis=-1), -lim, lim)
    # Binomial factor scaled so that p(1-p) b = W at the estimate (b = B at 0 events).
    b_a = np.where(p_a * (1 - p_a) > 0, w_a / np.where(p_a * (1 - p_a) > 0, p_a * (1 - p_a), 1.0),
                   lat_a)
    b_b = np.where(p_b * (1 - p_b) > 0, w_b / np.where(p_b * (1 - p_b) > 0, p_b * (1 - p_b), 1.0),
                   lat_b)
    v_a, v_b = w_a + x_a, w_b + x_b
    v_d = v_a + v_b - 2 * cov
    # w outside [0, 1] when C > V_a or C > V_b: both rates move the same way (a shared
    # question effect scaled up), as a shift on the logit does at small rates.
    w = np.where(v_d > 0, (v_b - cov) / np.where(v_d > 0, v_d, 1.0), 0.5)
    # A rate at 0 or 1 has no excess: its scale is unused.
    s_a = np.where(p_a * (1 - p_a) > 0, p_a * (1 - p_a), 1.0)
    s_b = np.where(p_b * (1 - p_b) > 0, p_b * (1 - p_b), 1.0)
    d = p_b - p_a
    tail = (1 - confidence) / 2 if sided == "two" else 1 - confidence
    t = stats.t.isf(tail, _kurtosis_df(e_b - e_a, c))
    half = (lat_a + lat_b) / 4
    rows = (p_a, p_b, s_a, s_b, x_a, x_b, cov, b_a, b_b, w, d, t, half)

    def rejects(d0, cols):
        pa, pb, sa, sb, xa, xb, cv, ba, bb, wb, dd, tq, h = (
            [x[:, None] for x in rows] if cols else rows)
        mu_b = np.clip(pb + wb * (d0 - dd), np.maximum(d0, 0.0), np.minimum(1.0, 1.0 + d0))
        mu_a = mu_b - d0

        def scale(mu, p, s):
            return (mu * (1 - mu) / s) ** (np.where(mu > p, _RISE_POWER, _FALL_POWER) / 2)

        ra, rb = scale(mu_a, pa, sa), scale(mu_b, pb, sb)
        between = np.maximum(0.0, xa * ra**2 + xb * rb**2 - 2 * cv * ra * rb)
        v0 = mu_a * (1 - mu_a) * ba + mu_b * (1 - mu_b) * bb + between
        return np.abs(dd - d0) - h > tq * np.sqrt(v0)

    def end(bound):
        # First rejected point on a grid from d toward the bound, then bisection back to the
        # last accepted one (the test need not be monotone far out: no rejection -> bound).
        rejected = rejects(d[:, None] + (bound - d[:, None]) * _GRID[None, :], True)
        has = rejected.any(axis=1)
        first = np.argmax(rejected, axis=1)
        lo = np.where(first > 0, _GRID[np.maximum(first - 1, 0)], 0.0)
        hi = _GRID[first]
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            rej = rejects(d + (bound - d) * mid, False)
            hi, lo = np.where(rej, mid, hi), np.where(rej, lo, mid)
        return np.where(has, d + (bound - d) * lo, bound)

    high = end(1.0) if ends != "low" else np.ones_like(d)
    low = end(-1.0) if ends != "high" else -np.ones_like(d)
    one = c < 2
    low = np.where(one, -1.0, np.clip(np.minimum(low, d), -1.0, 1.0))
    high = np.where(one, 1.0, np.clip(np.maximum(high, d), -1.0, 1.0))
    return np.where(g > 0, d, np.nan), low, high, c.astype(int)


__all__ = ["PAIRED_SCORE_METHOD", "paired_score"]
