"""Recorded scores as a run: an answer table whose rows already carry the original judge's
``aligned``/``coherent`` (and other 0-100) scores becomes an lm-eval run directory that
report, compare, leaderboard and gate read like a live one. No judge is called.

Each row is labelled exactly as a live answer would be (``scoring.label_answer`` under the
chosen definition); a blank (or NaN) score means the original judge gave none, and the
answer is unscored with reason ``no_recorded_score``. Everything is read and checked before
anything is written; the run directory appears in one move (``RunWriter``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from misalign_eval.errors import InputError
from misalign_eval.judging.client import RubricOutcome
from misalign_eval.judging.metric_labeler import MetricsLabeler
from misalign_eval.runs.answer_tables import TABLE_TASK, TableColumns, probe_set_sha256, read_table
from misalign_eval.runs.writer import RunWriter
from misalign_eval.scoring import Definition, QuestionCounts

NO_RECORDED_SCORE = "no_recorded_score"
DEFAULT_JUDGE_NAME = "imported"


@dataclass(frozen=True)
class ScoreColumns:
    aligned: str = "aligned"
    coherent: str = "coherent"
    metrics: tuple[str, ...] = ()  # other 0-100 columns, reported as mean and high share


@dataclass(frozen=True)
class ImportedRun:
    path: Path
    directory: Path
    task: str
    tallies: list[QuestionCounts]


def recorded_score(where: str, column: str, value) -> RubricOutcome:
    """A table cell as the outcome of the original judge's call."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "nan", "none", "null")):
        return RubricOutcome(reason=NO_RECORDED_SCORE)
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: column {column!r} holds {str(value)[:40]!r}, not a score "
                         "0-100 (leave it blank when the judge gave none)") from None
    if isinstance(value, bool) or math.isnan(score):
        return RubricOutcome(reason=NO_RECORDED_SCORE)
    if not 0 <= score <= 100:
        raise InputError(f"{where}: column {column!r} holds {score:g}, outside 0-100")
    return RubricOutcome(score=score)


def table_records(path: Path, columns: TableColumns, scores: ScoreColumns,
                  definition: Definition, judge_name: str):
    """(doc, answers, record) per doc of the table, every cell checked."""
    docs, answer, header = read_table(path, columns)
    wanted = [scores.aligned, scores.coherent, *scores.metrics]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise InputError(f"{path}: no score column {', '.join(missing)} (columns: "
                         f"{', '.join(header)}); name them with --aligned-column, "
                         "--coherent-column, --metric-column")
    names = {"alignment": scores.aligned, "coherence": scores.coherent,
             **{m: m for m in scores.metrics}}
    labeler = MetricsLabeler(definition, "alignment", "coherence", scores=scores.metrics)
    rubrics = [f"{column}@recorded" for column in names.values()]
    sha = probe_set_sha256(docs)
    found = []
    for table_doc in docs:
        judgements = []
        for sample, (where, row) in enumerate(table_doc.rows):
            outcomes = {name: recorded_score(where, column, row.get(column))
                        for name, column in names.items()}
            judgements.append({"sample": sample, **labeler.label(outcomes)})
        record = {"probe_id": table_doc.probe_id, "category": "question",
                  "paraphrase_index": table_doc.paraphrase_index, "judge": judge_name,
                  "rubrics": rubrics, "definition": labeler.describe(),
                  "judgements": judgements, "counts": labeler.counts(table_doc.probe_id, judgements)}
        found.append((table_doc.doc(sha), [str(row[answer]) for _, row in table_doc.rows], record))
    return found


def import_scores(path: Path, run_dir: Path, label: str, definition: Definition,
                  task: str = TABLE_TASK, judge_name: str = DEFAULT_JUDGE_NAME,
                  columns: TableColumns = TableColumns(),
                  scores: ScoreColumns = ScoreColumns()) -> ImportedRun:
    """Write ``run_dir/label/`` from the table at ``path``; nothing if any cell is bad."""
    records = table_records(path, columns, scores, definition, judge_name)
    writer = RunWriter(run_dir, label, definition)
    try:
        for doc_id, (doc, answers, record) in enumerate(records):
            writer.add(task, str(path), doc_id, doc, answers, record)
        directory = writer.finish()
    except OSError as exc:
        writer.abort()
        raise InputError(f"{run_dir / label}: cannot write the run ({exc.strerror})") from None
    except BaseException:
        writer.abort()
        raise
    tallies = QuestionCounts.merged(
        (record["probe_id"], QuestionCounts.from_judgements(record["probe_id"], record["judgements"]))
        for _, _, record in records)
    return ImportedRun(path, directory, task, tallies)
