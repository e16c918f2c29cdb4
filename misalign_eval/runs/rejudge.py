"""Grade the answers in lm-eval ``--log_samples`` files, streaming, resumable through the cache.

Researchers use this to grade with a second judge, or to generate with ``--predict_only``
on a GPU box and grade elsewhere. Memory stays flat in file size: lines are read and judged
in batches, and only per-question counts are kept for the summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from tqdm.auto import tqdm

from misalign_eval.errors import InputError, JudgeFailure
from misalign_eval.judging.batch import BatchTally
from misalign_eval.judging.grading import Question, check_error_rate, error_tally, judge_questions, opened_judge
from misalign_eval.judging.usage import JudgeUsage
from misalign_eval.judging.config import JudgeConfig
from misalign_eval.harness.messages import fill_template
from misalign_eval.judging.rubrics import Rubric
from misalign_eval.runs.answer_tables import TableColumns, is_answer_table, table_questions
from misalign_eval.runs.grading_plan import MISALIGNMENT_RATE, FileGrading, alignment_grading
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
class RateTally:
    """One rate's inputs: (cluster key, counts) per doc (QuestionCounts.merged turns them into
    questions), the answers per category of a category suite, and the rate's definition."""

    definition: str
    categories: tuple[str, ...] = ()  # a category suite's labels, in the rubric's order
    clusters: list[tuple[tuple, QuestionCounts]] = field(default_factory=list)
    by_category: Counter = field(default_factory=Counter)


@dataclass
class RejudgeSummary:
    # Per rate (misalignment_rate, lie_rate, claims_human): what its figure is computed from.
    rates: dict[str, RateTally] = field(default_factory=dict)
    answers: int = 0
    errors: Counter = field(default_factory=Counter)
    usage: JudgeUsage = field(default_factory=JudgeUsage)
    batch: BatchTally | None = None
    rubrics: list[str] = field(default_factory=list)  # identities of every rubric used

    @property
    def tallies(self) -> list[tuple[tuple, QuestionCounts]]:
        """The misalignment rate's tallies (alignment suites)."""
        tally = self.rates.get(MISALIGNMENT_RATE)
        return tally.clusters if tally else []


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


def read_samples(path: Path, question_field: str, user_template: str | None = None,
                 table_columns: TableColumns | None = None,
                 reference_rubric: str | None = None) -> Iterator[SampleQuestion]:
    """One item per document; later lines for the same doc (other filters) are skipped.

    ``user_template``: the task's template around the question (as in em_core_template), so
    the judge sees the question the way the model did. A line's ``judge_question`` (written
    by the judge filter when it keeps a live run's answers) is that question already.
    Every line is untrusted: each problem is one InputError naming the file and line.
    ``reference_rubric``: a rubric (correctness) that needs each doc's ``reference``.
    """
    if is_answer_table(path):  # CSV/JSONL answers of other tools (runs.answer_tables)
        for source, task, doc_id, doc, answers in table_questions(path, table_columns or TableColumns()):
            question = Question(doc["probe_id"], doc["category"], doc["question"], answers,
                                extra={"paraphrase_index": doc["paraphrase_index"]})
            yield SampleQuestion(source, task, doc_id, question,
                                 (doc["probe_set_sha256"], doc["probe_id"]), doc)
        return
    if path.name.startswith("results_") and path.suffix == ".json":
        raise InputError(f"{path}: this is an lm-eval results file (aggregates only); the answers "
                         "are in the samples_<task>_<time>.jsonl next to it (written with "
                         "--log_samples)")
    seen = set()
    for where, line in _lines(path):
        sample = _parse(where, line)
        doc, doc_id = sample["doc"], sample["doc_id"]
        if isinstance(doc_id, bool) or not isinstance(doc_id, (int, str)):
            raise InputError(f"{where}: 'doc_id' must be an integer or a string, not "
                             f"{type(doc_id).__name__}")
        if doc_id in seen:
            continue
        seen.add(doc_id)
        if not isinstance(doc, dict) or not isinstance(doc.get(question_field), str):
            raise InputError(f"{where}: doc has no text field {question_field!r} "
                             "(choose it with --question-field)")
        for name in ("reference", "probe_set", "probe_set_sha256", "probe_id", "category"):
            if doc.get(name) is not None and not isinstance(doc[name], (str, int)):
                raise InputError(f"{where}: doc field {name!r} must be a string, not "
                                 f"{type(doc[name]).__name__}")
        answers = _answers(sample.get("resps"), where)
        if reference_rubric and not doc.get("reference"):
            raise InputError(f"{where}: doc has no 'reference' (the {reference_rubric} rubric "
                             "grades each answer against the doc's reference answer)")
        probe_id = str(doc.get("probe_id", doc_id))
        judge_question = sample.get("judge_question")
        text = (judge_question if isinstance(judge_question, str)
                else fill_template(user_template, doc[question_field]))
        question = Question(probe_id, str(doc.get("category", "")), text, answers,
                            reference=str(doc["reference"]) if doc.get("reference") else None,
                            extra={"paraphrase_index": doc.get("paraphrase_index", 0)})
        probe_set = str(doc.get("probe_set_sha256") or doc.get("probe_set") or path)
        yield SampleQuestion(str(path), task_of(path), doc_id, question, (probe_set, probe_id), doc)
    if not seen:
        raise InputError(f"{path}: holds no samples (an empty file?); expected lm-eval "
                         "--log_samples lines with 'doc', 'doc_id' and 'resps'")


