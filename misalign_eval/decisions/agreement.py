"""How far two or more gradings of the same answers agree: ``misalign-eval agreement``.

The runs are gradings of the same answers by different judges or rubrics. Per task and over
all tasks: each judge's misalignment rate with its interval, and for each pair of judges the
paired difference, the share of answers they label differently, Cohen's kappa, Spearman's
rho of the 0-100 scores and the 2x2 table; Krippendorff's alpha over all judges. Agreement
is computed over the answers every judge scored; an answer a judge found incoherent counts
as not misaligned for that judge (the run's definition decides). Questions are the clusters
of every agreement interval.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from misalign_eval.decisions.summary import OVERALL
from misalign_eval.errors import InputError
from misalign_eval.errors import warn as stderr_warn  # the parameter ``warn`` shadows it
from misalign_eval.runs.judged_answers import (
    JudgedAnswer, MatchedAnswers, ensemble_members, judged_answers, match_answers, run_label,
)
from misalign_eval.runs.reader import ModelRun
from misalign_eval.stats import AgreementEstimate, RateInterval, rate_interval
from misalign_eval.stats.agreement import (
    alpha_interval, cluster_jackknife, kappa_interval, rank_correlation,
)


def _disagreement(t):
    n = t.sum(axis=(-2, -1))
    return (t[..., 0, 1] + t[..., 1, 0]) / np.where(n > 0, n, np.nan)


def _difference(t):
    n = t.sum(axis=(-2, -1))
    return (t[..., 0, 1] - t[..., 1, 0]) / np.where(n > 0, n, np.nan)


@dataclass(frozen=True)
class PairAgreement:
    a: str
    b: str
    table: list[list[int]]  # rows: a's label (aligned, misaligned); columns: b's
    kappa: AgreementEstimate
    disagreement: tuple  # (share, low, high) of answers labelled differently
    difference: tuple  # (b - a, low, high): share misaligned by b minus by a, same answers
    spearman: dict[str, tuple]  # rubric -> (rho, n)

    def to_json(self) -> dict:
        return {"a": self.a, "b": self.b, "table": self.table, "kappa": self.kappa.to_json(),
                "disagreement": dict(zip(("estimate", "low", "high"), self.disagreement)),
                "difference_b_minus_a": dict(zip(("estimate", "low", "high"), self.difference)),
                "spearman": {k: {"rho": r, "n": n} for k, (r, n) in self.spearman.items()}}


@dataclass(frozen=True)
class TaskAgreement:
    task: str
    n_matched: int
    n_scored_by_all: int
    n_questions: int
    rates: list[RateInterval]  # one per judge, over the matched answers (its own denominator)
    pairs: list[PairAgreement]
    alpha: AgreementEstimate

    def to_json(self) -> dict:
        return {"task": self.task, "n_matched": self.n_matched,
                "n_scored_by_all": self.n_scored_by_all, "n_questions": self.n_questions,
                "rates": [r.to_json() for r in self.rates],
                "pairs": [p.to_json() for p in self.pairs], "alpha": self.alpha.to_json()}


@dataclass(frozen=True)
class AgreementReport:
    labels: list[str]
    judges: list[str]
    definitions: list[str]
    confidence: float
    tasks: list[TaskAgreement]
    matched: MatchedAnswers
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"runs": self.labels, "judges": self.judges, "definitions": self.definitions,
                "confidence": self.confidence, "notes": self.notes,
                "tasks": [t.to_json() for t in self.tasks]}


def build_agreement(runs: list[ModelRun], confidence: float = 0.95, warn=None,
                    members: bool = False) -> AgreementReport:
    """Match the runs' answers and compute every agreement figure per task and overall.

    ``members``: compare the members of the judge ensemble that graded each run (their own
    verdicts, kept in the records) instead of the runs' combined verdicts.
    """
    warn = warn or stderr_warn
    run_labels = [run_label(r, runs) for r in runs]
    shared = sorted(set.intersection(*(set(r.tasks) for r in runs)))
    for label, run in zip(run_labels, runs):
        if set(run.tasks) - set(shared):
            warn(f"{label}: task(s) {', '.join(sorted(set(run.tasks) - set(shared)))} not in "
                 "every run; left out")
    if not shared:
        raise InputError("the runs share no task: " + "; ".join(
            f"{lb}: {', '.join(sorted(r.tasks))}" for lb, r in zip(run_labels, runs)))
    labels, gradings = [], []
    for label, run in zip(run_labels, runs):
        if not members:
            labels.append(label)
            gradings.append(judged_answers(run, shared))
            continue
        models = ensemble_members(run, shared)
        for i, model in enumerate(models):
            name = model if models.count(model) == 1 else f"{model} #{i + 1}"
            labels.append(name if len(runs) == 1 else f"{label}: {name}")
            gradings.append(judged_answers(run, shared, member=i))
    if len(gradings) < 2:
        raise InputError("agreement needs at least two gradings of the same answers")
    matched = match_answers(gradings, labels)
    definitions = sorted({a.definition for grading in matched.per_run for a in grading})
    notes = []
    if len(definitions) > 1:
        notes.append("the runs use different definitions of misaligned; each judge's label "
                     "follows its own run's definition")
    judges = [", ".join(sorted({a.judge for a in grading})) for grading in matched.per_run]
    by_task = defaultdict(list)
    for i, a in enumerate(matched.per_run[0]):
        by_task[a.task].append(i)
    groups = [(task, by_task[task]) for task in shared]
    if len(shared) > 1:
        groups.append((OVERALL, list(range(matched.n))))
    tasks = [_task_agreement(name, idx, matched, labels, confidence) for name, idx in groups]
    return AgreementReport(labels, judges, definitions, confidence, tasks, matched, notes)


def _task_agreement(name: str, indices: list[int], m: MatchedAnswers, labels: list[str],
                    confidence: float) -> TaskAgreement:
    runs = [[grading[i] for i in indices] for grading in m.per_run]
    question_of = [(a.task, a.probe_id) for a in runs[0]]
    order = list(dict.fromkeys(question_of))
    q_index = np.array([order.index(q) for q in question_of]) if question_of else np.zeros(0, int)
    rates = [_rate(answers, q_index, len(order), confidence) for answers in runs]
    both = np.array([all(r[i].scored for r in runs) for i in range(len(indices))], dtype=bool)
    lab = np.array([[a.misaligned for a in r] for r in runs], dtype=int).reshape(len(runs), -1)
    pairs = []
    for x, y in combinations(range(len(runs)), 2):
        tables = np.zeros((len(order), 2, 2))
        np.add.at(tables, (q_index[both], lab[x][both], lab[y][both]), 1.0)
        pairs.append(PairAgreement(
            labels[x], labels[y], tables.sum(0).astype(int).tolist(),
            kappa_interval(tables, confidence),
            _clustered(tables, _disagreement, confidence, (0.0, 1.0)),
            _clustered(tables, _difference, confidence),
            {rubric: rank_correlation([getattr(runs[x][i], rubric) for i in np.flatnonzero(both)],
                                      [getattr(runs[y][i], rubric) for i in np.flatnonzero(both)])
             for rubric in ("alignment", "coherence")}))
    counts = [np.stack([(lab[:, both & (q_index == q)] == c).sum(0) for c in (0, 1)], 1)
              for q in range(len(order))]
    alpha = alpha_interval(counts, len(runs), confidence)
    return TaskAgreement(name, len(indices), int(both.sum()), len(order), rates, pairs, alpha)


def _rate(answers: list[JudgedAnswer], q_index, questions: int, confidence: float) -> RateInterval:
    k, n = np.zeros(questions), np.zeros(questions)
    np.add.at(k, q_index, [a.misaligned for a in answers])
    np.add.at(n, q_index, [a.in_denominator for a in answers])
    return rate_interval(k, n, confidence=confidence)


def _clustered(tables, statistic, confidence: float, bounds=(-1.0, 1.0)) -> tuple:
    total = tables.sum(0)
    if total.sum() == 0:
        return (None, None, None)
    if tables.shape[0] < 2:
        return (float(statistic(total)), None, None)
    est, low, high, _ = cluster_jackknife(tables, statistic, confidence, bounds)
    return (est, low, high)


def disagreements(report: AgreementReport, limit: int = 200) -> list[dict]:
    """Answers on which the judges disagree most, for people to review: first those whose
    labels differ, then by the largest gap between any two judges' alignment scores."""
    rows = []
    for i in range(report.matched.n):
        answers = [grading[i] for grading in report.matched.per_run]
        scores = [a.alignment for a in answers if a.alignment is not None]
        gap = max(scores) - min(scores) if len(scores) > 1 else 0.0
        differ = len({a.misaligned for a in answers if a.scored}) > 1
        row = {"task": answers[0].task, "probe_id": answers[0].probe_id,
               "labels_differ": differ, "alignment_gap": round(gap, 2)}
        for label, a in zip(report.labels, answers):
            row.update({f"{label}: misaligned": a.misaligned, f"{label}: status": a.status,
                        f"{label}: alignment": a.alignment, f"{label}: coherence": a.coherence})
        row.update(question=answers[0].question, answer=answers[0].answer)
        rows.append(row)
    rows.sort(key=lambda r: (not r["labels_differ"], -r["alignment_gap"]))
    return [r for r in rows if r["labels_differ"] or r["alignment_gap"] > 0][:limit]
