"""Grade the answers in lm-eval ``--log_samples`` files, streaming, resumable through the cache.

Researchers use this to grade with a second judge, or to generate with ``--predict_only``
on a GPU box and grade elsewhere. Memory stays flat in file size: lines are read and judged
in batches, and only per-question counts are kept for the summary.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from tqdm.auto import tqdm

from misalign_eval.errors import InputError, JudgeFailure
from misalign_eval.judging.grading import Question, check_error_rate, error_tally, judge_questions, opened_judge
from misalign_eval.judging.config import JudgeConfig
from misalign_eval.harness.messages import fill_template
from misalign_eval.judging.rubrics import Rubric
from misalign_eval.runs.writer import RunWriter
from misalign_eval.scoring import Definition, QuestionCounts


@dataclass
class SampleQuestion:
    source: str
    task: str
    doc_id: object
    question: Question
    cluster: tuple  # (probe set, probe id): wordings and task formats of one probe merge
    doc: dict


@dataclass
class RejudgeSummary:
    # (cluster key, counts) per doc; QuestionCounts.merged turns them into questions.
    tallies: list[tuple[tuple, QuestionCounts]] = field(default_factory=list)
    answers: int = 0
    errors: Counter = field(default_factory=Counter)
    calls_made: int = 0
    cache_hits: int = 0


def task_of(path: Path) -> str:
    """lm-eval names samples files samples_<task>_<timestamp>.jsonl."""
    stem = path.stem
    if stem.startswith("samples_") and "_" in stem[8:]:
        return stem[8:].rsplit("_", 1)[0]
    return stem


def _answers(resps, where: str) -> list[str]:
    """All answer strings of a samples line: ``resps`` is a list (per request) of lists."""
    if not isinstance(resps, list):
        raise InputError(f"{where}: 'resps' is not a list")
    flat = [a for group in resps for a in (group if isinstance(group, list) else [group])]
    if not all(isinstance(a, str) for a in flat):
        raise InputError(f"{where}: 'resps' holds something other than answer strings")
    return flat


def read_samples(path: Path, question_field: str,
                 user_template: str | None = None) -> Iterator[SampleQuestion]:
    """One item per document; later lines for the same doc (other filters) are skipped.

    ``user_template``: the task's template around the question (as in em_core_template), so
    the judge sees the question the way the model did.
    """
    seen = set()
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read samples file ({exc.strerror})") from None
    with handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                sample = json.loads(line)
                doc, doc_id = sample["doc"], sample["doc_id"]
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}: not valid JSON ({exc.msg})") from None
            except (KeyError, TypeError):
                raise InputError(f"{where}: not an lm-eval samples line (needs 'doc', "
                                 "'doc_id' and 'resps'; was it written with --log_samples?)") from None
            if doc_id in seen:
                continue
            seen.add(doc_id)
            if not isinstance(doc, dict) or not isinstance(doc.get(question_field), str):
                raise InputError(f"{where}: doc has no text field {question_field!r} "
                                 "(choose it with --question-field)")
            answers = _answers(sample.get("resps"), where)
            probe_id = str(doc.get("probe_id", doc_id))
            question = Question(probe_id, str(doc.get("category", "")),
                                fill_template(user_template, doc[question_field]), answers,
                                reference=doc.get("reference") or None,
                                extra={"paraphrase_index": doc.get("paraphrase_index", 0)})
            probe_set = doc.get("probe_set_sha256") or doc.get("probe_set") or str(path)
            yield SampleQuestion(str(path), task_of(path), doc_id, question, (probe_set, probe_id), doc)


def _batches(items: Iterator[SampleQuestion], max_answers: int) -> Iterator[list[SampleQuestion]]:
    batch, size = [], 0
    for item in items:
        batch.append(item)
        size += len(item.question.answers)
        if size >= max_answers:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def count_answers(paths: list[Path], question_field: str) -> int:
    return sum(len(item.question.answers) for path in paths for item in read_samples(path, question_field))


def _check(summary: RejudgeSummary, config: JudgeConfig) -> None:
    try:
        check_error_rate([], config.max_error_rate, (summary.answers, summary.errors))
    except JudgeFailure as failure:
        raise JudgeFailure(f"{failure} Verdicts obtained so far are cached: run the same "
                           "command again once the judge works.") from None


def rejudge(paths: list[Path], out: Path, config: JudgeConfig, rubrics: list[Rubric],
            definition: Definition, question_field: str = "question",
            batch_answers: int = 2000, progress: bool = True,
            run: RunWriter | None = None,
            user_templates: dict[Path, str] | None = None) -> RejudgeSummary:
    """Judge every answer of ``paths`` and write one record per question to ``out`` (and,
    with ``run``, an lm-eval run directory for the decision commands).

    The output appears only when complete (written to a temporary name, then renamed).
    """
    total = count_answers(paths, question_field)  # validates every line before paying for calls
    summary = RejudgeSummary()
    partial = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=total * len(rubrics), desc="Judging", unit="call", disable=not progress,
               dynamic_ncols=True)
    try:
        with opened_judge(config, rubrics) as judge, partial.open("w", encoding="utf-8") as sink:
            for path in paths:
                template = (user_templates or {}).get(path)
                for batch in _batches(read_samples(path, question_field, template), batch_answers):
                    records = judge_questions(judge, definition, [b.question for b in batch],
                                              progress=progress, bar=bar)
                    for item, record in zip(batch, records):
                        sink.write(json.dumps({"source": item.source, "task": item.task,
                                               "doc_id": item.doc_id, **record}) + "\n")
                        if run is not None:
                            run.add(item.task, item.source, item.doc_id, item.doc,
                                    item.question.answers, record)
                        summary.tallies.append((item.cluster, QuestionCounts(**record["counts"])))
                    answers, errors = error_tally(records)
                    summary.answers += answers
                    summary.errors.update(errors)
                    # Stop paying for calls once the judge is clearly broken.
                    if summary.answers >= 200:
                        _check(summary, config)
            summary.calls_made, summary.cache_hits = judge.calls_made, judge.cache_hits
        _check(summary, config)
        os.replace(partial, out)
        if run is not None:
            run.finish()
    finally:
        bar.close()
        partial.unlink(missing_ok=True)
        if run is not None and run.stage is not None and run.stage.exists():
            run.abort()
    return summary
