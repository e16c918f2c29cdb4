"""Misalignment along a curve (checkpoints, steering coefficients, data sizes): trend tests.

numpy/scipy only. A curve is J points with values x_j; point j is one run or a group of seed
runs on the same G questions, counts ``k[j]`` / ``n[j]`` of shape (S_j, G) (a 2-d (J, G) array
is J single runs). Everything here is a claim about these questions (questions scope).

- ``trend_test``: is there a monotone trend in x? One run per point: the Mantel (1963) extension
  test for trend stratified by question (Cochran 1954 and Armitage 1955 for one stratum), its
  p-value from the exact conditional (permutation) distribution given every question's margins,
  so its level holds given the questions whatever the rates, eligible counts or rarity of
  events. Seed groups: the same statistic with runs as the permuted units (seed variation then
  counts as noise, not as trend).
- ``first_difference``: the first x whose rate differs from a reference point by more than a
  margin m, Holm (1979) over the points.
- ``first_below``: for a decreasing curve, the first x from which the rate is below a threshold
  at that point and every later one, with confidence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from misalign_eval.stats.multiplicity import holm
from misalign_eval.stats.seed_groups import group_mover, group_wilson

ALTERNATIVES = ("two-sided", "increasing", "decreasing")
MANTEL_METHOD = ("Mantel (1963) extension test for trend, stratified by question; exact "
                 "conditional p-value given each question's margins ({draws} Monte Carlo draws)")
RUN_METHOD = ("Mantel-type trend statistic stratified by question, runs (seeds) as the permuted "
              "units ({draws} Monte Carlo permutations)")


def mantel_statistic(successes, eligible, scores):
    """Mantel's trend statistic, vectorised over leading axes: (T, variance, z).

    ``successes``, ``eligible``: (..., J, G); ``scores``: (J,). With K_q events among N_q answers
    of question q, E_qj = n_qj K_q / N_q, T = sum_q sum_j x_j (k_qj - E_qj) and its conditional
    (hypergeometric) variance sum_q K_q (N_q - K_q) / (N_q^2 (N_q - 1)) * [N_q sum_j n_qj x_j^2
    - (sum_j n_qj x_j)^2] (Mantel 1963, JASA 58:690, eq. for the extension test). Questions
    with fewer than 2 answers, or no events, contribute nothing; variance 0 gives z = 0.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(eligible, dtype=float)
    x = np.asarray(scores, dtype=float)[:, None]
    big_k, big_n = k.sum(axis=-2), n.sum(axis=-2)
    safe_n = np.where(big_n > 0, big_n, 1.0)
    expected = n * (big_k / safe_n)[..., None, :]
    t = (x * (k - expected)).sum(axis=(-2, -1))
    sx, sxx = (n * x).sum(axis=-2), (n * x * x).sum(axis=-2)
    factor = np.where(big_n >= 2, big_k * (big_n - big_k) / (safe_n**2 * np.maximum(big_n - 1, 1)),
                      0.0)
    var = (factor * (big_n * sxx - sx * sx)).sum(axis=-1)
    z = np.where(var > 0, t / np.sqrt(np.where(var > 0, var, 1.0)), 0.0)
    return t, var, z


def conditional_draws(successes, eligible, scores, draws: int, rng):
    """T under H0 (no trend given the questions), vectorised: shape (..., draws).

    Given question q's K_q events among its N_q answers, every allocation of events to answers
    is equally likely under H0, so the events per point are multivariate hypergeometric; drawn
    point by point as univariate hypergeometrics of what remains.
    """
    k = np.asarray(successes, dtype=np.int64)
    n = np.asarray(eligible, dtype=np.int64)
    x = np.asarray(scores, dtype=float)
    big_k, big_n = k.sum(axis=-2), n.sum(axis=-2)
    shape = (draws,) + big_k.shape
    good = np.broadcast_to(big_k, shape).copy()
    total = np.broadcast_to(big_n, shape).copy()
    safe_n = np.where(big_n > 0, big_n, 1).astype(float)
    t = np.zeros(shape)
    for j in range(k.shape[-2]):
        size = np.broadcast_to(n[..., j, :], shape)
        drawn = rng.hypergeometric(good, total - good, size)
        t += x[j] * (drawn - size * (big_k / safe_n))
        good -= drawn
        total -= size
    return np.moveaxis(t.sum(axis=-1), 0, -1)


