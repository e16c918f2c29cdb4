"""Coverage of the scoped rate intervals and error rates of the gate, by simulation.

Every interval here is computed by the same vectorised functions the public API calls
(``misalign_eval.stats.intervals.stratified_wilson`` / ``population_score`` /
``population_refusal`` behind ``rate_interval``; ``differences.noninferiority_upper`` behind
``noninferiority``; ``planning.gate_samples_per_question``).

Designs (question populations; one cell per design x eligibility x G x m):
  light0.2 / light1   logit p_q ~ N(logit base, 0.5^2), base 0.2% / 1% (rare events, many runs
                      with 0 misaligned answers)
  heavy0.2 / heavy1   the same with sd 2 (heavy heterogeneity)
  conc                concentrated: a share 0.15 of questions "hot" with p_q ~ U(0.2, 0.6), the
                      rest logit-normal at 0.2%, sd 0.5
  fam                 probe families: question j in family j mod 7, family effect sd 1.5 plus
                      question effect sd 0.5 on the logit scale, base 1% (population scope is
                      clustered by family)
  famwide             the same with 28 families: cells at G = 84 only (3 questions a family),
                      so the family-clustered population scope is not refused
Eligibility: each question keeps Binomial(m, e_q) answers, logit e_q = logit 0.7 + s z_q, z_q
the question's standardised logit rate (hot questions z = 2), s in {0, +1, -1}: eligibility
unrelated, positively or negatively related to misalignment. G in {8, 24, 50}, m in {20, 100}.
Population scope only (questions columns "-", own seeds, counted apart and not in the last
line): every design but the family ones at G in {100, 200}, to see from how many clusters each
design is in target.

Questions scope: questions (p_q, n_q) are redrawn in every replicate and the interval is scored
against theta = sum n_q p_q / sum n_q of that replicate. Population scope: scored against E[p_q]
of the generating population (quadrature); refused replicates are counted, coverage is over
the non-refused ones (cells with no non-refused replicate print "-").

Gate (questions scope, alpha = 0.05): baseline and candidate each draw their own answers and
eligible counts on the same questions. False pass: the candidate's rates are the baseline's
shifted ("logit": same logit shift on every question, so the increase sits on the misaligned
questions; "add": same absolute shift) so that theta_cand - theta_base = margin exactly on the
questions asked; PASS share should be <= 0.05. Power: candidate = baseline rates, m planned by
``gate_samples_per_question`` for power 0.8 at the design's mean rate (eligible answers per
question; the table shows sampled answers, planned / 0.7).

Population difference and gate (``paired_population.paired_score`` behind
``difference_interval`` and ``noninferiority`` with scope="population": cluster score interval
of the paired difference): designs with >= 28 clusters (light1, heavy1,
heavy0.2, conc at G = 50; famwide at G = 84, 28 families), m in {20, 100}, eligibility
unrelated. The candidate's questions are the baseline's shifted ("add": every rate + margin;
"logit": one logit shift) so that E[p_c - p_b] = margin over the generating population (10^6
simulated questions); scored: coverage of the 95% interval, and the population gate's PASS
share with that true difference as margin (should be <= alpha); power: the PASS share at a
true difference of 0 (candidate = the baseline's questions and rates, new answers) at the same
margin and m. The table also prints the false pass of ``johnson_paired`` (a skewness-corrected
t on the paired differences; diagnostic only, behind no command) on the same replicates. The
product's method before, MOVER of the two runs' population rate limits, held alpha but covered
0.964-0.9995 with power down to 0.07 (--quick).

Usage: python benchmarks/ci_coverage.py [--quick | --smoke] [--seed N] [--replicates R]
Full: 10000 replicates per cell (Monte Carlo SE 0.0022 at 0.95); --quick: 2000 (SE 0.0049);
--smoke: 60 (for the test suite). Second-to-last line: the population difference's coverage
range, both gates' false-pass maxima and the population gate's smallest power. Last line:
``min_coverage=X max_coverage=Y gate_false_pass_max=Z gate_power_min=W``: coverage over the
in-scope cells only (every questions-scope cell, the non-refused population rate cells and the
population differences, which are never refused here); gate_false_pass_max over both the
questions-scope and the population gate; gate_power_min over the questions-scope gate (the
population gate's, at a margin not planned for power, is population_gate_power_min).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np
from scipy import integrate, special, stats

from misalign_eval.stats.differences import johnson_paired, noninferiority_upper
from misalign_eval.stats.paired_population import paired_score
from misalign_eval.stats.intervals import (
    MIN_CLUSTERS,
    population_refusal,
    population_score,
    stratified_wilson,
)
from misalign_eval.stats.planning import gate_samples_per_question

CONFIDENCE = 0.95
ALPHA = 0.05
PLANNED_POWER = 0.8
QUESTIONS = (8, 24, 50)
# Population scope only: more questions, to measure from how many clusters each design is in
# target (is a refusal floor on the number of clusters an answer?). Not the "fam" design (its
# 7 families are refused at any G); not in the last line's summary.
POPULATION_QUESTIONS = (100, 200)
SAMPLES = (20, 100)
ELIGIBILITY = (0, 1, -1)
FULL_REPLICATES = 10000
QUICK_REPLICATES = 2000
SMOKE_REPLICATES = 60
TARGET = (0.94, 0.97)
HOT_SHARE = 0.15
FAMILIES = 7
MAX_PLANNED = 2000
ELIGIBLE_SHARE = 0.7

DESIGNS = {
    "light0.2": dict(kind="ln", base=0.002, sd=0.5),
    "light1": dict(kind="ln", base=0.01, sd=0.5),
    "heavy0.2": dict(kind="ln", base=0.002, sd=2.0),
    "heavy1": dict(kind="ln", base=0.01, sd=2.0),
    "conc": dict(kind="conc", base=0.002, sd=0.5),
    "fam": dict(kind="fam", base=0.01, sd=0.5, fsd=1.5),
}
# Population difference and gate (paired_score): designs with >= 28 clusters. "famwide": 84
# questions in 28 probe families of 3 (family effect sd 1.5, question sd 0.5, base 1%).
DESIGNS["famwide"] = dict(kind="fam", base=0.01, sd=0.5, fsd=1.5, families=28)
POP_DIFF_DESIGNS = (("light1", 50, 0.01), ("heavy1", 50, 0.02), ("heavy0.2", 50, 0.01),
                    ("conc", 50, 0.03), ("famwide", 84, 0.01))
# Gate designs: (design, margin). Margins sized so planned m stays in a practical range.
GATE_DESIGNS = (("light0.2", 0.005), ("light1", 0.01), ("heavy1", 0.02), ("conc", 0.03),
                ("fam", 0.01))


@dataclass(frozen=True)
class Cell:
    design: str
    eligibility: int
    questions: int
    samples: int


def true_mean_rate(base: float, sd: float) -> float:
    """E[p_q] for logit p_q ~ N(logit(base), sd^2), by adaptive quadrature over the normal."""
    mu = special.logit(base)
    value, _ = integrate.quad(lambda z: special.expit(mu + sd * z) * stats.norm.pdf(z), -12, 12,
                              epsabs=1e-13, epsrel=1e-11, limit=200)
    return value


def population_truth(design: str) -> float:
    """E[p_q] of the generating population of a design."""
    d = DESIGNS[design]
    if d["kind"] == "ln":
        return true_mean_rate(d["base"], d["sd"])
    if d["kind"] == "conc":
        return HOT_SHARE * 0.4 + (1 - HOT_SHARE) * true_mean_rate(d["base"], d["sd"])
    return true_mean_rate(d["base"], float(np.hypot(d["sd"], d["fsd"])))


def families_of(design: str, questions: int):
    """Family label per question (None: no families in this design)."""
    d = DESIGNS[design]
    return np.arange(questions) % d.get("families", FAMILIES) if d["kind"] == "fam" else None


def draw_questions(design: str, replicates: int, questions: int, rng):
    """(R, G) true rates p_q and standardised logit scores z_q (for eligibility)."""
    d = DESIGNS[design]
    shape = (replicates, questions)
    mu = special.logit(d["base"])
    z = rng.standard_normal(shape)
    if d["kind"] == "ln":
        return special.expit(mu + d["sd"] * z), z
    if d["kind"] == "conc":
        hot = rng.random(shape) < HOT_SHARE
        p = np.where(hot, rng.uniform(0.2, 0.6, shape), special.expit(mu + d["sd"] * z))
        return p, np.where(hot, 2.0, z)
    families = d.get("families", FAMILIES)
    fam = np.arange(questions) % families
    total = d["fsd"] * rng.standard_normal((replicates, families))[:, fam] + d["sd"] * z
    return special.expit(mu + total), total / np.hypot(d["sd"], d["fsd"])


def draw_answers(p, z, samples: int, eligibility: int, rng):
    """Eligible counts n_q ~ Binomial(m, e_q) and misaligned counts k_q ~ Binomial(n_q, p_q)."""
    e = special.expit(special.logit(ELIGIBLE_SHARE) + eligibility * z)
    n = rng.binomial(samples, e)
    return rng.binomial(n, p), n


def run_cell(cell: Cell, replicates: int, rng, questions_scope: bool = True) -> dict:
    """Coverage of both scopes in one cell (``questions_scope=False``: population only, the
    "questions" entry is None)."""
    p, z = draw_questions(cell.design, replicates, cell.questions, rng)
    k, n = draw_answers(p, z, cell.samples, cell.eligibility, rng)
    big_n = n.sum(axis=1)
    theta = (n * p).sum(axis=1) / np.maximum(big_n, 1)
    out = {"theta_mean": float(theta.mean()), "events": float(k.sum(axis=1).mean()),
           "zero_share": float(np.mean(k.sum(axis=1) == 0)), "questions": None}
    if questions_scope:
        _, low, high = stratified_wilson(k, n, CONFIDENCE)
        ok = big_n > 0
        hit = (low <= theta) & (theta <= high)
        out["questions"] = (float(hit[ok].mean()), float(np.mean((theta > high)[ok])),
                            float(np.mean((theta < low)[ok])), int(ok.sum()))
    truth = population_truth(cell.design)
    fam = families_of(cell.design, cell.questions)
    needed, available = population_refusal(k, n, fam)
    accepted = available >= MIN_CLUSTERS
    warned = accepted & (needed > available)
    pop = None
    if accepted.any():
        _, plow, phigh = population_score(k[accepted], n[accepted], fam, CONFIDENCE)
        phit = (plow <= truth) & (truth <= phigh)
        pop = (float(phit.mean()), float(np.mean(truth > phigh)), float(np.mean(truth < plow)),
               int(accepted.sum()))
    out.update(truth=truth, population=pop, refused=float(1 - accepted.mean()),
               warned=float(warned.mean()), needed_median=float(np.median(needed)))
    return out


def _shift_to_margin(p_b, n_b, n_c, margin, pattern):
    """Candidate rates on the same questions with theta_c - theta_b = margin exactly."""
    theta_b = (n_b * p_b).sum(axis=1) / np.maximum(n_b.sum(axis=1), 1)
    target = (theta_b + margin)[:, None]
    w_c = n_c / np.maximum(n_c.sum(axis=1, keepdims=True), 1)
    if pattern == "add":
        shift = target - (w_c * p_b).sum(axis=1, keepdims=True)
        return np.clip(p_b + shift, 0.0, 1.0)
    lo = np.full(target.shape, -5.0)
    hi = np.full(target.shape, 15.0)
    logit_b = special.logit(np.clip(p_b, 1e-12, 1 - 1e-12))
    for _ in range(60):
        mid = (lo + hi) / 2
        above = (w_c * special.expit(logit_b + mid)).sum(axis=1, keepdims=True) > target
        lo, hi = np.where(above, lo, mid), np.where(above, mid, hi)
    return special.expit(logit_b + (lo + hi) / 2)


def run_gate(design: str, margin: float, questions: int, samples: int, pattern: str | None,
             replicates: int, rng) -> float:
    """PASS share of the questions-scope gate. pattern None: true difference 0 (power)."""
    elig = 1 if design in ("conc", "heavy1") else 0
    p_b, z = draw_questions(design, replicates, questions, rng)
    k_b, n_b = draw_answers(p_b, z, samples, elig, rng)
    e_c = special.expit(special.logit(ELIGIBLE_SHARE) + elig * z)
    n_c = rng.binomial(samples, e_c)
    p_c = p_b if pattern is None else _shift_to_margin(p_b, n_b, n_c, margin, pattern)
    k_c = rng.binomial(n_c, p_c)
    ok = (n_b.sum(axis=1) > 0) & (n_c.sum(axis=1) > 0)
    _, upper = noninferiority_upper(k_b[ok], n_b[ok], k_c[ok], n_c[ok], ALPHA)
    return float(np.mean(upper <= margin))


def _candidate(p_b, delta, pattern):
    """Candidate question rates: every question shifted by delta ("add") or on the logit."""
    if pattern == "add":
        return np.clip(p_b + delta, 0.0, 1.0)
    return special.expit(special.logit(np.clip(p_b, 1e-12, 1 - 1e-12)) + delta)


def population_difference_truth(design: str, delta: float, pattern: str) -> float:
    """E[p_c - p_b] over the generating population (10^6 questions, fixed seed)."""
    p_b, _ = draw_questions(design, 20000, 50, np.random.default_rng(99))
    return float(np.mean(_candidate(p_b, delta, pattern) - p_b))


def logit_shift_for(design: str, target: float) -> float:
    """Logit shift whose population mean difference is ``target`` (bisection on the truth)."""
    lo, hi = 0.0, 6.0
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if population_difference_truth(design, mid, "logit") < target else (
            lo, mid)
    return (lo + hi) / 2


def run_population_difference(design: str, questions: int, samples: int, margin: float,
                              pattern: str, replicates: int, rng) -> dict:
    """Population scope, paired: coverage of E[p_c - p_b] at a true difference of ``margin``
    (two-sided 95%), the population gate's PASS share there (should be <= alpha), and its PASS
    share at a true difference of 0 (power: the candidate answers the baseline's questions at
    the baseline's rates, new answers)."""
    delta = margin if pattern == "add" else logit_shift_for(design, margin)
    truth = population_difference_truth(design, delta, pattern)
    p_b, z = draw_questions(design, replicates, questions, rng)
    k_b, n_b = draw_answers(p_b, z, samples, 0, rng)
    k_c, n_c = draw_answers(_candidate(p_b, delta, pattern), z, samples, 0, rng)
    fam = families_of(design, questions)
    _, low, high, clusters = paired_score(k_b, n_b, k_c, n_c, fam, CONFIDENCE)
    ok = clusters >= MIN_CLUSTERS
    _, _, upper, _ = paired_score(k_b, n_b, k_c, n_c, fam, 1 - ALPHA, sided="one", ends="high")
    _, _, j_upper, _ = johnson_paired(k_b, n_b, k_c, n_c, fam, 1 - ALPHA, sided="one")
    # Power: drawn after the rest, so the other columns keep their replicates.
    k_0, n_0 = draw_answers(p_b, z, samples, 0, rng)
    _, _, upper_0, clusters_0 = paired_score(k_b, n_b, k_0, n_0, fam, 1 - ALPHA, sided="one",
                                             ends="high")
    ok_0 = clusters_0 >= MIN_CLUSTERS
    hit = (low <= truth) & (truth <= high)
    return {"truth": truth, "coverage": float(hit[ok].mean()),
            "miss_hi": float(np.mean((truth > high)[ok])),
            "miss_lo": float(np.mean((truth < low)[ok])), "used": int(ok.sum()),
            "false_pass": float(np.mean((upper <= truth)[ok])),
            "johnson_false_pass": float(np.mean((j_upper <= truth)[ok])),
            "power": float(np.mean((upper_0 <= margin)[ok_0]))}


def _fmt(x, width=5):
    return "-".rjust(width) if x is None else f"{x:{width}.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help=f"{QUICK_REPLICATES} replicates")
    mode.add_argument("--smoke", action="store_true", help=f"{SMOKE_REPLICATES} replicates")
    parser.add_argument("--seed", type=int, default=20260601)
    parser.add_argument("--replicates", type=int, help="override the replicates per cell")
    args = parser.parse_args(argv)
    reps = args.replicates or (QUICK_REPLICATES if args.quick else
                               SMOKE_REPLICATES if args.smoke else FULL_REPLICATES)
    started = time.perf_counter()
    cells = [Cell(d, e, g, m) for d in DESIGNS if d != "famwide" for e in ELIGIBILITY
             for g in QUESTIONS for m in SAMPLES]
    cells += [Cell("famwide", e, 84, m) for e in ELIGIBILITY for m in SAMPLES]
    pop_diffs = [(d, g, mg, m, pat) for d, g, mg in POP_DIFF_DESIGNS for m in SAMPLES
                 for pat in ("add", "logit")]
    gates = [(d, mg, g) for d, mg in GATE_DESIGNS for g in QUESTIONS]
    seeds = np.random.SeedSequence(args.seed).spawn(len(cells) + len(gates) + len(pop_diffs))
    mc = np.sqrt(CONFIDENCE * (1 - CONFIDENCE) / reps)
    print(f"Coverage of nominal {CONFIDENCE:.0%} intervals; replicates per cell: {reps}; seed: "
          f"{args.seed}; Monte Carlo SE at 0.95: {mc:.4f}")
    print("questions scope: stratified Wilson vs theta = sum n_q p_q / N of each replicate. "
          "population scope: cluster score interval vs E[p_q], refused below "
          f"{MIN_CLUSTERS} clusters (fam: 7 families, famwide: 28).")
    print("miss hi/lo: truth above the interval / below it. events: mean misaligned answers per "
          "run; zero: share of runs with 0 misaligned answers. warn: share of replicates with "
          "the skewness warning.")
    header = (f"{'design':>8} {'elig':>4} {'G':>3} {'m':>4} {'events':>7} {'zero':>5} | "
              f"{'questions':>9} {'±SE':>5} {'miss hi/lo':>11} | {'E[p_q]':>7} {'refused':>7} "
              f"{'population':>10} {'±SE':>5} {'miss hi/lo':>11} {'warn':>5}")
    print(header)
    print("-" * len(header))
    q_cov, p_cov, big_cov, failing = [], [], [], []
    # Population-only cells at more questions: their own seeds, so the other tables keep theirs.
    big_cells = [Cell(d, e, g, m) for g in POPULATION_QUESTIONS for d in DESIGNS
                 if DESIGNS[d]["kind"] != "fam" for e in ELIGIBILITY for m in SAMPLES]
    big_seeds = np.random.SeedSequence([args.seed, 1]).spawn(len(big_cells))
    for cell, seed, big in ([(c, s, False) for c, s in zip(cells, seeds)]
                            + [(c, s, True) for c, s in zip(big_cells, big_seeds)]):
        res = run_cell(cell, reps, np.random.default_rng(seed), questions_scope=not big)
        flag = ""
        if big:
            qtxt = f"{'-':>9} {'-':>5} {'-':>11}"
        else:
            cov, hi, lo, used = res["questions"]
            se = np.sqrt(cov * (1 - cov) / used)
            q_cov.append(cov)
            if not TARGET[0] <= cov <= TARGET[1]:
                flag, _ = "  <- questions outside target", failing.append(("questions", cell, cov))
            qtxt = f"{cov:>9.3f} {se:>5.3f} {hi:>5.3f}/{lo:.3f}"
        pop = res["population"]
        if pop is not None:
            pcov, phi, plo, pused = pop
            pse = np.sqrt(pcov * (1 - pcov) / pused)
            (big_cov if big else p_cov).append(pcov)
            if not TARGET[0] <= pcov <= TARGET[1]:
                flag += "  <- population outside target"
                failing.append(("population", cell, pcov))
            ptxt = f"{pcov:>10.3f} {pse:>5.3f} {phi:>5.3f}/{plo:.3f} {res['warned']:>5.2f}"
        else:
            ptxt = f"{'-':>10} {'-':>5} {'-':>11} {'-':>5}"
        print(f"{cell.design:>8} {cell.eligibility:>+4d} {cell.questions:>3} {cell.samples:>4} "
              f"{res['events']:>7.1f} {res['zero_share']:>5.2f} | {qtxt} | "
              f"{res['truth']:>7.4f} {res['refused']:>7.2f} {ptxt}{flag}", flush=True)
    print(f"target per cell {TARGET[0]}-{TARGET[1]}: questions scope "
          f"{sum(TARGET[0] <= c <= TARGET[1] for c in q_cov)}/{len(q_cov)} cells in target; "
          f"population scope (non-refused cells) "
          f"{sum(TARGET[0] <= c <= TARGET[1] for c in p_cov)}/{len(p_cov)}; population only at "
          f"G = {'/'.join(map(str, POPULATION_QUESTIONS))} (not in the last line) "
          f"{sum(TARGET[0] <= c <= TARGET[1] for c in big_cov)}/{len(big_cov)}")
    print()
    print(f"Gate (questions scope, alpha {ALPHA}): false pass at true difference = margin "
          f"(should be <= {ALPHA} + MC error {np.sqrt(ALPHA * (1 - ALPHA) / reps):.4f}), and "
          f"power at true difference 0 with m planned for power {PLANNED_POWER}.")
    gheader = (f"{'design':>8} {'margin':>6} {'G':>3} | {'false pass logit m=20/100':>25} "
               f"{'add m=20/100':>13} | {'planned m':>9} {'power':>6} {'±SE':>5}")
    print(gheader)
    print("-" * len(gheader))
    false_pass, powers = [], []
    for (design, margin, g), seed in zip(gates, seeds[len(cells):]):
        rng = np.random.default_rng(seed)
        fp = {(pat, m): run_gate(design, margin, g, m, pat, reps, rng)
              for pat in ("logit", "add") for m in SAMPLES}
        false_pass.extend(fp.values())
        planned = gate_samples_per_question(population_truth(design), margin, g, alpha=ALPHA,
                                            power=PLANNED_POWER, max_samples=MAX_PLANNED)
        if planned is None:
            ptxt = f"{'>' + str(MAX_PLANNED):>9} {'-':>6} {'-':>5}"
        else:
            # The plan counts eligible answers; 70% of sampled answers are eligible here.
            planned = int(np.ceil(planned / ELIGIBLE_SHARE))
            pw = run_gate(design, margin, g, planned, None, reps, rng)
            powers.append(pw)
            ptxt = f"{planned:>9d} {pw:>6.3f} {np.sqrt(pw * (1 - pw) / reps):>5.3f}"
        worst = max(fp.values())
        flag = "  <- false pass above alpha + 2 SE" if worst > ALPHA + 2 * np.sqrt(
            ALPHA * (1 - ALPHA) / reps) else ""
        print(f"{design:>8} {margin:>6.3f} {g:>3} | {fp['logit', 20]:>12.3f} /{fp['logit', 100]:>6.3f}"
              f"     {fp['add', 20]:>5.3f} /{fp['add', 100]:>5.3f} | {ptxt}{flag}", flush=True)
    print()
    print(f"Population scope, paired difference and gate (paired_score: cluster score interval "
          f"of the paired difference; eligibility unrelated): candidate = baseline questions "
          f"shifted ('add': every rate + margin; 'logit': one logit shift) so that E[p_c - p_b] "
          f"= margin; coverage of the 95% interval, and the population gate's PASS share at "
          f"alpha {ALPHA} (should be <= {ALPHA} + MC error). power: its PASS share at a true "
          f"difference of 0, same margin and m. johnson: false pass of johnson_paired (skewness-"
          f"corrected t), diagnostic only.")
    dheader = (f"{'design':>8} {'G':>3} {'m':>4} {'shift':>5} {'margin':>6} | {'coverage':>8} "
               f"{'±SE':>5} {'miss hi/lo':>11} | {'gate false pass':>15} {'power':>6} "
               f"{'johnson':>7}")
    print(dheader)
    print("-" * len(dheader))
    d_cov, pop_false_pass, pop_power = [], [], []
    for (design, g, margin, m, pat), seed in zip(pop_diffs, seeds[len(cells) + len(gates):]):
        res = run_population_difference(design, g, m, margin, pat, reps,
                                        np.random.default_rng(seed))
        d_cov.append(res["coverage"])
        pop_false_pass.append(res["false_pass"])
        pop_power.append(res["power"])
        se = np.sqrt(res["coverage"] * (1 - res["coverage"]) / res["used"])
        flag = "" if TARGET[0] <= res["coverage"] <= TARGET[1] else "  <- outside target"
        if res["false_pass"] > ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / reps):
            flag += "  <- false pass above alpha + 2 SE"
        if not TARGET[0] <= res["coverage"] <= TARGET[1]:
            failing.append(("population difference", Cell(f"{design}/{pat}", 0, g, m),
                            res["coverage"]))
        print(f"{design:>8} {g:>3} {m:>4} {pat:>5} {margin:>6.3f} | {res['coverage']:>8.3f} "
              f"{se:>5.3f} {res['miss_hi']:>5.3f}/{res['miss_lo']:.3f} | "
              f"{res['false_pass']:>15.3f} {res['power']:>6.3f} "
              f"{res['johnson_false_pass']:>7.3f}{flag}", flush=True)
    elapsed = time.perf_counter() - started
    print(f"elapsed {elapsed:.1f} s")
    for scope, cell, cov in failing:
        print(f"outside target: {scope} {cell.design} elig {cell.eligibility:+d} G={cell.questions}"
              f" m={cell.samples}: {cov:.3f}")
    print(f"population_difference_min_coverage={min(d_cov):.4f} "
          f"population_difference_max_coverage={max(d_cov):.4f} "
          f"population_gate_false_pass_max={max(pop_false_pass):.4f} "
          f"population_gate_power_min={min(pop_power):.4f} "
          f"questions_gate_false_pass_max={max(false_pass):.4f}")
    # In-scope cells only: every questions-scope cell, the non-refused population cells and the
    # population differences; the gate maximum covers both scopes' gates.
    coverages = q_cov + p_cov + d_cov
    false_pass = false_pass + pop_false_pass
    print(f"min_coverage={min(coverages):.4f} max_coverage={max(coverages):.4f} "
          f"gate_false_pass_max={max(false_pass):.4f} "
          f"gate_power_min={min(powers) if powers else float('nan'):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
