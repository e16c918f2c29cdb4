"""``misalign-eval run --questions FILE [the options of import-questions but --name/--out]``.

Runs a question file without a separate import step: the file is imported (validated, then
written atomically) into a cache directory keyed by the files' hashes, and the task YAML's
absolute path is added to lm_eval's ``--tasks`` (a path, not ``--include_path``, so a user's
own ``--include_path`` still works). The judge the imported task will use (the file's judge
model unless MISALIGN_JUDGE_MODEL is set) is checked here, before lm-eval loads the model.

``runner.run_lm_eval`` calls ``prepare_question_file_run`` first and treats
``imported_task_names`` as its own tasks (so lm-eval's built-in task index is skipped).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from pathlib import Path

from misalign_eval import __version__
from misalign_eval.errors import InputError
from misalign_eval.probes.external.task_writer import (
    TEMPLATE_FILE, ImportedQuestions, describe, is_imported_task_yaml, load_question_file,
    shipped_task_names, task_paths, write_task,
)
from misalign_eval.harness.lm_eval_args import option_value, requested_tasks
from misalign_eval.probes.external.options import add_import_options, import_options
from misalign_eval.resources import tasks_dir

class _Options(argparse.ArgumentParser):
    """Our options of ``run``; a mistake in them is one line (InputError), not argparse's
    usage text and exit."""

    def error(self, message: str):
        raise InputError(f"run: {message}")


def _parser() -> argparse.ArgumentParser:
    parser = _Options(prog="misalign-eval run", add_help=False, allow_abbrev=False)
    parser.add_argument("--questions")
    add_import_options(parser)
    return parser


def split_options(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(our options, the rest of argv for lm_eval): ``--questions FILE`` and the options of
    ``import-questions`` (``--judges``, ``--samples-per-paraphrase``, ``--labels``, ...)."""
    if sum(arg == "--questions" or arg.startswith("--questions=") for arg in argv) > 1:
        raise InputError("--questions given twice; run one question file at a time")
    return _parser().parse_known_args(argv)


def _given(ours: argparse.Namespace) -> list[str]:
    """Our options that differ from their defaults (flag names)."""
    defaults = vars(_parser().parse_args([]))
    return [f"--{k.replace('_', '-')}" for k, v in vars(ours).items() if v != defaults[k]]


def with_task(argv: list[str], task: str) -> list[str]:
    """``argv`` asking lm_eval for ``task`` too: appended to ``--tasks``, or a new ``--tasks``."""
    argv = list(argv)
    for i, arg in enumerate(argv):
        if arg in ("--tasks", "-t") and i + 1 < len(argv):
            argv[i + 1] = f"{argv[i + 1]},{task}"
            return argv
        if arg.startswith(("--tasks=", "-t=")):
            argv[i] = f"{arg},{task}"
            return argv
    return [*argv, "--tasks", task]


def cache_root() -> Path:
    """Where run-time imports live (the judge cache's neighbour; honours XDG_CACHE_HOME)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "misalign-eval" / "imported-tasks"


def task_name_for(path: Path) -> str:
    """A task name from the file name; prefixed when it would shadow a shipped task."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("._-") or "questions"
    return f"imported_{name}"[:100] if name in shipped_task_names() else name[:100]


def cache_key(imported: ImportedQuestions, name: str) -> str:
    """Changes whenever the written task would: inputs, K, name, rubrics (grader and metric
    kinds included), options, template location, version."""
    parts = [imported.source_sha256, imported.judges_sha256, imported.samples_per_paraphrase,
             name, str(imported.source_file), str(imported.judges_file),
             [r.identity for r in imported.rubrics], _options_key(imported.options),
             str(tasks_dir() / TEMPLATE_FILE), __version__]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def _options_key(options) -> list:
    """The import options in a canonical form (a frozenset's repr order varies per process)."""
    return [sorted((m, list(labels)) for m, labels in options.labels.items()),
            sorted(options.score_metrics), str(options.grader), options.category,
            options.high_score_threshold, options.verdict_threshold]


def import_for_run(ours: argparse.Namespace) -> Path:
    """Import (or reuse an identical earlier import) and return the task YAML's path."""
    imported = load_question_file(ours.questions, ours.judges, ours.samples_per_paraphrase,
                                  import_options(ours))
    name = task_name_for(imported.source_file)
    directory = cache_root() / f"{name}-{cache_key(imported, name)}"
    paths = task_paths(name, directory)
    if not paths.task_yaml.is_file():  # published last: present means complete
        paths = write_task(imported, name, directory)
    print("\n".join(describe(imported, paths)), file=sys.stderr, flush=True)
    return paths.task_yaml


def imported_task_names(argv: list[str]) -> frozenset[str]:
    """The requested tasks that are imported question files: a task YAML this importer wrote,
    or a task name whose ``--include_path`` directory holds its import manifest."""
    include = option_value(argv, "--include_path")
    found = set()
    for task in requested_tasks(argv):
        if is_imported_task_yaml(task):
            found.add(task)
        elif include and re.fullmatch(r"[A-Za-z0-9_.-]+", task) \
                and (Path(include) / f"{task}.import.json").is_file():
            found.add(task)
    return frozenset(found)


def _manifest(task: str, argv: list[str]) -> dict:
    path = Path(task).with_suffix(".import.json") if task.endswith(".yaml") else \
        Path(option_value(argv, "--include_path") or ".") / f"{task}.import.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read the import manifest ({exc})") from None


def check_imported_judges(argv: list[str]) -> None:
    """Preflight the judge of each imported task before lm-eval loads the model: the file's
    judge model, unless MISALIGN_JUDGE_MODEL (or the judge config file) names another."""
    from misalign_eval.judging.config import JudgeConfig
    from misalign_eval.judging.preflight import preflight

    models = {_manifest(task, argv).get("judge_model") for task in imported_task_names(argv)}
    for model in sorted(models, key=str):
        preflight(JudgeConfig.from_env(defaults={"model": model} if model else None))


def prepare_question_file_run(argv: list[str], check_judge: bool = True) -> list[str]:
    """lm_eval's argv for ``misalign-eval run``: ``--questions``/``--judges``/
    ``--samples-per-paraphrase`` consumed, the imported task added to ``--tasks``, and the
    judge of every imported task checked. argv without ``--questions`` passes unchanged
    (apart from the judge check of imported tasks it names)."""
    ours, rest = split_options(list(argv))
    if ours.questions is None:
        if _given(ours):
            raise InputError(f"{', '.join(_given(ours))} only make sense with --questions FILE")
    else:
        rest = with_task(rest, str(import_for_run(ours)))
    if check_judge:
        check_imported_judges(rest)
    return rest