def exceed_p(observed, null, alternative: str = "two-sided"):
    """Monte Carlo p-value (1 + #{null at least as extreme}) / (1 + B), Phipson & Smyth 2010:
    never 0, and exactly valid for any number of draws B. A small tolerance keeps ties tied."""
    observed = np.asarray(observed, dtype=float)[..., None]
    tol = 1e-9 * np.maximum(1.0, np.abs(observed))
    if alternative == "two-sided":
        hits = np.abs(null) >= np.abs(observed) - tol
    elif alternative == "increasing":
        hits = null >= observed - tol
    else:
        hits = null <= observed + tol
    return (1 + hits.sum(axis=-1)) / (1 + null.shape[-1])


def asymptotic_p(z, alternative: str = "two-sided"):
    if alternative == "two-sided":
        return 2 * stats.norm.sf(np.abs(z))
    return stats.norm.sf(z) if alternative == "increasing" else stats.norm.cdf(z)


@dataclass(frozen=True)
class TrendResult:
    """A trend test along x: ``p_value`` (exact conditional, used for decisions), ``z`` and its
    normal ``p_asymptotic`` for reference, ``direction`` of the observed trend."""

    p_value: float
    z: float
    p_asymptotic: float | None
    direction: str
    alternative: str
    n_points: int
    n_runs: int
    n_questions: int
    n: int
    method: str
    min_p_value: float | None = None  # smallest p the permutation design can reach
    warning: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def as_points(points) -> list[np.ndarray]:
    """Counts per point as (S_j, G) float arrays; a (J, G) array is J single runs."""
    if isinstance(points, np.ndarray) and points.ndim == 2:
        points = [row[None] for row in points]
    out = [np.atleast_2d(np.asarray(p, dtype=float)) for p in points]
    if not out or len({p.shape[-1] for p in out}) != 1 or any(p.ndim != 2 for p in out):
        raise ValueError("every point needs (seeds, questions) counts on the same questions")
    return out


def _check_x(x, j: int) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.shape != (j,) or not np.all(np.isfinite(x)):
        raise ValueError(f"need one finite x value per point ({j} points)")
    return x


