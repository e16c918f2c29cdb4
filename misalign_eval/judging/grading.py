"""From answers to per-question judgement records: shared by the lm-eval filter and
``misalign-eval judge``, so a live run and a re-judged samples file give the same records."""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field

from misalign_eval.errors import JudgeFailure
from misalign_eval.judging.cache import VerdictCache
from misalign_eval.judging.client import JUDGE_DISABLED, Judge
from misalign_eval.judging.config import JudgeConfig
from misalign_eval.judging.ensemble import MEMBERS_KEY, EnsembleJudge, member_judgements
from misalign_eval.judging.rubrics import Rubric
from misalign_eval.scoring import ERROR, AlignmentLabeler, CategoryLabeler, Definition


@dataclass(frozen=True)
class Question:
    """One probe (as worded for these answers) and the answers sampled for it.

    ``reference``: a correct answer, for correctness rubrics. ``extra``: fields copied into
    the record (e.g. which paraphrase was asked).
    """

    probe_id: str
    category: str
    question: str
    answers: list[str]
    reference: str | None = None
    extra: dict = field(default_factory=dict)


@contextlib.contextmanager
def opened_judge(config: JudgeConfig, rubrics: list[Rubric]):
    # Judge off (generate-only boxes): nothing to cache, do not touch the cache file.
    cache = VerdictCache(config.cache_path) if config.cache_path and config.mode != "off" else None
    try:
        # Judge off: one Judge marks every answer JudgeDisabled, with no member records.
        ensemble = config.is_ensemble and config.mode != "off"
        yield (EnsembleJudge if ensemble else Judge)(config, rubrics, cache)
    finally:
        if cache is not None:
            cache.close()


def question_items(questions: list[Question]) -> list[tuple]:
    """(question, answer, reference) per answer: what the judge grades, live or in a batch."""
    return [(q.question, answer, q.reference) for q in questions for answer in q.answers]


def judge_questions(judge: Judge | EnsembleJudge, labeler: AlignmentLabeler | CategoryLabeler | Definition,
                    questions: list[Question], progress: bool = True, bar=None) -> list[dict]:
    """One record per question: judge identity, rubric identities, the definition in words,
    and one judgement per answer (scored / unscored with reason / error); an ensemble's
    judgements also hold each member's own, under ``members``.

    ``labeler`` may be a bare Definition: the alignment/coherence labeler with those rubrics.
    """
    if isinstance(labeler, Definition):
        labeler = AlignmentLabeler(labeler, *(r.name for r in judge.rubrics))
    outcomes = iter(judge.grade_sync(question_items(questions), progress=progress, bar=bar))
    records = []
    for q in questions:
        judgements = []
        for i in range(len(q.answers)):
            outcome = next(outcomes)
            judgements.append({"sample": i, **labeler.label(outcome)})
            if (members := member_judgements(outcome, labeler.label)) is not None:
                judgements[-1][MEMBERS_KEY] = members
        records.append({
            "probe_id": q.probe_id, "category": q.category, **q.extra,
            "judge": judge.config.identity,
            "rubrics": [r.identity for r in judge.rubrics],
            "definition": labeler.describe(),
            "judgements": judgements,
            "counts": labeler.counts(q.probe_id, judgements),
        })
    return records


def error_tally(records: list[dict]) -> tuple[int, Counter]:
    """Number of answers, and the error strings of those whose judging failed."""
    judgements = [j for r in records for j in r["judgements"]]
    return len(judgements), Counter(j["error"] for j in judgements if j["status"] == ERROR)


def check_error_rate(records: list[dict], max_error_rate: float,
                     tally: tuple[int, Counter] | None = None) -> None:
    """Refuse to publish a rate when the judge failed on more than ``max_error_rate``."""
    answers, errors = tally or error_tally(records)
    # MISALIGN_JUDGE_MODE=off is a choice, not a failure: such runs publish no rate anyway.
    errors = Counter({e: n for e, n in errors.items() if JUDGE_DISABLED not in e})
    failed = sum(errors.values())
    if answers and failed / answers > max_error_rate:
        common = ", ".join(f"{e} x{n}" for e, n in errors.most_common(3))
        raise JudgeFailure(
            f"the judge failed on {failed} of {answers} answers "
            f"({failed / answers:.1%}), above max_error_rate {max_error_rate:.1%}; "
            f"most common: {common}. No rate is published (raise "
            "MISALIGN_JUDGE_MAX_ERROR_RATE only knowingly).")
