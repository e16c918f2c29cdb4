"""Curves and seed groups, by simulation: the code the product runs, on designs like real fine-tunes.

Every statistic is computed by the functions behind ``misalign-eval curve`` and ``compare
--group`` (``misalign_eval.stats.trend``: mantel_statistic / conditional_draws / exceed_p
behind trend_test, band_p_value / holm_first behind first_difference, first_below;
``misalign_eval.stats.seed_groups``: group_wilson, group_mover).

Question designs (redrawn every replicate; answers Binomial(n_qj, p_qj)):
  conc   misalignment concentrated: 15% of questions "hot" with p ~ U(0.2, 0.6), the rest 0.2%
  rare   logit p_q ~ N(logit 1%, 1): rare events, many runs with 0 misaligned answers
  mod    logit p_q ~ N(logit 8%, 0.7)
Eligible counts unequal: n_qj ~ Binomial(m, e_q), logit e_q ~ N(logit 0.75, 0.8) per question.

1. Trend test (``trend_test``, single runs): J points at x = 0..J-1. Flat: p_qj = p_q, share of
   p < 0.05 (target <= 0.05). Modest trend: logit p_qj = logit p_q + beta x_j with the odds
   ratio from first to last point exp(beta (J-1)) = 2; power. The normal-approximation p of
   the same statistic is shown for comparison.
2. First difference (``first_difference``, margin 0 and 0.02): family-wise error (any point
   declared different) on a flat curve, and at the band edge (every later point's rate on the
   questions exactly +margin above the reference: additive shift); power when the last point
   doubles (odds ratio 2).
3. First below (``first_below``, threshold 0.05): a decreasing curve whose rate on the questions
   is 0.20, 0.10, then exactly 0.05 at the last point; a claim is false whenever it names any
   x (the threshold is never crossed). Target <= 0.05. Power: last two points at 0.01.
4. Seed groups (``group_wilson``): S seeds, seed s shifts every question's logit by u_s ~
   N(0, tau^2); estimand E_seed of the seed's rate on these questions (expected eligible counts,
   Gauss-Hermite quadrature). Coverage of the seed-group interval, of the plain stratified
   Wilson interval of the pooled answers (which ignores seeds), and the median width of the group
   interval over that pooled interval (w/pooled) and over one seed run's (w/1 run). Also the MOVER difference of two conditions (S seeds each, b's
   logits +0.5): coverage of E_seed difference.

Usage: python benchmarks/curves.py [--quick | --smoke] [--seed N]
Full: 2000 replicates per cell (Monte Carlo SE 0.0049 at 0.05); --quick: 500 (SE 0.0097);
--smoke: 40. Last line: ``trend_fpr_max=.. trend_power_min=.. first_diff_fwer_max=..
first_below_false_claim_max=.. seed_coverage_min=.. seed_coverage_max=.. naive_coverage_min=..
seed_width_vs_pooled_min=..`` (median width of the group interval over the
stratified Wilson interval of the same answers pooled as one run, cells with tau > 0).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import special, stats

from misalign_eval.stats.intervals import stratified_wilson
from misalign_eval.stats.seed_groups import group_mover, group_wilson
from misalign_eval.stats.trend import (
    band_p_value, conditional_draws, exceed_p, first_below, holm_first, mantel_statistic,
)

ALPHA = 0.05


def question_rates(design: str, r: int, g: int, rng) -> np.ndarray:
    if design == "conc":
        hot = rng.uniform(size=(r, g)) < 0.15
        return np.where(hot, rng.uniform(0.2, 0.6, (r, g)), 0.002)
    base, sd = {"rare": (0.01, 1.0), "mod": (0.08, 0.7)}[design]
    return special.expit(special.logit(base) + sd * rng.standard_normal((r, g)))


def eligibility(r: int, g: int, rng) -> np.ndarray:
    return special.expit(special.logit(0.75) + 0.8 * rng.standard_normal((r, g)))


def draw_points(p, e, m, rng):
    """p: (R, J, G) rates, e: (R, G) eligible shares -> k, n of shape (R, J, G)."""
    n = rng.binomial(m, np.broadcast_to(e[:, None, :], p.shape))
    return rng.binomial(n, p), n


def trend_cells(reps: int, draws: int, rng, rows: list) -> tuple[float, float]:
    fpr_max, power_min = 0.0, 1.0
    print("\n1. Trend test (stratified Mantel, exact conditional p), alpha 0.05")
    print(f"{'design':<6} {'J':>2} {'G':>3} {'m':>3}  {'FPR exact':>9} {'FPR normal':>10}"
          f"  {'power OR=2':>10}")
    for design in ("conc", "rare", "mod"):
        for j, g, m in ((4, 10, 30), (6, 10, 50), (4, 50, 20)):
            x = np.arange(j, dtype=float)
            base = question_rates(design, reps, g, rng)
            e = eligibility(reps, g, rng)
            out = []
            for beta in (0.0, np.log(2.0) / (j - 1)):
                p = special.expit(special.logit(base)[:, None, :] + beta * x[None, :, None])
                k, n = draw_points(p, e, m, rng)
                t, _, z = mantel_statistic(k, n, x)
                p_exact = exceed_p(t, conditional_draws(k, n, x, draws, rng))
                out.append(((p_exact < ALPHA).mean(), (2 * stats.norm.sf(np.abs(z)) < ALPHA).mean()))
            (fpr, fpr_norm), (power, _) = out
            fpr_max, power_min = max(fpr_max, fpr), min(power_min, power)
            print(f"{design:<6} {j:>2} {g:>3} {m:>3}  {fpr:>9.3f} {fpr_norm:>10.3f}  {power:>10.3f}")
            rows.append(("trend", design, j, g, m, fpr, power))
    return fpr_max, power_min


def first_difference_cells(reps: int, rng) -> float:
    print("\n2. First difference from the reference (Holm over points), alpha 0.05")
    print(f"{'design':<6} {'margin':>6}  {'FWER flat':>9} {'FWER edge':>9} {'power':>6}")
    worst = 0.0
    j, g, m = 4, 10, 40
    x = np.arange(j, dtype=float)
    for design in ("conc", "mod"):
        for margin in (0.0, 0.02):
            result = []
            for scenario in ("flat", "edge", "power"):
                base = question_rates(design, reps, g, rng)
                e = eligibility(reps, g, rng)
                n = rng.binomial(m, np.broadcast_to(e[:, None, :], (reps, j, g)))
                p = np.broadcast_to(base[:, None, :], (reps, j, g)).copy()
                if scenario == "edge":  # rate on the questions exactly +margin at later points
                    theta = (n[:, 1:] * p[:, 1:]).sum(-1) / np.maximum(n[:, 1:].sum(-1), 1)
                    shift = np.clip(theta + margin, 0, 1) - theta
                    p[:, 1:] = np.clip(p[:, 1:] + shift[..., None], 0, 1)
                elif scenario == "power":
                    p[:, -1] = special.expit(special.logit(p[:, -1]) + np.log(2.0))
                k = rng.binomial(n, p)
                # first_difference's own steps, vectorised over replicates
                pv = np.stack([band_p_value(k[:, 0, None], n[:, 0, None], k[:, i, None],
                                            n[:, i, None], margin) for i in range(1, j)], axis=1)
                firsts = [holm_first(x[1:], list(row), ALPHA)[1] for row in pv]
                result.append(np.mean([f is not None for f in firsts]))
            worst = max(worst, result[0], result[1])
            print(f"{design:<6} {margin:>6.2f}  {result[0]:>9.3f} {result[1]:>9.3f} {result[2]:>6.3f}")
    return worst


def first_below_cells(reps: int, rng) -> float:
    print("\n3. First x below a threshold from there on (fixed sequence), threshold 0.05")
    print(f"{'design':<6} {'false claim':>11} {'power':>6}")
    worst = 0.0
    j, g, m, threshold = 4, 10, 60, 0.05
    for design in ("conc", "mod"):
        out = []
        for targets in ((0.2, 0.1, 0.07, 0.05), (0.2, 0.1, 0.01, 0.01)):
            shape = question_rates(design, reps, g, rng)
            e = eligibility(reps, g, rng)
            n = rng.binomial(m, np.broadcast_to(e[:, None, :], (reps, j, g)))
            p = np.empty((reps, j, g))
            for i, target in enumerate(targets):  # scale question rates to the target exactly
                w = n[:, i] / np.maximum(n[:, i].sum(-1, keepdims=True), 1)
                scale = target / np.maximum((w * shape).sum(-1, keepdims=True), 1e-12)
                p[:, i] = np.clip(shape * scale, 0, 1)
            k = rng.binomial(n, p)
            x = np.arange(j, dtype=float)
            first = [first_below(k[r], n[r], x, threshold=threshold, alpha=ALPHA).first_x
                     for r in range(reps)]
            if targets[-1] >= threshold:  # the threshold is never crossed: any claim is false
                out.append(np.mean([f is not None for f in first]))
            else:  # power: the claim "below from x = 2 on" (the true first point) is made
                out.append(np.mean([f == 2.0 for f in first]))
        worst = max(worst, out[0])
        print(f"{design:<6} {out[0]:>11.3f} {out[1]:>6.3f}")
    return worst


def seed_estimand(p, u_sd, e, m):
    """E_seed of a seed's rate on these questions: Gauss-Hermite over u ~ N(0, u_sd^2)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()
    rates = special.expit(special.logit(np.clip(p, 1e-9, 1 - 1e-9))[..., None] + u_sd * nodes)
    mean_q = rates @ weights
    w = e * m
    return (w * mean_q).sum(-1) / w.sum(-1)


