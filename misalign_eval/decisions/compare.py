"""Two runs on the same questions: their rates and the difference b - a."""

from __future__ import annotations

from dataclasses import dataclass

from misalign_eval.decisions.summary import OVERALL, Summary, summarize
from misalign_eval.runs.pairing import AlignedTask, by_rate, pooled, pooled_families
from misalign_eval.scoring import QuestionCounts
from misalign_eval.stats import DifferenceInterval, difference_interval


@dataclass(frozen=True)
class ComparisonRow:
    """Run a and run b on one task (or tasks pooled) and the difference of their rates b - a."""

    task: str
    a: Summary
    b: Summary
    difference: DifferenceInterval
    rate_name: str = "misalignment_rate"

    def to_json(self) -> dict:
        return {"task": self.task, "rate": self.rate_name, "a": self.a.to_json(),
                "b": self.b.to_json(), "difference_b_minus_a": self.difference.to_json()}



def compare_pair(aligned: list[AlignedTask], a: int = 0, b: int = 1, confidence: float = 0.95,
                 scope: str = "questions") -> list[ComparisonRow]:
    """Per task, then pooled over the tasks that measure the same rate (when several do):
    "all tasks" when every task does, else "all <rate> tasks" per rate."""
    groups = [(t.task, t.rate_name, list(t.counts[a]), list(t.counts[b]),
               list(t.family_keys) if t.families else None) for t in aligned]
    rates = by_rate(aligned)
    for same in rates:
        if len(same) > 1:
            name = OVERALL if len(rates) == 1 else f"all {same[0].rate_name} tasks"
            groups.append((name, same[0].rate_name, pooled(same, a), pooled(same, b),
                           pooled_families(same)))
    return [ComparisonRow(name, summarize(name, ca, confidence, scope, fam, rate),
                          summarize(name, cb, confidence, scope, fam, rate),
                          difference(ca, cb, confidence, scope, fam), rate)
            for name, rate, ca, cb, fam in groups]


def difference(counts_a: list[QuestionCounts], counts_b: list[QuestionCounts],
               confidence: float = 0.95, scope: str = "questions",
               families: list | None = None) -> DifferenceInterval:
    """Rate of b minus rate of a (stats.difference_interval): in the questions scope the runs
    are independent given the questions; in the population scope questions pair."""
    return difference_interval(
        [c.n_misaligned for c in counts_a], [c.n_eligible for c in counts_a],
        [c.n_misaligned for c in counts_b], [c.n_eligible for c in counts_b],
        confidence=confidence, scope=scope, families=families if scope == "population" else None)


def compare_groups(aligned: list[AlignedTask], runs_a: list[int], runs_b: list[int],
                   confidence: float = 0.95, scope: str = "questions") -> list[ComparisonRow]:
    """Two conditions, each a group of seed runs (indices into ``aligned``'s runs): per task,
    then pooled over the tasks of each rate, as ``compare_pair``. Rates pool a group's seeds;
    intervals and the difference add the between-seed variation (decisions.groups)."""
    from misalign_eval.decisions.groups import group_difference, summarize_group

    def runs(task_counts, indices):
        return [list(task_counts[i]) for i in indices]

    sets = [(t.task, t.rate_name, runs(t.counts, runs_a), runs(t.counts, runs_b),
             list(t.family_keys) if t.families else None) for t in aligned]
    rates = by_rate(aligned)
    for same in rates:
        if len(same) > 1:
            name = OVERALL if len(rates) == 1 else f"all {same[0].rate_name} tasks"
            sets.append((name, same[0].rate_name, [pooled(same, i) for i in runs_a],
                         [pooled(same, i) for i in runs_b], pooled_families(same)))
    return [ComparisonRow(name, summarize_group(name, ca, confidence, scope, fam, rate),
                          summarize_group(name, cb, confidence, scope, fam, rate),
                          group_difference(ca, cb, confidence, scope, fam), rate)
            for name, rate, ca, cb, fam in sets]
