"""Batch grading of saved samples files: the requests the cache cannot answer go to a batch
(OpenAI's Batch API, or a file for ``vllm run-batch``) and the results into the cache; the
ordinary ``rejudge`` pass then writes the records, grading live only what the batch failed."""

from __future__ import annotations

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
from misalign_eval.runs.rejudge import read_samples


@dataclass
class BatchOutcome:
    pending: Pending
    tally: BatchTally | None  # None when the requests were only written
    usage: JudgeUsage


def batch_grade(paths: list[Path], config: JudgeConfig, rubrics: list[Rubric],
                question_field: str = "question", user_templates: dict | None = None,
                table_columns: TableColumns | None = None, *, write_to: Path | None = None,
                results_from: Path | None = None, poll_s: float = 30.0,
                say: Callable[[str], None] = print) -> BatchOutcome:
    """Write the missing requests to ``write_to``, or read results from ``results_from``,
    or (neither) submit them to the Batch API and wait; results go into the cache."""
    questions = [item.question for path in paths
                 for item in read_samples(path, question_field, (user_templates or {}).get(path),
                                          table_columns)]
    with opened_judge(config, rubrics) as judge:
        pending = pending_requests(judge, question_items(questions))
        if write_to is not None:
            lines = pending.lines()
            write_atomically(write_to, "".join(line + "\n" for line in lines))
            return BatchOutcome(pending, None, judge.usage)
        if not pending.requests:
            return BatchOutcome(pending, BatchTally(), judge.usage)
        if results_from is not None:
            try:
                content = results_from.read_bytes()
            except OSError as exc:
                raise InputError(f"{results_from}: cannot read batch results ({exc.strerror})") from None
            records = result_lines(content, str(results_from))
        else:
            records = run_batches(judge, pending, poll_s, say)
        tally = ingest(judge, pending, records)
    return BatchOutcome(pending, tally, judge.usage)
