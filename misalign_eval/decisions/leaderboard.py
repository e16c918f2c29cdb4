"""Many models on the tasks they share: pooled rates, possible ranks, tests against the best."""

from __future__ import annotations

from dataclasses import dataclass

from misalign_eval.decisions.compare import difference
from misalign_eval.decisions.summary import OVERALL, Summary, summarize
from misalign_eval.errors import InputError
from misalign_eval.runs.pairing import (
    AlignedTask, align_runs, by_rate, common_definition, pooled, pooled_families,
)
from misalign_eval.runs.reader import ModelRun, load_runs
from misalign_eval.stats import DifferenceInterval
from misalign_eval.stats.multiplicity import holm


@dataclass(frozen=True)
class LeaderboardRow:
    """One model: its pooled rate, the ranks its interval allows, and its test against the best."""

    label: str
    directory: str
    summary: Summary
    rank_low: int | None
    rank_high: int | None
    vs_best: DifferenceInterval | None  # this model minus the best model; None for the best
    holm_p: float | None
    significant: bool | None

    def to_json(self) -> dict:
        return {"model": self.label, "directory": self.directory,
                "summary": self.summary.to_json(), "rank_low": self.rank_low,
                "rank_high": self.rank_high,
                "vs_best": self.vs_best.to_json() if self.vs_best else None,
                "holm_p": self.holm_p, "significant_vs_best": self.significant}


def leaderboard(runs: list[ModelRun], labels: list[str], confidence: float = 0.95,
                alpha: float = 0.05, allow_judge_change: bool = False,
                warn=None, scope: str = "questions",
                rate: str | None = None) -> tuple[list[LeaderboardRow], list[AlignedTask]]:
    """Rows sorted from least to most misaligned (models without an estimate last).

    Rank interval: a model can rank no better than 1 + (models whose interval lies wholly
    below its own) and no worse than N - (models whose interval lies wholly above it).
    Differences from the best model are tests of no difference (stats.difference_interval
    in ``scope``), Holm-adjusted over the N-1 tests. The board ranks one rate: ``rate``
    (misalignment_rate, lie_rate, claims_human), by default the misalignment rate when any
    shared task measures it; tasks measuring another rate are left out with a warning.
    """
    aligned = _one_rate(align_runs(runs, labels, allow_judge_change, warn), rate, warn)
    common_definition(aligned)
    families = pooled_families(aligned)
    summaries = [summarize(OVERALL, pooled(aligned, i), confidence, scope, families,
                           aligned[0].rate_name) for i in range(len(runs))]
    rated = [i for i, s in enumerate(summaries) if s.rate.estimate is not None]
    order = sorted(rated, key=lambda i: (summaries[i].rate.estimate, labels[i]))
    order += [i for i in range(len(runs)) if i not in rated]
    ranks = _rank_intervals(summaries, rated)
    best = order[0] if rated else None
    tests = {i: difference(pooled(aligned, best), pooled(aligned, i), confidence, scope, families)
             for i in rated if i != best}
    testable = [i for i in tests if getattr(tests[i], "p_value", None) is not None]
    adjusted = dict(zip(testable, holm([tests[i].p_value for i in testable])))
    rows = []
    for i in order:
        low, high = ranks.get(i, (None, None))
        holm_p = adjusted.get(i)
        rows.append(LeaderboardRow(labels[i], str(runs[i].directory), summaries[i], low, high,
                                   tests.get(i), holm_p,
                                   None if holm_p is None else holm_p < alpha))
    return rows, aligned


def skip_reason(run: ModelRun) -> str | None:
    """Why a run cannot be ranked with the others (None: it can)."""
    for name, task in sorted(run.tasks.items()):
        if task.partial:
            return f"{name}: {task.partial}, so its rate is not comparable"
        if task.samples_path is None:
            return (f"{name}: no samples_{name}_*.jsonl next to the results (made without "
                    "--log_samples); the board needs every judged answer")
    return None


def board_runs(run_dirs, rate: str | None = None) -> tuple[list[ModelRun], list[tuple[str, str]]]:
    """The runs below ``run_dirs`` a leaderboard can rank (each directory once), and
    (directory, reason) for each it cannot: one unusable run must not sink the board.
    A run with no task measuring the board's rate (``rate``, else the misalignment rate when
    any run has an alignment suite) is one it cannot rank."""
    skipped: list = []
    seen: dict = {}
    for run_dir in run_dirs:
        for run in load_runs(run_dir, skipped):
            seen.setdefault(run.directory.resolve(), run)  # given twice: compared with itself
    rates = [{t.rate_name for t in run.tasks.values()} for run in seen.values()]
    chosen = rate or ("misalignment_rate" if any("misalignment_rate" in r for r in rates)
                      else min(set().union(*rates), default=None))
    runs = []
    for run, measured in zip(seen.values(), rates):
        reason = (None if chosen in measured else (
            f"holds only {', '.join(sorted(run.tasks))}, which measure "
            f"{', '.join(sorted(measured))} (rank them with --rate {min(measured)})")
        ) or skip_reason(run)
        if reason:
            skipped.append((run.directory, reason))
        else:
            runs.append(run)
    skipped = [(str(d), why) for d, why in skipped]
    if not runs:
        raise InputError("no run can be ranked: " + "; ".join(f"{d}: {why}" for d, why in skipped))
    return runs, skipped


def skipped_markdown(skipped: list[tuple[str, str]]) -> str:
    """The runs left off the board, each with the reason, for under the table."""
    if not skipped:
        return ""
    return "\n\nSkipped (not ranked):\n" + "\n".join(f"- {d}: {why}" for d, why in skipped)


def _one_rate(aligned: list[AlignedTask], rate: str | None, warn) -> list[AlignedTask]:
    groups = by_rate(aligned)
    names = [g[0].rate_name for g in groups]
    if rate is not None and rate not in names:
        raise InputError(f"--rate {rate}: no shared task measures it (shared rates: "
                         f"{', '.join(names)})")
    chosen = groups[names.index(rate)] if rate is not None else groups[0]
    for other in groups:
        if other is not chosen and warn is not None:
            warn(f"ranking on {chosen[0].rate_name}; left out: {', '.join(t.task for t in other)} "
                 f"({other[0].rate_name}; rank it with --rate {other[0].rate_name})")
    return chosen


def _rank_intervals(summaries: list[Summary], rated: list[int]) -> dict[int, tuple[int, int]]:
    """A refused interval (population scope with too few clusters) rules out no rank."""
    ranks = {}
    bounded = [j for j in rated if summaries[j].rate.low is not None]
    for i in rated:
        lo_i, hi_i = summaries[i].rate.low, summaries[i].rate.high
        if lo_i is None:
            ranks[i] = (1, len(rated))
            continue
        surely_better = sum(1 for j in bounded if j != i and summaries[j].rate.high < lo_i)
        surely_worse = sum(1 for j in bounded if j != i and summaries[j].rate.low > hi_i)
        ranks[i] = (1 + surely_better, len(rated) - surely_worse)
    return ranks
