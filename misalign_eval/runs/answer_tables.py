"""Answer tables written by other tools (the Model Organisms pipeline, notebooks): CSV or
JSONL rows with a question id, the question and the answer (``answer`` or ``response``),
optionally score columns. Read here for ``misalign-eval judge`` (grades the answers, ignoring
any scores) and ``misalign-eval import-scores`` (keeps the recorded scores, no judge calls).

Rows are grouped into lm-eval-like docs: one per (question id, question text), so a question
asked in several wordings is one probe with several paraphrases, and each question id is one
cluster of every interval. All tables of the same questions share the probe-set hash (over
the sorted ids and texts), whatever model answered, so their runs pair up in compare and
leaderboard.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from misalign_eval.errors import InputError

TABLE_TASK = "answer_table"  # the fixed task name: tables of one question set rank together
TABLE_PROBE_SET = "answer-table"
MAX_FIELD = 1 << 24  # csv's default field limit (128 KiB) is below a long answer


@dataclass(frozen=True)
class TableColumns:
    """Column names of a table; ``answer`` lists candidates, the first present is used."""

    question_id: str = "question_id"
    question: str = "question"
    answer: tuple[str, ...] = ("answer", "response")


@dataclass
class TableDoc:
    """The rows of one (question id, question text)."""

    probe_id: str
    question: str
    paraphrase_index: int
    rows: list[tuple[str, dict]] = field(default_factory=list)  # (file:line, row)

    def doc(self, probe_set_sha256: str) -> dict:
        return {"probe_id": self.probe_id, "category": "question", "question": self.question,
                "paraphrase_index": self.paraphrase_index, "probe_set": TABLE_PROBE_SET,
                "probe_set_sha256": probe_set_sha256}


def is_answer_table(path: Path) -> bool:
    """A ``.csv`` file, or a JSON-lines file whose first record has no lm-eval ``doc``."""
    if path.suffix.lower() == ".csv":
        return True
    if path.suffix.lower() not in (".jsonl", ".json"):
        return False
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            first = next((line for line in handle if line.strip()), "")
        record = json.loads(first)
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(record, dict) and "doc" not in record and "question_id" in record


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read answer table ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte offset {exc.start})") from None


def _csv_rows(path: Path, text: str) -> tuple[list[str], list[tuple[str, dict]]]:
    csv.field_size_limit(MAX_FIELD)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        rows = [(f"{path}:{reader.line_num}", row) for row in reader]
    except csv.Error as exc:
        raise InputError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    for where, row in rows:
        if None in row:
            raise InputError(f"{where}: more fields than the header has")
    return header, rows


def _jsonl_rows(path: Path, text: str) -> tuple[list[str], list[tuple[str, dict]]]:
    rows, header = [], {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InputError(f"{where}: not valid JSON ({getattr(exc, 'msg', 'nested too deeply')})") from None
        if not isinstance(row, dict):
            raise InputError(f"{where}: expected one JSON object per line")
        header.update(dict.fromkeys(row))
        rows.append((where, row))
    return list(header), rows


def read_table(path: Path, columns: TableColumns = TableColumns()
               ) -> tuple[list[TableDoc], str, list[str]]:
    """The table's docs in first-seen order, the answer column used, and the header."""
    text = _read_text(path)
    header, rows = (_csv_rows if path.suffix.lower() == ".csv" else _jsonl_rows)(path, text)
    if not rows:
        raise InputError(f"{path}: the answer table has no rows")
    missing = [c for c in (columns.question_id, columns.question) if c not in header]
    answer = next((c for c in columns.answer if c in header), None)
    if missing or answer is None:
        wanted = missing + ([] if answer else [" or ".join(columns.answer)])
        raise InputError(f"{path}: no column {', '.join(wanted)} (columns: {', '.join(header)}); "
                         "name them with --id-column, --question-column, --answer-column")
    docs: dict[tuple[str, str], TableDoc] = {}
    wordings: dict[str, int] = {}
    for where, row in rows:
        values = [row.get(c) for c in (columns.question_id, columns.question, answer)]
        for name, value in zip((columns.question_id, columns.question, answer), values):
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise InputError(f"{where}: column {name!r} must be text, not "
                                 f"{type(value).__name__}")
        qid, question = str(values[0]).strip(), str(values[1])
        if not qid:
            raise InputError(f"{where}: empty {columns.question_id!r}")
        if (qid, question) not in docs:
            docs[(qid, question)] = TableDoc(qid, question, wordings.get(qid, 0))
            wordings[qid] = wordings.get(qid, 0) + 1
        docs[(qid, question)].rows.append((where, row))
    return list(docs.values()), answer, header


def probe_set_sha256(docs: list[TableDoc]) -> str:
    """The same questions give the same hash, whichever model's answers the table holds."""
    content = json.dumps(sorted((d.probe_id, d.question) for d in docs))
    return hashlib.sha256(content.encode()).hexdigest()


def table_questions(path: Path, columns: TableColumns = TableColumns()):
    """For ``misalign-eval judge``: per doc (source, task, doc_id, doc, answers); score columns
    in the table are ignored (``import-scores`` is the path that reuses them)."""
    docs, answer, _ = read_table(path, columns)
    sha = probe_set_sha256(docs)
    for doc_id, table_doc in enumerate(docs):
        answers = [str(row[answer]) for _, row in table_doc.rows]
        yield str(path), TABLE_TASK, doc_id, table_doc.doc(sha), answers
