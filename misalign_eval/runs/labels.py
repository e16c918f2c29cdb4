"""Human labels of a run's answers: drawing the sample to label, and reading it back.

``label-sample`` writes a CSV of answers with empty ``misaligned`` and ``coherent`` columns,
drawn stratified by question and band (``flagged``: the judge calls the answer misaligned or
another judge disagrees; ``near``: a score within ``NEAR`` points of a threshold; ``other``),
flagged and near answers oversampled; each row records its stratum and its inclusion
probability, so estimates from the labels stay unbiased. The judge's verdict is not in the
file: people label without seeing it. The labelled file is untrusted input: every problem
is one line naming the file, the line and what is wrong.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from misalign_eval.errors import InputError
from misalign_eval.runs.judged_answers import JudgedAnswer
from misalign_eval.stats.misclassification import allocate

NEAR = 10.0  # points from a threshold that make an answer hard to judge
COLUMNS = ("id", "task", "probe_id", "question", "answer", "misaligned", "coherent",
           "stratum", "band", "inclusion_probability")
REQUIRED = ("id", "misaligned", "coherent", "stratum", "inclusion_probability")
YES, NO = {"1", "yes", "y", "true", "t"}, {"0", "no", "n", "false", "f"}
MAX_BYTES = 200 * 1024 * 1024


def answer_id(answer: JudgedAnswer) -> str:
    """A short stable id of an answer: the same in every grading of the same answers."""
    text = "\x1f".join(map(str, answer.key))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def band(answer: JudgedAnswer, aligned_threshold: float, coherent_threshold: float,
         disputed: bool = False) -> str:
    if answer.misaligned or disputed:
        return "flagged"
    near = any(score is not None and abs(score - threshold) <= NEAR
               for score, threshold in ((answer.alignment, aligned_threshold),
                                        (answer.coherence, coherent_threshold)))
    return "near" if near else "other"


def draw_sample(answers: list[JudgedAnswer], bands: list[str], n: int, oversample: float,
                seed: int = 0) -> list[dict]:
    """Rows to label: a stratified sample without replacement (strata: question x band)."""
    strata = [f"{a.task}|{a.probe_id}|{b}" for a, b in zip(answers, bands)]
    names = list(dict.fromkeys(strata))
    index = np.array([names.index(s) for s in strata])
    sizes = np.bincount(index, minlength=len(names))
    factors = [1.0 if name.endswith("|other") else oversample for name in names]
    take = allocate(sizes, factors, n)
    rng = np.random.default_rng(seed)
    rows = []
    for h, name in enumerate(names):
        members = np.flatnonzero(index == h)
        for i in sorted(rng.choice(members, take[h], replace=False)) if take[h] else []:
            a = answers[i]
            rows.append({"id": answer_id(a), "task": a.task, "probe_id": a.probe_id,
                         "question": a.question, "answer": a.answer, "misaligned": "",
                         "coherent": "", "stratum": name, "band": bands[i],
                         "inclusion_probability": f"{take[h] / sizes[h]:.10g}"})
    return rows


def sample_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


@dataclass(frozen=True)
class Label:
    id: str
    misaligned: bool
    coherent: bool
    stratum: str
    inclusion_probability: float  # adjusted for rows of its stratum left unlabelled
    line: int

    @property
    def human_misaligned(self) -> bool:
        """Misaligned under the run's definitions: misaligned and coherent."""
        return self.misaligned and self.coherent


def _flag(value: str, column: str, where: str) -> bool | None:
    text = value.strip().lower()
    if text == "":
        return None
    if text in YES:
        return True
    if text in NO:
        return False
    raise InputError(f"{where}: {column} is {value.strip()[:30]!r}; write yes or no (or 1/0, "
                     "true/false), or leave both label columns empty to skip the answer")


def read_labels(path: Path, known_ids: set[str]) -> tuple[list[Label], int]:
    """(labels, rows left unlabelled) from a labelled CSV; every problem is one line."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise InputError(f"{path}: larger than {MAX_BYTES >> 20} MiB; not a labels file")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read labels file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        line = text_line(path.read_bytes(), exc.start)
        raise InputError(f"{path}:{line}: not UTF-8 text (save the file as UTF-8 CSV)") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise InputError(f"{path}:1: not a CSV file ({exc})") from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(f"{path}:1: the header lacks column(s) {', '.join(missing)}; a labels "
                         "file is the CSV written by `misalign-eval label-sample` with the "
                         "misaligned and coherent columns filled in")
    rows, seen = [], {}
    try:
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row or any(v is None for v in row.values()):
                raise InputError(f"{where}: has {'more' if None in row else 'fewer'} fields "
                                 "than the header (a comma or quote inside a cell?)")
            answer = row["id"].strip()
            if answer not in known_ids:
                raise InputError(f"{where}: id {answer[:40]!r} is not an eligible answer of this "
                                 "run (a labels file drawn from another run?)")
            if answer in seen:
                raise InputError(f"{where}: id {answer} appears again (first at line {seen[answer]})")
            seen[answer] = reader.line_num
            misaligned = _flag(row["misaligned"], "misaligned", where)
            coherent = _flag(row["coherent"], "coherent", where)
            probability = _probability(row["inclusion_probability"], where)
            if (misaligned is None) != (coherent is None):
                raise InputError(f"{where}: label both misaligned and coherent, or neither "
                                 "(an empty pair skips the answer)")
            rows.append((answer, misaligned, coherent, row["stratum"], probability,
                         reader.line_num))
    except csv.Error as exc:
        raise InputError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    return _adjusted(path, rows)


def _probability(value: str, where: str) -> float:
    try:
        p = float(value)
    except ValueError:
        raise InputError(f"{where}: inclusion_probability {value.strip()[:30]!r} is not a "
                         "number (keep the column as label-sample wrote it)") from None
    if not 0 < p <= 1:
        raise InputError(f"{where}: inclusion_probability {value.strip()} is not in (0, 1]")
    return p


def _adjusted(path: Path, rows: list[tuple]) -> tuple[list[Label], int]:
    """Labels with each stratum's inclusion probability scaled by the share of its rows that
    were labelled (rows left empty are missing at random within their stratum)."""
    drawn: dict[str, list] = {}
    for row in rows:
        drawn.setdefault(row[3], []).append(row)
    labels, skipped = [], 0
    for stratum, members in drawn.items():
        probabilities = {round(m[4], 9) for m in members}
        if len(probabilities) > 1:
            raise InputError(f"{path}:{members[0][5]}: stratum {stratum[:60]!r} has different "
                             "inclusion probabilities on different lines; keep the columns "
                             "as label-sample wrote them")
        done = [m for m in members if m[1] is not None]
        skipped += len(members) - len(done)
        for answer, misaligned, coherent, _, p, line in done:
            labels.append(Label(answer, misaligned, coherent, stratum,
                                p * len(done) / len(members), line))
    if not labels:
        raise InputError(f"{path}: no answer is labelled yet (fill in the misaligned and "
                         "coherent columns with yes or no)")
    return labels, skipped


def text_line(data: bytes, offset: int) -> int:
    return data[:offset].count(b"\n") + 1
