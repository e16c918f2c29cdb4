"""Batch grading of saved samples files: the requests the cache cannot answer go to a batch
(OpenAI's Batch API, or a file for ``vllm run-batch``) and the results into the cache; the
ordinary ``rejudge`` pass then writes the records, grading live only what the batch failed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from misalign_eval.errors import InputError
from misalign_eval.judging.batch import (
    BatchTally, Pending, ingest, pending_requests, result_lines, run_batches, write_atomically,
)
from misalign_eval.judging.config import JudgeConfig
from misalign_eval.judging.grading import opened_judge, question_items
from misalign_eval.judging.rubrics import Rubric
from misalign_eval.judging.usage import JudgeUsage
from misalign_eval.runs.answer_tables import TableColumns
from misalign_eval.runs.grading_plan import FileGrading, alignment_grading
from misalign_eval.runs.rejudge import read_samples
from misalign_eval.scoring import Definition


@dataclass
class BatchOutcome:
    pending: Pending
    tally: BatchTally | None  # None when the requests were only written
    usage: JudgeUsage


def batch_grade(paths: list[Path], config: JudgeConfig, rubrics: list[Rubric],
                question_field: str = "question", user_templates: dict | None = None,
                table_columns: TableColumns | None = None, *, write_to: Path | None = None,
                results_from: Path | None = None, poll_s: float = 30.0,
                say: Callable[[str], None] = print,
                plans: dict[Path, FileGrading] | None = None) -> BatchOutcome:
    """Write the missing requests to ``write_to``, or read results from ``results_from``,
    or (neither) submit them to the Batch API and wait; results go into the cache.

    ``plans``: each file's rubrics (a category suite's own); one batch holds them all."""
    if plans is None:
        plans = {path: alignment_grading(rubrics, Definition(), (user_templates or {}).get(path))
                 for path in paths}
    groups: dict[tuple, tuple[list[Rubric], list]] = {}  # rubric set -> (rubrics, questions)
    for path in paths:
        plan = plans[path]
        _, questions = groups.setdefault(plan.key, (plan.rubrics, []))
        questions += [item.question for item in read_samples(
            path, question_field, plan.user_template, table_columns, plan.reference_rubric)]
    with contextlib.ExitStack() as stack:
        judges, pending = [], Pending()
        for group_rubrics, questions in groups.values():
            judges.append(stack.enter_context(opened_judge(config, group_rubrics)))
            found = pending_requests(judges[-1], question_items(questions))
            for key, request in found.requests.items():  # each request names its rubric
                pending.requests.setdefault(key, request)
        tally = _grade(judges[0], pending, write_to, results_from, poll_s, say) if judges else None
        usage = JudgeUsage()
        for judge in judges:
            usage.merge(judge.usage)
    return BatchOutcome(pending, tally if write_to is None else None, usage)


def _grade(judge, pending: Pending, write_to, results_from, poll_s, say) -> BatchTally | None:
    if write_to is not None:
        write_atomically(write_to, "".join(line + "\n" for line in pending.lines()))
        return None
    if not pending.requests:
        return BatchTally()
    if results_from is not None:
        try:
            content = results_from.read_bytes()
        except OSError as exc:
            raise InputError(f"{results_from}: cannot read batch results ({exc.strerror})") from None
        records = result_lines(content, str(results_from))
    else:
        records = run_batches(judge, pending, poll_s, say)
    return ingest(judge, pending, records)
