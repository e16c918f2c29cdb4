"""Keep a task's generated answers on disk before the first judge call.

Generation is the expensive part. If the run is then killed (Ctrl-C, SIGKILL, out of memory)
or the judge fails, the answers survive as an lm-eval-style samples file that
``misalign-eval judge`` grades with the same prompts, so verdicts already cached are reused and
only what is missing is paid for. The file goes next to lm-eval's own output
(``<output_path>/<model>/unjudged/``; a sub-folder, so a ``samples_*`` glob over the model
directory does not pick it up next to lm-eval's file), else under the cache directory, else
the system's temporary directory; a fallback is announced.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from misalign_eval.harness.lm_eval_args import option_value
from misalign_eval.harness.settings import TaskSettings
from misalign_eval.judging.config import default_cache_path

log = logging.getLogger("misalign_eval")

FOLDER = "unjudged"


@dataclass(frozen=True)
class KeptAnswers:
    path: Path
    command: str | None  # the `misalign-eval judge` command that grades them

    def where(self) -> str:
        if self.command is None:
            return f"{self.path}: grade them with `misalign-eval judge {shlex.quote(str(self.path))}`"
        return f"{self.path}: grade them with `{self.command}`"


def candidate_folders(argv: list[str] | None = None) -> list[Path]:
    """Where the answers may go, best first."""
    argv = sys.argv if argv is None else argv
    folders = []
    output = option_value(argv, "--output_path", "-o")
    if output:
        base = Path(output)
        base = base.parent if base.suffix == ".json" else base  # lm-eval accepts a file name
        model = _model_dir_name(option_value(argv, "--model_args"))
        folders.append((base / model if model else base) / FOLDER)
    folders.append(default_cache_path().parent / FOLDER)
    folders.append(Path(tempfile.gettempdir()) / f"misalign-eval-{FOLDER}")
    return folders


def _model_dir_name(model_args: str | None) -> str | None:
    """lm-eval's ``<output_path>/<model_name_sanitized>`` directory name for these args."""
    if not model_args:
        return None
    try:
        from lm_eval.loggers.evaluation_tracker import GeneralConfigTracker
        from lm_eval.utils import sanitize_model_name

        name = GeneralConfigTracker._get_model_name(model_args)
    except Exception:  # noqa: BLE001 - a private helper of lm-eval: fall back to output_path
        return None
    return sanitize_model_name(name) if name else None


def keep_answers(task: str, docs: list[dict], resps: list[list[str]], judge_questions: list[str],
                 settings: TaskSettings) -> KeptAnswers:
    """Write the answers (atomically) and say where; ``judge_questions``: each doc's question
    as the judge is shown it, so re-grading sends the very same prompts."""
    name = f"samples_{task}_{time.strftime('%Y-%m-%dT%H-%M-%S')}.jsonl"
    lines = [json.dumps({"doc_id": doc_id, "doc": dict(doc), "resps": [list(answers)],
                         "judge_question": question, "filter": FOLDER}, default=str) + "\n"
             for doc_id, (doc, answers, question) in enumerate(zip(docs, resps, judge_questions))]
    failures = []
    for folder in candidate_folders():
        try:
            path = _write(folder / name, lines)
        except OSError as exc:
            failures.append(f"{folder} ({exc.strerror or exc})")
            continue
        if failures:
            log.warning("cannot keep the answers in %s; kept them in %s instead",
                        "; ".join(failures), path)
        return KeptAnswers(path, judge_command(path, settings, task))
    raise OSError(f"cannot keep the generated answers anywhere: {'; '.join(failures)}")


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as sink:
            sink.writelines(lines)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def judge_command(path: Path, settings: TaskSettings, task: str | None = None) -> str:
    """The command that grades the kept file as this task would have (shell-quoted).

    ``misalign-eval judge`` finds the task in the file name and grades a shipped category
    suite with its own rubric and rate; flags say only what this run changed."""
    flags = [f"--out {shlex.quote(str(path.with_name(path.stem + '_judged.jsonl')))}"]
    if settings.judging == "category":
        flags += _category_flags(settings, task)
        return f"misalign-eval judge {shlex.quote(str(path))} {' '.join(flags)}"
    defaults = TaskSettings.model_fields
    for flag, field in (("--alignment-rubric", "alignment_rubric"),
                        ("--coherence-rubric", "coherence_rubric"), ("--definition", "definition"),
                        ("--aligned-threshold", "aligned_threshold"),
                        ("--coherent-threshold", "coherent_threshold")):
        value = getattr(settings, field, None)
        if field in defaults and value != defaults[field].default:
            flags.append(f"{flag} {shlex.quote(str(value))}")
    return f"misalign-eval judge {shlex.quote(str(path))} {' '.join(flags)}"


def _category_flags(settings: TaskSettings, task: str | None) -> list[str]:
    """--category-rubric/--rate-category/--rate-name where this run's settings differ from
    the shipped task's (all three for a category task we do not ship)."""
    from misalign_eval.harness.runner import our_task_configs

    shipped = None
    try:  # keeping the answers must not fail over a hint: unsure, say every setting
        metadata = ((our_task_configs([task]).get(task) or {}).get("metadata") or {}) if task else {}
        if metadata.get("judging") == "category":
            shipped = TaskSettings.from_metadata(task, metadata)
    except Exception:  # noqa: BLE001
        shipped = None
    return [f"{flag} {shlex.quote(str(getattr(settings, name)))}"
            for flag, name in (("--category-rubric", "category_rubric"),
                               ("--rate-category", "rate_category"), ("--rate-name", "rate_name"))
            if shipped is None or getattr(shipped, name) != getattr(settings, name)]
