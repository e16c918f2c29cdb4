"""One question's rate over its own answers: Wilson score and Clopper-Pearson intervals.

numpy/scipy only. Overall rates of several questions are in ``intervals`` (this probe set)
and ``population`` (new questions like these).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

WILSON_METHOD = "Wilson score"
EXACT_METHOD = "Clopper-Pearson exact"


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
