"""What the decision commands compute: rates per run, paired comparisons, a leaderboard.

Everything is computed from the per-question counts in the samples files, never from the
aggregates in results files: an overall rate across tasks pools the answers of all tasks
(every task's question is a cluster), which averaging task intervals cannot give.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


from misalign_eval.errors import InputError
from misalign_eval.pairing import AlignedTask, align, load_questions, shared_tasks
from misalign_eval.results import ModelRun
from misalign_eval.scoring import QuestionCounts
from misalign_eval.stats.compare import DifferenceEstimate, holm, paired_difference
from misalign_eval.stats.rates import RateEstimate, clustered_rate, question_rate

OVERALL = "all tasks"
COUNT_FIELDS = ("n_answers", "n_scored", "n_unscored", "n_refusal", "n_error", "n_coherent",
                "n_eligible", "n_misaligned")


@dataclass(frozen=True)
class Summary:
    """A set of questions (a task, or all tasks): the rate with its interval and every count."""

    label: str
    rate: RateEstimate
    n_questions: int
    n_answers: int
    n_scored: int
    n_unscored: int
    n_refusal: int
    n_error: int
    n_coherent: int
    n_eligible: int
    n_misaligned: int

    @property
    def coherence_rate(self) -> float | None:
        """Scored answers with coherence above the threshold, over scored answers."""
        return _share(self.n_coherent, self.n_scored)

    @property
    def refusal_rate(self) -> float | None:
        return _share(self.n_refusal, self.n_answers)

    @property
    def unscored_rate(self) -> float | None:
        return _share(self.n_unscored, self.n_answers)

    @property
    def error_rate(self) -> float | None:
        return _share(self.n_error, self.n_answers)

    def to_json(self) -> dict:
        data = asdict(self)
        data["rate"] = self.rate.to_json()
        data.update(coherence_rate=self.coherence_rate, refusal_rate=self.refusal_rate,
                    unscored_rate=self.unscored_rate, judge_error_rate=self.error_rate)
        return data


def summarize(label: str, counts: list[QuestionCounts], confidence: float = 0.95) -> Summary:
    """Pooled rate over ``counts`` with the question-clustered interval of stats.rates."""
    rate = clustered_rate([c.n_misaligned for c in counts], [c.n_eligible for c in counts],
                          confidence)
    totals = {f: sum(getattr(c, f) for c in counts) for f in COUNT_FIELDS}
    return Summary(label, rate, len(counts), **totals)


def question_interval(k: int, n: int, confidence: float = 0.95) -> tuple:
    """(rate, low, high) of one question over its own answers, Wilson; Nones when n = 0."""
    if n <= 0:
        return (None, None, None)
    est = question_rate(k, n, confidence, method="wilson")
    return (est.estimate, est.ci_low, est.ci_high)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# ----------------------------------------------------------------------- comparisons


@dataclass(frozen=True)
class ComparisonRow:
    """Run a and run b on one task (or all tasks pooled) and their paired difference b - a."""

    task: str
    a: Summary
    b: Summary
    difference: DifferenceEstimate

    def to_json(self) -> dict:
        return {"task": self.task, "a": self.a.to_json(), "b": self.b.to_json(),
                "difference_b_minus_a": self.difference.to_json()}


def align_runs(runs: list[ModelRun], labels: list[str], allow_judge_change: bool = False,
               warn=None) -> list[AlignedTask]:
    """Shared tasks of ``runs``, each checked and aligned by question (first run's order)."""
    tasks = shared_tasks(runs, labels, warn)
    loaded = [load_questions(run, tasks) for run in runs]
    return [align(task, [q[task] for q in loaded], labels, allow_judge_change, warn)
            for task in tasks]


def common_definition(aligned: list[AlignedTask]) -> str:
    """The one definition of the rate all tasks share; pooling different ones means nothing."""
    definitions = {t.definition for t in aligned}
    if len(definitions) > 1:
        listing = "; ".join(f"{t.task}: {t.definition}" for t in aligned)
        raise InputError("the tasks count misalignment under different definitions, so their "
                         f"answers cannot be pooled; choose one task ({listing})")
    return definitions.pop()


def pooled(aligned: list[AlignedTask], run: int) -> list[QuestionCounts]:
    """One run's questions of every task, as one list of clusters.

    A probe asked by several tasks (em_core and its JSON and template variants: same probe
    set, same id) is one cluster: its answers share the question, so counting it once per
    task would overstate the number of independent units.
    """
    return QuestionCounts.merged((key, counts) for task in aligned
                                 for key, counts in zip(task.cluster_keys, task.counts[run]))


def compare_pair(aligned: list[AlignedTask], a: int = 0, b: int = 1,
                 confidence: float = 0.95) -> list[ComparisonRow]:
    """Per task, then over all tasks pooled (only when there are several tasks)."""
    groups = [(t.task, list(t.counts[a]), list(t.counts[b])) for t in aligned]
    if len(aligned) > 1 and len({t.definition for t in aligned}) == 1:
        groups.append((OVERALL, pooled(aligned, a), pooled(aligned, b)))
    return [ComparisonRow(name, summarize(name, ca, confidence), summarize(name, cb, confidence),
                          difference(ca, cb, confidence))
            for name, ca, cb in groups]


def difference(counts_a: list[QuestionCounts], counts_b: list[QuestionCounts],
               confidence: float = 0.95) -> DifferenceEstimate:
    """Paired difference of pooled rates, b - a, questions as clusters."""
    return paired_difference([c.n_misaligned for c in counts_a], [c.n_eligible for c in counts_a],
                             [c.n_misaligned for c in counts_b], [c.n_eligible for c in counts_b],
                             confidence)


# ----------------------------------------------------------------------- leaderboard


@dataclass(frozen=True)
class LeaderboardRow:
    """One model: its pooled rate, the ranks its interval allows, and its test against the best."""

    label: str
    directory: str
    summary: Summary
    rank_low: int | None
    rank_high: int | None
    vs_best: DifferenceEstimate | None  # this model minus the best model; None for the best
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
                warn=None) -> tuple[list[LeaderboardRow], list[AlignedTask]]:
    """Rows sorted from least to most misaligned (models without an estimate last).

    Rank interval: a model can rank no better than 1 + (models whose interval lies wholly
    below its own) and no worse than N - (models whose interval lies wholly above it).
    Differences from the best model are paired tests, Holm-adjusted over the N-1 tests.
    """
    aligned = align_runs(runs, labels, allow_judge_change, warn)
    common_definition(aligned)
    summaries = [summarize(OVERALL, pooled(aligned, i), confidence) for i in range(len(runs))]
    rated = [i for i, s in enumerate(summaries) if s.rate.estimate is not None]
    order = sorted(rated, key=lambda i: (summaries[i].rate.estimate, labels[i]))
    order += [i for i in range(len(runs)) if i not in rated]
    ranks = _rank_intervals(summaries, rated)
    best = order[0] if rated else None
    tests = {i: difference(pooled(aligned, best), pooled(aligned, i), confidence)
             for i in rated if i != best}
    testable = [i for i in tests if tests[i].p_value is not None]
    adjusted = dict(zip(testable, holm([tests[i].p_value for i in testable])))
    rows = []
    for i in order:
        low, high = ranks.get(i, (None, None))
        holm_p = adjusted.get(i)
        rows.append(LeaderboardRow(labels[i], str(runs[i].directory), summaries[i], low, high,
                                   tests.get(i), holm_p,
                                   None if holm_p is None else holm_p < alpha))
    return rows, aligned


def _rank_intervals(summaries: list[Summary], rated: list[int]) -> dict[int, tuple[int, int]]:
    ranks = {}
    for i in rated:
        lo_i, hi_i = summaries[i].rate.ci_low, summaries[i].rate.ci_high
        surely_better = sum(1 for j in rated if j != i and summaries[j].rate.ci_high < lo_i)
        surely_worse = sum(1 for j in rated if j != i and summaries[j].rate.ci_low > hi_i)
        ranks[i] = (1 + surely_better, len(rated) - surely_worse)
    return ranks


def run_labels(runs: list[ModelRun]) -> list[str]:
    """Model names when they are unique, else each directory relative to their common parent."""
    names = [r.model_name for r in runs]
    if len(set(names)) == len(names):
        return names
    from os.path import commonpath

    dirs = [r.directory.resolve() for r in runs]
    base = commonpath(dirs) if len(dirs) > 1 else str(dirs[0].parent)
    labels = [str(d.relative_to(base)) if str(d) != base else d.name for d in dirs]
    return labels if len(set(labels)) == len(labels) else [str(d) for d in dirs]
