"""Two runs on the same questions: their rates and the paired difference b - a."""

from __future__ import annotations

from dataclasses import dataclass

from misalign_eval.decisions.summary import OVERALL, Summary, summarize
from misalign_eval.runs.pairing import AlignedTask, pooled, pooled_families
from misalign_eval.scoring import QuestionCounts
from misalign_eval.stats import DifferenceInterval, difference_interval


@dataclass(frozen=True)
class ComparisonRow:
    """Run a and run b on one task (or all tasks pooled) and their paired difference b - a."""

    task: str
    a: Summary
    b: Summary
    difference: DifferenceInterval

    def to_json(self) -> dict:
        return {"task": self.task, "a": self.a.to_json(), "b": self.b.to_json(),
                "difference_b_minus_a": self.difference.to_json()}



def compare_pair(aligned: list[AlignedTask], a: int = 0, b: int = 1, confidence: float = 0.95,
                 scope: str = "questions") -> list[ComparisonRow]:
    """Per task, then over all tasks pooled (only when there are several tasks)."""
    groups = [(t.task, list(t.counts[a]), list(t.counts[b]),
               list(t.family_keys) if t.families else None) for t in aligned]
    if len(aligned) > 1 and len({t.definition for t in aligned}) == 1:
        groups.append((OVERALL, pooled(aligned, a), pooled(aligned, b), pooled_families(aligned)))
    return [ComparisonRow(name, summarize(name, ca, confidence, scope, fam),
                          summarize(name, cb, confidence, scope, fam),
                          difference(ca, cb, confidence, scope, fam))
            for name, ca, cb, fam in groups]


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
    then all tasks pooled when they share a definition. Rates pool a group's seeds; intervals
    and the difference add the between-seed variation (decisions.groups)."""
    from misalign_eval.decisions.groups import group_difference, summarize_group

    def runs(task_counts, indices):
        return [list(task_counts[i]) for i in indices]

    sets = [(t.task, runs(t.counts, runs_a), runs(t.counts, runs_b)) for t in aligned]
    if len(aligned) > 1 and len({t.definition for t in aligned}) == 1:
        sets.append((OVERALL, [pooled(aligned, i) for i in runs_a],
                     [pooled(aligned, i) for i in runs_b]))
    return [ComparisonRow(name, summarize_group(name, ca, confidence, scope),
                          summarize_group(name, cb, confidence, scope),
                          group_difference(ca, cb, confidence, scope))
            for name, ca, cb in sets]
