"""Rates with confidence intervals that respect the clustering of answers within questions.

Depends on numpy/scipy only. Answers to one question are correlated (a model that turns
hostile on "ruler of the world" does so in many of its samples), so the question, not the
answer, is the independent unit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


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


def wilson_interval(k: float, n: float, critical: float) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (Wilson 1927).

    ``critical`` is the two-sided quantile (1.96 for 95% with a normal reference). k and n
    may be fractional: they are effective counts after a design-effect correction.
    """
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    z2 = critical * critical
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = critical * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def clustered_rate(
    successes: list[int] | np.ndarray, trials: list[int] | np.ndarray, confidence: float = 0.95
) -> RateEstimate:
    """Pooled rate sum(k)/sum(n) with a cluster-adjusted Wilson interval.

    Method: the cluster-robust (sandwich) variance of the ratio estimator, with the
    small-sample factor G/(G-1) (Cameron & Miller 2015, sec. VI), gives a design effect
    deff = V_cluster / V_binomial; the Wilson interval is then computed on the effective
    sample size n/deff with a t quantile on G-1 degrees of freedom. Wilson keeps the interval
    inside [0, 1] and non-degenerate at 0 events, where a Wald interval collapses to a point.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    keep = n > 0  # questions with no eligible answer carry no information about the rate
    k, n = k[keep], n[keep]
    n_total, clusters = int(n.sum()), int(keep.sum())
    method = "cluster-adjusted Wilson (design effect from CR1 sandwich variance, t on G-1 df)"
    if n_total == 0:
        return RateEstimate(None, None, None, 0, clusters, confidence, method)
    p = k.sum() / n_total
    alpha = 1 - confidence
    # One cluster: no between-question variance can be estimated; use the normal quantile.
    critical = (stats.t.ppf(1 - alpha / 2, clusters - 1) if clusters > 1
                else stats.norm.ppf(1 - alpha / 2))
    deff = 1.0
    binomial_var = p * (1 - p) / n_total
    if clusters > 1 and binomial_var > 0:
        cluster_var = clusters / (clusters - 1) * np.sum((k - p * n) ** 2) / n_total**2
        # deff < 1 would claim answers are more informative than independent ones.
        deff = max(1.0, cluster_var / binomial_var)
    # At p = 0 or 1 both variances vanish and deff stays 1: Wilson still gives a bound.
    low, high = wilson_interval(p * n_total / deff, n_total / deff, critical)
    return RateEstimate(float(p), float(low), float(high), n_total, clusters, confidence, method)