def seed_cells(reps: int, rng) -> tuple[float, float, float, float]:
    print("\n4. Seed groups (seed as a random effect), 95% intervals, G = 10, m = 50")
    print(f"{'design':<6} {'S':>2} {'tau':>4}  {'cover group':>11} {'cover naive':>11} "
          f"{'w/pooled':>8} {'w/1 run':>7} {'cover diff':>10}")
    g, m = 10, 50
    lo_cov, hi_cov, naive_min, ratio_min = 1.0, 0.0, 1.0, np.inf
    for design in ("conc", "mod"):
        for s in (2, 3, 5, 10):
            for tau in (0.0, 0.3, 0.7):
                p = question_rates(design, reps, g, rng)
                e = eligibility(reps, g, rng)
                truth = seed_estimand(p, tau, e, m)
                def seeds(shift):
                    u = tau * rng.standard_normal((reps, s, 1))
                    ps = special.expit(special.logit(np.clip(p, 1e-9, 1 - 1e-9))[:, None] + u + shift)
                    n = rng.binomial(m, np.broadcast_to(e[:, None], ps.shape))
                    return rng.binomial(n, ps), n
                k, n = seeds(0.0)
                est, low, high, _ = group_wilson(k, n)
                cover = ((low <= truth) & (truth <= high)).mean()
                _, nl, nh = stratified_wilson(k.reshape(reps, -1), n.reshape(reps, -1))
                naive = ((nl <= truth) & (truth <= nh)).mean()
                _, l1, h1 = stratified_wilson(k[:, 0], n[:, 0])
                ratio = np.median((high - low) / np.maximum(nh - nl, 1e-12))
                one = np.median((high - low) / np.maximum(h1 - l1, 1e-12))
                k_b, n_b = seeds(0.5)
                truth_b = seed_estimand(special.expit(special.logit(np.clip(p, 1e-9, 1 - 1e-9)) + 0.5),
                                        tau, e, m)
                _, dl, dh = group_mover(k, n, k_b, n_b)
                diff = ((dl <= truth_b - truth) & (truth_b - truth <= dh)).mean()
                lo_cov, hi_cov = min(lo_cov, cover, diff), max(hi_cov, cover, diff)
                if tau > 0:
                    naive_min = min(naive_min, naive)
                    ratio_min = min(ratio_min, ratio)
                print(f"{design:<6} {s:>2} {tau:>4.1f}  {cover:>11.3f} {naive:>11.3f} "
                      f"{ratio:>8.2f} {one:>7.2f} {diff:>10.3f}")
    return lo_cov, hi_cov, naive_min, ratio_min


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="500 replicates per cell")
    size.add_argument("--smoke", action="store_true", help="40 replicates per cell (tests)")
    parser.add_argument("--seed", type=int, default=20260)
    args = parser.parse_args()
    reps, draws = (40, 199) if args.smoke else (500, 499) if args.quick else (2000, 999)
    rng = np.random.default_rng(args.seed)
    start = time.time()
    print(f"replicates per cell: {reps}; Monte Carlo SE of a rate of 0.05: "
          f"{np.sqrt(0.05 * 0.95 / reps):.4f}; permutation draws per test: {draws}")
    fpr, power = trend_cells(reps, draws, rng, [])
    fwer = first_difference_cells(reps, rng)
    claim = first_below_cells(reps * 2, rng)
    lo, hi, naive, ratio = seed_cells(reps * 2, rng)
    print(f"\n({time.time() - start:.0f} s)")
    print(f"trend_fpr_max={fpr:.3f} trend_power_min={power:.3f} first_diff_fwer_max={fwer:.3f} "
          f"first_below_false_claim_max={claim:.3f} seed_coverage_min={lo:.3f} "
          f"seed_coverage_max={hi:.3f} naive_coverage_min={naive:.3f} "
          f"seed_width_vs_pooled_min={ratio:.2f}")


if __name__ == "__main__":
    main()
