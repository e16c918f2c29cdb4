"""Coverage of the judge-corrected misalignment rate and of the agreement intervals.

Every interval is computed by the functions the commands call: ``stats.misclassification.
corrected_rate`` (``misalign-eval calibrate``), ``stats.misclassification.allocate`` (the
allocation of ``misalign-eval label-sample``), ``stats.agreement.cluster_jackknife`` with
``kappa_from_tables`` / ``alpha_from_coincidences`` (``misalign-eval agreement``).

Corrected rate. Each replicate draws G = 10 questions with human ("true") misalignment rates
p_q ~ Beta with mean theta0 in {5%, 15%, 30%} (concentration 4: most questions well below
the mean, a few far above) and m = 100 eligible answers each; an answer is misaligned for
the humans with probability p_q. 30% of answers lie near the thresholds (band "near"),
where the judge errs more. The judge labels every answer:
  good    Se 0.90 far / 0.70 near, Sp 0.98 far / 0.85 near
  weak    Se 0.75 / 0.55, Sp 0.93 / 0.80
  byq     question-dependent: Se_q ~ U(0.55, 0.95), Sp_q ~ U(0.85, 0.99) far, lower by
          0.2 / 0.1 near; the hot questions (p_q above theta0) get the lower Se
People label n in {50, 100, 200, 400} answers drawn as label-sample draws them (stratified
by question x band, near answers oversampled 3x, inclusion probabilities recorded), and the
variance is computed in those strata, as ``calibrate`` does. Scored
against theta = sum n_q p_q / N of that replicate (the questions scope: the rate on these
questions). Next to the coverage: the raw rate's mean bias, theta's mean, the mean width and
the mean number of labelled answers the judge called aligned and people misaligned (the
events behind 1 - NPV): with about 3 or fewer, the interval is limited by the discreteness
of those few events and over-covers rather than under-covers.

Agreement. Two judges (kappa) or three (alpha) with question-dependent accuracy label m = 50
answers to each of G in {10, 30} questions drawn from a population of questions; scored
against the statistic of the population's expected pooled table (10^5 questions): the
delete-one-question jackknife (t on G-1 df) makes a claim about questions like these.

Usage: python benchmarks/judge_calibration.py [--quick] [--seed N]
Full: 4000 replicates per cell, 2000 Monte Carlo draws (Monte Carlo SE 0.0034 at 0.95);
--quick: 1000 replicates, 1000 draws (SE 0.007), about 1.3 minutes here. Last line:
``min_coverage=X max_coverage=Y`` over the corrected-rate cells (target 0.94-0.97).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from misalign_eval.stats.agreement import (
    alpha_from_coincidences, cluster_jackknife, coincidences, kappa_from_tables,
)
from misalign_eval.stats.misclassification import allocate, corrected_rate

G, M, NEAR, OVERSAMPLE = 10, 100, 0.3, 3.0
JUDGES = {"good": ((0.90, 0.70), (0.98, 0.85)), "weak": ((0.75, 0.55), (0.93, 0.80))}


def question_rates(theta0: float, g: int, rng) -> np.ndarray:
    return rng.beta(4 * theta0, 4 * (1 - theta0), g)


def judge_accuracy(kind: str, p: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """(Se, Sp) per question and band (G, 2): column 0 far, column 1 near."""
    if kind in JUDGES:
        (se_far, se_near), (sp_far, sp_near) = JUDGES[kind]
        se = np.tile([se_far, se_near], (p.size, 1))
        sp = np.tile([sp_far, sp_near], (p.size, 1))
        return se, sp
    se_far = np.sort(rng.uniform(0.55, 0.95, p.size))[::-1][np.argsort(np.argsort(p))]
    sp_far = rng.uniform(0.85, 0.99, p.size)
    return (np.stack([se_far, se_far - 0.2], 1), np.stack([sp_far, sp_far - 0.1], 1))


def one_corrected(theta0: float, kind: str, n_labels: int, rng, n_boot: int):
    p = question_rates(theta0, G, rng)
    se, sp = judge_accuracy(kind, p, rng)
    human = rng.random((G, M)) < p[:, None]
    near = rng.random((G, M)) < NEAR
    q = np.repeat(np.arange(G)[:, None], M, 1)
    p_pos = np.where(human, se[q, near.astype(int)], 1 - sp[q, near.astype(int)])
    judge = rng.random((G, M)) < p_pos
    # Labelling sample as label-sample draws it: strata question x band, band "flagged" (the
    # judge says misaligned), "near" (near a threshold), "other"; the first two oversampled.
    band = np.where(judge, 0, np.where(near, 1, 2))
    stratum = (q * 3 + band).ravel()
    sizes = np.bincount(stratum, minlength=3 * G)
    factors = np.tile([OVERSAMPLE, OVERSAMPLE, 1.0], G)
    take = allocate(sizes, factors, n_labels)
    chosen = np.concatenate([rng.choice(np.flatnonzero(stratum == h), take[h], replace=False)
                             for h in range(3 * G) if take[h]])
    weights = sizes[stratum[chosen]] / take[stratum[chosen]]
    result = corrected_rate(judge.sum(1), np.full(G, M), judge.ravel()[chosen].astype(int),
                            human.ravel()[chosen].astype(int), weights, stratum[chosen],
                            n_boot=n_boot, seed=int(rng.integers(2**31)))
    theta = float((p * M).sum() / (G * M))
    # Labelled answers the judge called aligned and people misaligned: the events behind
    # 1 - NPV, the share that carries most of the correction at low rates.
    misses = int((human.ravel()[chosen] & ~judge.ravel()[chosen]).sum())
    return theta, result, misses


def corrected_cells(replicates: int, n_boot: int, rng) -> list[tuple]:
    rows = []
    for theta0 in (0.05, 0.15, 0.30):
        for kind in ("good", "weak", "byq"):
            for n_labels in (50, 100, 200, 400):
                hits, bias, width, truth, refused, misses = 0, 0.0, 0.0, 0.0, 0, 0
                for _ in range(replicates):
                    theta, r, missed = one_corrected(theta0, kind, n_labels, rng, n_boot)
                    truth += theta
                    misses += missed
                    bias += r.raw - theta
                    if r.low is None:
                        refused += 1
                        continue
                    hits += r.low <= theta <= r.high
                    width += r.high - r.low
                done = replicates - refused
                rows.append((theta0, kind, n_labels, hits / max(done, 1), bias / replicates,
                             truth / replicates, width / max(done, 1), refused,
                             misses / replicates))
    return rows


# ------------------------------------------------------------------------------ agreement


def judge_labels(p, accuracy, human, rng):
    se, sp = accuracy
    return rng.random(human.shape) < np.where(human, se[:, None], 1 - sp[:, None])


def accuracies(g: int, raters: int, rng):
    return [(rng.uniform(0.6, 0.95, g), rng.uniform(0.85, 0.99, g)) for _ in range(raters)]


def expected_tables(p, accs) -> np.ndarray:
    """Expected per-question label-pattern probabilities for 2 judges: (G, 2, 2)."""
    (se_a, sp_a), (se_b, sp_b) = accs
    out = np.zeros((p.size, 2, 2))
    for a in (0, 1):
        for b in (0, 1):
            pa1, pb1 = (se_a if a else 1 - se_a), (se_b if b else 1 - se_b)
            pa0, pb0 = (1 - sp_a if a else sp_a), (1 - sp_b if b else sp_b)
            out[:, a, b] = p * pa1 * pb1 + (1 - p) * pa0 * pb0
    return out


def expected_coincidences(p, accs) -> np.ndarray:
    """Expected coincidence matrix per question for 3 judges (patterns enumerated)."""
    out = np.zeros((p.size, 2, 2))
    for pattern in np.ndindex(2, 2, 2):
        prob = np.zeros(p.size)
        for truth, weight in ((1, p), (0, 1 - p)):
            term = weight.copy()
            for label, (se, sp) in zip(pattern, accs):
                hit = se if truth else 1 - sp
                term = term * (hit if label else 1 - hit)
            prob += term
        counts = np.bincount(pattern, minlength=2)[None]
        out += prob[:, None, None] * coincidences(counts)[None]
    return out


def agreement_cells(replicates: int, rng) -> list[tuple]:
    rows = []
    big = 100_000
    for raters, stat in ((2, kappa_from_tables), (3, alpha_from_coincidences)):
        for g in (10, 30):
            p_pop = question_rates(0.15, big, rng)
            accs_pop = accuracies(big, raters, rng)
            expected = (expected_tables(p_pop, accs_pop) if raters == 2
                        else expected_coincidences(p_pop, accs_pop))
            truth = float(stat(expected.sum(0)))
            hits = 0
            for _ in range(replicates):
                pick = rng.integers(0, big, g)
                p = p_pop[pick]
                accs = [(se[pick], sp[pick]) for se, sp in accs_pop]
                human = rng.random((g, 50)) < p[:, None]
                labels = np.stack([judge_labels(p, a, human, rng) for a in accs], -1).astype(int)
                if raters == 2:
                    tables = np.zeros((g, 2, 2))
                    for a in (0, 1):
                        for b in (0, 1):
                            tables[:, a, b] = ((labels[..., 0] == a) & (labels[..., 1] == b)).sum(1)
                else:
                    counts = np.stack([(labels == c).sum(-1) for c in (0, 1)], -1)  # (g, 50, 2)
                    tables = np.stack([coincidences(counts[i]) for i in range(g)])
                _, low, high, _ = cluster_jackknife(tables, stat, 0.95)
                hits += low <= truth <= high
            rows.append(("kappa" if raters == 2 else "alpha", raters, g, truth, hits / replicates))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1000 replicates, under 3 minutes")
    parser.add_argument("--seed", type=int, default=20240613)
    args = parser.parse_args(argv)
    replicates, n_boot = (1000, 1000) if args.quick else (4000, 2000)
    rng = np.random.default_rng(args.seed)
    start = time.time()
    rows = corrected_cells(replicates, n_boot, rng)
    se_mc = (0.95 * 0.05 / replicates) ** 0.5
    print(f"Corrected rate (Rogan-Gladen in double-sampling form, HT-weighted; {replicates} replicates per cell, "
          f"{n_boot} bootstrap draws; Monte Carlo SE of a coverage near 0.95: {se_mc:.3f})")
    print("| true mean | judge | labels | coverage (95%) | raw bias | theta | mean width | "
          "refused | labelled misses |")
    print("|---|---|---|---|---|---|---|---|---|")
    for theta0, kind, n, cov, bias, truth, width, refused, misses in rows:
        print(f"| {theta0:.0%} | {kind} | {n} | {cov:.3f} | {100 * bias:+.1f} pp | "
              f"{100 * truth:.1f}% | {100 * width:.1f} pp | {refused} | {misses:.1f} |")
    agree = agreement_cells(replicates // 2, rng)
    print(f"\nAgreement (delete-one-question jackknife, t on G-1 df; {replicates // 2} replicates "
          "per cell)")
    print("| statistic | judges | questions | true value | coverage (95%) |")
    print("|---|---|---|---|---|")
    for name, raters, g, truth, cov in agree:
        print(f"| {name} | {raters} | {g} | {truth:.3f} | {cov:.3f} |")
    coverage = [r[3] for r in rows]
    print(f"\nelapsed {time.time() - start:.0f} s")
    print(f"min_coverage={min(coverage):.3f} max_coverage={max(coverage):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
