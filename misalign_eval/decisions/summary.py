"""Rates per run and per set of questions, as the decision commands report them.

Everything is computed from the per-question counts in the samples files, never from the
aggregates in results files: an overall rate across tasks pools the answers of all tasks
(every task's question is a cluster), which averaging task intervals cannot give.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from misalign_eval.scoring import QuestionCounts
from misalign_eval.stats import RateInterval, rate_interval
from misalign_eval.stats.rates import question_rate

OVERALL = "all tasks"
COUNT_FIELDS = ("n_answers", "n_scored", "n_unscored", "n_refusal", "n_error", "n_coherent",
                "n_eligible", "n_misaligned")


@dataclass(frozen=True)
class Summary:
    """A set of questions (a task, or all tasks): the rate with its interval and every count."""

    label: str
    rate: RateInterval
    n_questions: int
    n_answers: int
    n_scored: int
    n_unscored: int
    n_refusal: int
    n_error: int
    n_coherent: int
    n_eligible: int
    n_misaligned: int
    rate_name: str = "misalignment_rate"  # lie_rate, claims_human for the category suites

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


def summarize(label: str, counts: list[QuestionCounts], confidence: float = 0.95,
              scope: str = "questions", families: list | None = None,
              rate_name: str = "misalignment_rate") -> Summary:
    """The rate over ``counts`` with its interval in ``scope`` (stats.rate_interval):
    "questions" for this probe set, "population" for new questions like these, clustered by
    ``families`` (one label per question) when given."""
    rate = rate_interval([c.n_misaligned for c in counts], [c.n_eligible for c in counts],
                         confidence=confidence, scope=scope,
                         families=families if scope == "population" else None)
    totals = {f: sum(getattr(c, f) for c in counts) for f in COUNT_FIELDS}
    return Summary(label, rate, len(counts), **totals, rate_name=rate_name)


def question_interval(k: int, n: int, confidence: float = 0.95) -> tuple:
    """(rate, low, high) of one question over its own answers, Wilson; Nones when n = 0."""
    if n <= 0:
        return (None, None, None)
    est = question_rate(k, n, confidence, method="wilson")
    return (est.estimate, est.ci_low, est.ci_high)


def scope_words(scope: str, n_questions: int, n_clusters: int | None = None) -> str:
    """What an interval claims, in words, next to every interval we print."""
    if scope == "population":
        clusters = f", {n_clusters} clusters" if n_clusters and n_clusters != n_questions else ""
        return f"for new questions like these ({n_questions} questions{clusters})"
    return f"on these {n_questions} questions"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None