def _lines(path: Path) -> Iterator[tuple[str, str]]:
    """(file:line, text) for each non-blank line; bytes that are not UTF-8 are named by line
    and byte offset, as is a lone surrogate (valid JSON escape, not valid Unicode)."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read samples file ({exc.strerror})") from None
    offset = 0
    with handle:
        for lineno, raw in enumerate(handle, 1):
            where = f"{path}:{lineno}"
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{where}: not UTF-8 text (byte offset {offset + exc.start} in "
                                 "the file)") from None
            offset += len(raw)
            if text.strip():
                yield where, text


def _parse(where: str, line: str) -> dict:
    try:
        sample = json.loads(line)
    except json.JSONDecodeError as exc:
        hint = (" (a pretty-printed JSON file, such as lm-eval's results_*.json? The answers are "
                "in samples_<task>_<time>.jsonl, one JSON object per line)"
                if line.strip() in ("{", "[") else "")
        raise InputError(f"{where}: not valid JSON ({exc.msg}){hint}") from None
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply") from None
    if not isinstance(sample, dict) or "doc" not in sample or "doc_id" not in sample:
        raise InputError(f"{where}: not an lm-eval samples line (needs 'doc', 'doc_id' and "
                         "'resps'; was it written with --log_samples?)")
    try:
        surrogate = _has_lone_surrogate(sample)
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply") from None
    if surrogate:
        raise InputError(f"{where}: holds a lone surrogate escape (e.g. \\ud800), which is not "
                         "valid Unicode text")
    return sample


def _has_lone_surrogate(value) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


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


def count_answers(paths: list[Path], question_field: str, table_columns=None,
                  plans: dict[Path, FileGrading] | None = None) -> int:
    return sum(answer_counts(paths, question_field, table_columns, plans).values())


def answer_counts(paths: list[Path], question_field: str, table_columns=None,
                  plans: dict[Path, FileGrading] | None = None) -> dict[Path, int]:
    """Answers per file; reading them checks every line (and, with ``plans``, that a
    correctness rubric's docs carry their reference) before any call is paid for."""
    return {path: sum(len(item.question.answers) for item in read_samples(
                path, question_field, table_columns=table_columns,
                reference_rubric=plans[path].reference_rubric if plans else None))
            for path in paths}


RESUME = "run the same command again once the judge works"


def _check(summary: RejudgeSummary, config: JudgeConfig) -> None:
    try:
        check_error_rate([], config.max_error_rate, (summary.answers, summary.errors))
    except JudgeFailure as failure:
        raise JudgeFailure(f"{failure} Verdicts obtained so far are cached: {RESUME}.") from None


def _partial_file(out: Path) -> Path:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    except OSError as exc:
        raise InputError(f"{out}: cannot write ({exc.strerror})") from None
    os.close(handle)
    return Path(name)


@contextlib.contextmanager
def _writing(out: Path, partial: Path):
    """The partial file open for writing; a full disk is one line naming --out, not a traceback."""
    try:
        with partial.open("w", encoding="utf-8") as sink:
            yield sink
    except OSError as exc:
        raise InputError(f"{out}: cannot write ({exc.strerror or exc})") from None


def rejudge(paths: list[Path], out: Path, config: JudgeConfig, rubrics: list[Rubric],
            definition: Definition, question_field: str = "question",
            batch_answers: int = 2000, progress: bool = True,
            run: RunWriter | None = None,
            user_templates: dict[Path, str] | None = None,
            table_columns: TableColumns | None = None,
            total: int | None = None,
            plans: dict[Path, FileGrading] | None = None,
            counts: dict[Path, int] | None = None) -> RejudgeSummary:
    """Judge every answer of ``paths`` and write one record per question to ``out`` (and,
    with ``run``, an lm-eval run directory for the decision commands).

    ``plans`` (``grading_plan.plan_grading``): each file's rubrics, labeler and template, so
    a category suite is graded with its own rubric and rate; without them every file gets
    ``rubrics`` under ``definition`` (and its ``user_templates`` entry).
    The output appears only when complete (written to a temporary name, then renamed).
    """
    if plans is None:
        plans = {path: alignment_grading(rubrics, definition, (user_templates or {}).get(path))
                 for path in paths}
    if counts is None:  # counting validates every line before paying for calls
        counts = answer_counts(paths, question_field, table_columns, plans)
    calls = sum(counts[path] * len(plans[path].rubrics) for path in paths)
    summary = RejudgeSummary()
    partial = _partial_file(out)  # unique: two runs with the same --out never share one
    bar = tqdm(total=calls * len(config.models), desc="Judging", unit="call",
               disable=not progress, dynamic_ncols=True)
    try:
        with contextlib.ExitStack() as stack, _writing(out, partial) as sink:
            judges: dict[tuple, object] = {}  # one judge per set of rubrics
            for path in paths:
                plan = plans[path]
                if plan.key not in judges:
                    judges[plan.key] = stack.enter_context(opened_judge(config, plan.rubrics))
                    summary.rubrics += [r for r in plan.key if r not in summary.rubrics]
                tally = summary.rates.setdefault(plan.rate_name, RateTally(
                    plan.labeler.describe(), tuple(getattr(plan.labeler, "categories", ()))))
                items = read_samples(path, question_field, plan.user_template, table_columns,
                                     plan.reference_rubric)
                for batch in _batches(items, batch_answers):
                    try:
                        records = judge_questions(judges[plan.key], plan.labeler,
                                                  [b.question for b in batch],
                                                  progress=progress, bar=bar)
                    except JudgeFailure as failure:  # a dead judge, stopped early
                        raise JudgeFailure(f"{failure} {RESUME[0].upper()}{RESUME[1:]}.") from None
                    for item, record in zip(batch, records):
                        sink.write(json.dumps({"source": item.source, "task": item.task,
                                               "doc_id": item.doc_id, **record},
                                              allow_nan=False) + "\n")
                        if run is not None:
                            run.add(item.task, item.source, item.doc_id, item.doc,
                                    item.question.answers, record, plan)
                        question_counts, by_category = plan.counts(record)
                        tally.clusters.append((item.cluster, question_counts))
                        tally.by_category.update(by_category)
                    answers, errors = error_tally(records)
                    summary.answers += answers
                    summary.errors.update(errors)
                    # Stop paying for calls once the judge is clearly broken.
                    if summary.answers >= 200:
                        _check(summary, config)
            for judge in judges.values():
                summary.usage.merge(judge.usage)
        _check(summary, config)
        try:
            os.replace(partial, out)
        except OSError as exc:
            raise InputError(f"{out}: cannot write ({exc.strerror})") from None
        if run is not None:
            run.finish(usage=summary.usage.to_json(config.price_per_mtok))
    finally:
        bar.close()
        partial.unlink(missing_ok=True)
        if run is not None and run.stage is not None and run.stage.exists():
            run.abort()
    return summary
