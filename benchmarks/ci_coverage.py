"""Coverage of the product's 95% rate intervals, by simulation with known truth.

Design (one cell per combination): G questions (8, 48) x m samples per question (20, 100) x
base rate (0.5%, 5%, 25%). Each replicate draws fresh questions: logit p_q ~ N(logit(base), 1),
then k_q ~ Binomial(m, p_q). The estimand is the population mean question rate E[p_q]
(computed by numerical integration over the logit-normal; it is above the base rate, e.g.
0.81% for a 0.5% base); the pooled rate sum k / sum n and the mean of question rates both
estimate it. Intervals are built by ``misalign_eval.stats.rates.clustered_score_intervals``,
the function behind ``clustered_rate`` (pooled, product default) and ``question_mean_rate``.
Reference columns show textbook intervals for comparison (not used by the product).

Usage: python benchmarks/ci_coverage.py [--quick] [--seed N] [--replicates R]
Stress tests outside the target design: --logit-sd 2 (misalignment concentrated on fewer
questions), --eligible-min 0.3 (questions differ in eligible answers, so the pooled rate and
the question mean differ). Full mode: 4000 replicates per cell (Monte Carlo SE 0.0034 at
0.95); --quick: 1000 (SE 0.0069).
The last line is ``min_coverage=<x> max_coverage=<y>`` over the product default's cells.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np
from scipy import integrate, special, stats

from misalign_eval.stats.rates import clustered_score_intervals

QUESTIONS = (8, 48)
SAMPLES = (20, 100)
BASE_RATES = (0.005, 0.05, 0.25)
LOGIT_SD = 1.0
CONFIDENCE = 0.95
FULL_REPLICATES = 4000
QUICK_REPLICATES = 1000
TARGET = (0.93, 0.975)


@dataclass(frozen=True)
class Cell:
    questions: int
    samples: int
    base: float


def true_mean_rate(base: float, sd: float = LOGIT_SD) -> float:
    """E[p_q] for logit p_q ~ N(logit(base), sd^2), by adaptive quadrature over the normal."""
    mu = special.logit(base)
    value, _ = integrate.quad(lambda z: special.expit(mu + sd * z) * stats.norm.pdf(z), -12, 12,
                              epsabs=1e-13, epsrel=1e-11, limit=200)
    return value


def simulate_counts(cell: Cell, replicates: int, rng: np.random.Generator, sd: float = LOGIT_SD,
                    eligible_min: float = 1.0):
    """(R, G) misaligned counts and eligible counts, questions redrawn in every replicate.

    eligible_min < 1: each question keeps Binomial(m, u) of its answers, u ~ U(eligible_min, 1)
    independent of its rate (refusals, incoherent answers), so questions differ in n.
    """
    shape = (replicates, cell.questions)
    logits = special.logit(cell.base) + sd * rng.standard_normal(shape)
    n = np.full(shape, cell.samples)
    if eligible_min < 1:
        # At least one eligible answer, so every question has a defined rate.
        n = np.maximum(1, rng.binomial(cell.samples, rng.uniform(eligible_min, 1.0, shape)))
    k = rng.binomial(n, special.expit(logits))
    return k, n


def wilson_pooled(k, n):
    """Reference: Wilson over all answers as if independent (ignores clustering)."""
    z = stats.norm.ppf(0.5 + CONFIDENCE / 2)
    big_n = n.sum(1)
    p = k.sum(1) / big_n
    centre = (p + z * z / (2 * big_n)) / (1 + z * z / big_n)
    half = z * np.sqrt(p * (1 - p) / big_n + z * z / (4 * big_n**2)) / (1 + z * z / big_n)
    return centre - half, centre + half


def t_on_question_means(k, n):
    """Reference: t interval (G-1 df) on the per-question rates."""
    g = k.shape[1]
    rates = k / n
    se = rates.std(1, ddof=1) / np.sqrt(g)
    t = stats.t.ppf(0.5 + CONFIDENCE / 2, g - 1)
    return rates.mean(1) - t * se, rates.mean(1) + t * se


def coverage(truth: float, low: np.ndarray, high: np.ndarray) -> tuple[float, float, float]:
    """Share of intervals containing the truth, and the shares missing below / above."""
    return (float(np.mean((low <= truth) & (truth <= high))), float(np.mean(truth < low)),
            float(np.mean(truth > high)))


def run_cell(cell: Cell, replicates: int, rng: np.random.Generator, sd: float = LOGIT_SD,
             eligible_min: float = 1.0) -> dict:
    """Coverage of the product's intervals (pooled and question-mean) and of the references."""
    truth = true_mean_rate(cell.base, sd)
    k, n = simulate_counts(cell, replicates, rng, sd, eligible_min)
    _, lo_p, hi_p = clustered_score_intervals(k, n, CONFIDENCE, weighting="pooled")
    _, lo_q, hi_q = clustered_score_intervals(k, n, CONFIDENCE, weighting="question")
    return {
        "truth": truth,
        "pooled": coverage(truth, lo_p, hi_p),
        "question": coverage(truth, lo_q, hi_q),
        "pooled_median_high": float(np.median(hi_p)),
        "wilson": coverage(truth, *wilson_pooled(k, n))[0],
        "tmean": coverage(truth, *t_on_question_means(k, n))[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_REPLICATES} replicates per cell")
    parser.add_argument("--seed", type=int, default=20260601)
    parser.add_argument("--replicates", type=int, help="override the replicates per cell")
    parser.add_argument("--logit-sd", type=float, default=LOGIT_SD,
                        help="between-question sd on the logit scale (stress test; target design: 1)")
    parser.add_argument("--eligible-min", type=float, default=1.0,
                        help="unequal n: each question keeps a U(x, 1) share of its answers")
    args = parser.parse_args(argv)
    reps = args.replicates or (QUICK_REPLICATES if args.quick else FULL_REPLICATES)
    cells = [Cell(g, m, b) for g in QUESTIONS for m in SAMPLES for b in BASE_RATES]
    # One independent stream per cell, so a cell's numbers do not depend on the others.
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(args.seed).spawn(len(cells))]
    mc_error = np.sqrt(CONFIDENCE * (1 - CONFIDENCE) / reps)
    print(f"Coverage of nominal {CONFIDENCE:.0%} intervals; replicates per cell: {reps}; "
          f"seed: {args.seed}; Monte Carlo SE at 0.95: {mc_error:.4f}")
    print(f"Truth: E[p_q], logit p_q ~ N(logit(base), {args.logit_sd:g}), questions redrawn per replicate"
          + (f"; eligible share per question ~ U({args.eligible_min:g}, 1)." if args.eligible_min < 1
             else "; all m answers eligible."))
    print("Default: question-clustered score interval (clustered_rate, the product default).")
    print("miss lo/hi: truth below the interval / above it. Reference columns are not the product.")
    header = (f"{'G':>3} {'m':>4} {'base':>6} {'E[p_q]':>8} | {'pooled (default)':>17} "
              f"{'miss lo/hi':>11} {'median hi':>9} | {'question-mean':>15} | "
              f"{'Wilson-pool':>11} {'t-means':>8}")
    print(header)
    print("-" * len(header))
    started = time.perf_counter()
    default = []
    for cell, rng in zip(cells, streams):
        res = run_cell(cell, reps, rng, args.logit_sd, args.eligible_min)
        cov, lo, hi = res["pooled"]
        se = np.sqrt(cov * (1 - cov) / reps)
        qcov = res["question"][0]
        qse = np.sqrt(qcov * (1 - qcov) / reps)
        default.append(cov)
        flag = "" if TARGET[0] <= cov <= TARGET[1] else "  <- outside target"
        print(f"{cell.questions:>3} {cell.samples:>4} {cell.base:>6.3f} {res['truth']:>8.5f} | "
              f"{cov:>9.3f} ± {se:.3f} {lo:>5.3f}/{hi:.3f} {res['pooled_median_high']:>9.4f} | "
              f"{qcov:>7.3f} ± {qse:.3f} | {res['wilson']:>11.3f} {res['tmean']:>8.3f}{flag}",
              flush=True)
    elapsed = time.perf_counter() - started
    print(f"target per cell: {TARGET[0]} to {TARGET[1]}; cells in target: "
          f"{sum(TARGET[0] <= c <= TARGET[1] for c in default)}/{len(default)}; "
          f"elapsed {elapsed:.1f} s")
    print(f"min_coverage={min(default):.4f} max_coverage={max(default):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
