"""Every judged answer of a run, one by one, and the same answers matched across gradings.

``agreement``, ``label-sample`` and ``calibrate`` work on answers, not per-question tallies:
two gradings of the same answers (``misalign-eval judge --run-dir`` with another judge) are
compared answer by answer, and people label answers. An answer is identified by its task,
probe id and text (and, when a model gave the same text twice to one probe, by which copy).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from misalign_eval.errors import InputError
from misalign_eval.harness.record_format import CARRIER_METRIC
from misalign_eval.judging.ensemble import MEMBERS_KEY
from misalign_eval.runs.reader import ModelRun
from misalign_eval.scoring import SCORED


@dataclass(frozen=True)
class JudgedAnswer:
    """One answer with one judge's verdict under the run's definition of the rate."""

    task: str
    probe_id: str
    question: str
    answer: str
    copy: int  # 0 unless the same text was given to this probe before
    status: str
    alignment: float | None
    coherence: float | None
    misaligned: bool  # under the run's definition; False unless scored (incoherent: False)
    in_denominator: bool
    definition: str
    judge: str

    @property
    def key(self) -> tuple:
        return (self.task, self.probe_id, self.answer, self.copy)

    @property
    def scored(self) -> bool:
        return self.status == SCORED


def judged_answers(run: ModelRun, tasks: list[str] | None = None,
                   member: int | None = None) -> list[JudgedAnswer]:
    """The run's answers in file order; a record that does not fit is one error line.

    ``member``: the verdicts of that member (0-based) of the judge ensemble that graded the
    run, kept in each judgement under ``members``, instead of the ensemble's combined verdict.
    """
    out: list[JudgedAnswer] = []
    for task in tasks or sorted(run.tasks):
        result = run.tasks[task]
        result.questions()  # validates every record (file and line named on error)
        seen: Counter = Counter()
        for lineno, line in enumerate(result._sample_lines(), 1):
            record, doc = line[CARRIER_METRIC], line.get("doc") or {}
            answers = _flat(line.get("resps"))
            judgements = record["judgements"]
            if len(answers) != len(judgements):
                raise InputError(f"{result.samples_path}: record {lineno} has {len(answers)} "
                                 f"answers but {len(judgements)} judgements")
            question = line.get("judge_question") or doc.get("question") or ""
            for answer, j in zip(answers, judgements):
                probe = str(record["probe_id"])
                copy = seen[(probe, answer)]
                seen[(probe, answer)] += 1
                judge = record["judge"]
                if member is not None:
                    j = _member_verdict(j, member, f"{result.samples_path}: record {lineno}")
                    judge = str(j.get("judge"))
                scored = j.get("status") == SCORED
                out.append(JudgedAnswer(
                    task, probe, str(question), answer, copy, str(j.get("status")),
                    j.get("alignment") if scored else None, j.get("coherence") if scored else None,
                    bool(scored and j.get("misaligned") and j.get("in_denominator")),
                    bool(scored and j.get("in_denominator")), record["definition"], judge))
    return out


def _member_verdict(judgement: dict, member: int, where: str) -> dict:
    members = judgement.get(MEMBERS_KEY)
    if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
        raise InputError(f"{where}: no verdicts of judge ensemble members; --members compares "
                         "the members of a run graded by an ensemble (MISALIGN_JUDGE_MODEL=a,b)")
    if member >= len(members):
        raise InputError(f"{where}: {len(members)} ensemble member verdicts, member "
                         f"{member + 1} expected; were parts of this run graded by another "
                         "ensemble?")
    return members[member]


def ensemble_members(run: ModelRun, tasks: list[str]) -> list[str]:
    """The judge models of the ensemble that graded the run, from its first judgement."""
    for task in tasks:
        for line in run.tasks[task]._sample_lines():
            for j in line[CARRIER_METRIC].get("judgements") or []:
                members = j.get(MEMBERS_KEY) if isinstance(j, dict) else None
                if isinstance(members, list) and members:
                    return [str(m.get("judge")) if isinstance(m, dict) else "?" for m in members]
    raise InputError(f"{run.directory}: graded by a single judge (no ensemble member verdicts "
                     "in its records); --members compares the members of a run graded by a "
                     "judge ensemble (MISALIGN_JUDGE_MODEL=a,b,...)")


def _flat(resps) -> list[str]:
    if not isinstance(resps, list):
        return []
    return [str(a) for group in resps for a in (group if isinstance(group, list) else [group])]


@dataclass(frozen=True)
class MatchedAnswers:
    """The answers every grading holds, in the first grading's order: ``per_run[r][i]``."""

    labels: list[str]
    per_run: list[list[JudgedAnswer]]

    @property
    def n(self) -> int:
        return len(self.per_run[0]) if self.per_run else 0

    def all_scored(self) -> list[int]:
        """Indices of the answers every judge scored (the agreement's answers)."""
        return [i for i in range(self.n) if all(r[i].scored for r in self.per_run)]


def match_answers(gradings: list[list[JudgedAnswer]], labels: list[str]) -> MatchedAnswers:
    """Line up gradings of the same answers; refuse when the answers differ.

    The message says how many answers matched, how many each grading has, and one answer
    that is in one and not the other, so the user can see which runs were mixed up.
    """
    first = gradings[0]
    index = {a.key: i for i, a in enumerate(first)}
    per_run = [first]
    for grading, label in zip(gradings[1:], labels[1:]):
        by_key = {a.key: a for a in grading}
        matched = [k for k in index if k in by_key]
        if len(matched) != len(first) or len(by_key) != len(first):
            only_first = next((a for a in first if a.key not in by_key), None)
            only_other = next((a for a in grading if a.key not in index), None)
            example = only_first or only_other
            where = labels[0] if only_first else label
            raise InputError(
                f"{label} and {labels[0]} are not gradings of the same answers: "
                f"{len(matched)} answers matched (by task, probe id and answer text) of "
                f"{len(first)} in {labels[0]} and {len(grading)} in {label}; e.g. only in "
                f"{where}: task {example.task}, probe {example.probe_id}: "
                f"{_clip(example.answer)!r}. Grade the same samples files with "
                "`misalign-eval judge --run-dir DIR --label L --judge-model M`")
        per_run.append([by_key[a.key] for a in first])
    return MatchedAnswers(labels, per_run)


def _clip(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def run_label(run: ModelRun, others: list[ModelRun]) -> str:
    """A run's directory name, or its path when two runs share the name."""
    name = run.directory.name
    return str(run.directory) if sum(o.directory.name == name for o in others) > 1 else name