def trend_test(successes, eligible, x, *, alternative: str = "two-sided", draws: int = 20000,
               seed: int = 0) -> TrendResult:
    """Test for a monotone trend of the rate in x (scores x; pass log x for a log axis).

    ``successes``/``eligible``: (J, G) arrays for single runs, or lists of (S_j, G) arrays for
    seed groups. H0: on every question the rate is the same at every point (single runs), or
    the runs are exchangeable across points (groups). ``seed`` fixes the Monte Carlo draws so
    the same data give the same p-value.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, not {alternative!r}")
    ks, ns = as_points(successes), as_points(eligible)
    if [k.shape for k in ks] != [n.shape for n in ns]:
        raise ValueError("successes and eligible need the same shapes")
    x = _check_x(x, len(ks))
    rng = np.random.default_rng(seed)
    runs = sum(k.shape[0] for k in ks)
    g, total = ks[0].shape[1], int(sum(n.sum() for n in ns))
    if runs == len(ks):  # one run per point: answers are the units
        k, n = np.concatenate(ks), np.concatenate(ns)
        t, _, z = mantel_statistic(k, n, x)
        null = conditional_draws(k, n, x, draws, rng)
        p = float(exceed_p(t, null, alternative))
        return TrendResult(p, float(z), float(asymptotic_p(z, alternative)), _direction(t),
                           alternative, len(ks), runs, g, total, MANTEL_METHOD.format(draws=draws))
    return _run_permutation(ks, ns, x, alternative, draws, rng, g, total)


def _direction(t) -> str:
    return "increasing" if t > 0 else "decreasing" if t < 0 else "flat"


def _run_permutation(ks, ns, x, alternative, draws, rng, g, total) -> TrendResult:
    """Runs as units: T = sum_r x_r D_r, D_r = sum_q (k_rq - n_rq K_q / N_q); x permuted over runs."""
    k, n = np.concatenate(ks), np.concatenate(ns)
    labels = np.concatenate([np.full(p.shape[0], x[j]) for j, p in enumerate(ks)])
    big_n = n.sum(axis=0)
    rate = k.sum(axis=0) / np.where(big_n > 0, big_n, 1.0)
    d = (k - n * rate).sum(axis=1)
    t = float(labels @ d)
    perms = rng.permuted(np.broadcast_to(labels, (draws, labels.size)), axis=1)
    p = float(exceed_p(t, perms @ d, alternative))
    arrangements = _arrangements([p_.shape[0] for p_ in ks])
    floor = (2.0 if alternative == "two-sided" else 1.0) / arrangements
    warning = None
    if floor > 0.05:
        warning = (f"{labels.size} runs over {len(ks)} points allow only {arrangements:g} "
                   f"arrangements: no p-value below {floor:.2g} is possible; add seeds")
    return TrendResult(p, 0.0, None, _direction(t), alternative, len(ks), labels.size, g, total,
                       RUN_METHOD.format(draws=draws), min(1.0, floor), warning)


def _arrangements(sizes: list[int]) -> float:
    """Distinct assignments of runs to points (multinomial coefficient)."""
    from math import factorial, prod

    return factorial(sum(sizes)) / prod(factorial(s) for s in sizes)


# ---------------------------------------------------------------- first point that differs


@dataclass(frozen=True)
class PointDifference:
    """One point against the reference: b = this point, a = the reference."""

    x: float
    estimate: float
    low: float
    high: float
    p_value: float
    p_holm: float
    differs: bool

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FirstDifference:
    reference_x: float
    margin: float
    alpha: float
    first_x: float | None
    points: list[PointDifference]
    method: str

    def to_json(self) -> dict:
        data = asdict(self)
        data["points"] = [p.to_json() for p in self.points]
        return data


FIRST_DIFFERENCE_METHOD = (
    "H0_j: |rate_j - rate_ref| <= margin, rejected when the two-sided (1-alpha) MOVER interval "
    "of the difference lies wholly above +margin or wholly below -margin; p_j the smallest such "
    "alpha; Holm-adjusted over the {m} points")


# Alpha range of the p-value search, as ``differences.zero_p_value``.
_P_FLOOR, _P_CEIL, _BISECTIONS = 1e-12, 1 - 1e-9, 48


def band_p_value(k_a, n_a, k_b, n_b, margin: float):
    """Smallest alpha whose two-sided (1-alpha) interval of b - a excludes [-margin, margin],
    vectorised over leading axes ((..., S, G) counts per side).

    margin 0: the p-value of no difference (``DifferenceInterval.p_value`` for single runs).
    Rejecting at alpha keeps P(reject) <= alpha when |difference| <= margin (at most alpha/2
    per side at the band's edge, so conservative for margin > 0). The interval family is
    nested in alpha, so geometric bisection finds p (1 when even alpha -> 1 keeps the band,
    1e-12 when the 1 - 1e-12 interval already excludes it).
    """
    def excludes(alpha):
        _, low, high = group_mover(k_a, n_a, k_b, n_b, 1 - alpha)
        return (low > margin) | (high < -margin)

    shape = np.shape(group_mover(k_a, n_a, k_b, n_b, 0.5)[0])
    lo, hi = np.full(shape, _P_FLOOR), np.full(shape, _P_CEIL)
    for _ in range(_BISECTIONS):
        mid = np.sqrt(lo * hi)
        out = excludes(mid)
        lo, hi = np.where(out, lo, mid), np.where(out, mid, hi)
    p = np.where(excludes(np.full(shape, _P_FLOOR)), _P_FLOOR, hi)
    p = np.where(excludes(np.full(shape, _P_CEIL)), p, 1.0)
    return p if p.ndim else float(p)


def holm_first(xs, p_values, alpha: float):
    """Holm-adjusted p-values and the smallest x whose adjusted p is below alpha (or None)."""
    adjusted = holm(p_values)
    hits = [x for x, q in zip(xs, adjusted) if q < alpha]
    return adjusted, (min(hits) if hits else None)


def first_difference(successes, eligible, x, *, reference: int = 0, margin: float = 0.0,
                     alpha: float = 0.05) -> FirstDifference:
    """The smallest x (other than the reference's) whose rate differs from the reference
    point's by more than ``margin``, with Holm's correction over the J - 1 comparisons
    (family-wise error <= alpha). Points are single runs or seed groups (``group_mover``)."""
    ks, ns = as_points(successes), as_points(eligible)
    x = _check_x(x, len(ks))
    if not 0 <= reference < len(ks):
        raise ValueError(f"reference {reference} is not a point index")
    if not 0 <= margin < 1 or not 0 < alpha < 1:
        raise ValueError("need 0 <= margin < 1 and 0 < alpha < 1")
    others = [j for j in np.argsort(x, kind="stable") if j != reference]
    ref = (ks[reference], ns[reference])
    found = []
    for j in others:
        d, low, high = group_mover(*ref, ks[j], ns[j], 1 - alpha)
        found.append((j, float(d), float(low), float(high), band_p_value(*ref, ks[j], ns[j], margin)))
    adjusted, first = holm_first([float(x[f[0]]) for f in found], [f[-1] for f in found], alpha)
    rows = [PointDifference(float(x[j]), d, lo, hi, p, q, q < alpha)
            for (j, d, lo, hi, p), q in zip(found, adjusted)]
    return FirstDifference(float(x[reference]), margin, alpha, first, rows,
                           FIRST_DIFFERENCE_METHOD.format(m=len(rows)))


# ------------------------------------------------------------- rate stays below a threshold


@dataclass(frozen=True)
class FirstBelow:
    threshold: float
    alpha: float
    first_x: float | None
    upper_bounds: list[float]  # one-sided (1 - alpha) upper bound per point, in x order
    x: list[float]
    method: str = ("one-sided (1-alpha) upper bound of the stratified Wilson (or seed-group) "
                   "interval at each point; fixed-sequence testing from the last x backwards, "
                   "each at level alpha (Maurer, Hothorn & Lehmacher 1995), which controls the "
                   "family-wise error at alpha without further correction")

    def to_json(self) -> dict:
        return asdict(self)


def first_below(successes, eligible, x, *, threshold: float, alpha: float = 0.05) -> FirstBelow:
    """The first x from which the rate is below ``threshold`` at that point and every later one.

    H0_j: rate_j >= threshold, rejected when the one-sided (1-alpha) upper bound is below the
    threshold. Tested in the fixed order last x, then backwards, stopping at the first point
    not rejected: the claim "below from x_j* on" is wrong only if some later point's rate is at
    or above the threshold while its bound fell below it, which has probability <= alpha.
    Bonferroni over the points would also be valid but needlessly conservative here.
    """
    ks, ns = as_points(successes), as_points(eligible)
    x = _check_x(x, len(ks))
    if not 0 < threshold <= 1 or not 0 < alpha < 0.5:
        raise ValueError("need 0 < threshold <= 1 and 0 < alpha < 0.5")
    order = np.argsort(x, kind="stable")
    upper = [float(group_wilson(ks[j], ns[j], 1 - alpha, sided="one")[2]) for j in order]
    first = None
    for pos in range(len(order) - 1, -1, -1):
        if upper[pos] >= threshold:
            break
        first = float(x[order[pos]])
    return FirstBelow(threshold, alpha, first, upper, [float(v) for v in x[order]])


__all__ = ["TrendResult", "trend_test", "mantel_statistic", "conditional_draws", "exceed_p",
           "FirstDifference", "PointDifference", "first_difference", "band_p_value", "holm_first",
           "FirstBelow", "first_below", "as_points"]
