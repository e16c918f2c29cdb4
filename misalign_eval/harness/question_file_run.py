"""``misalign-eval run --questions FILE.yaml [--judges JUDGES.yaml] [--samples-per-paraphrase K]``.

Runs a question file without a separate import step: the file is imported (validated, then
written atomically) into a cache directory keyed by the files' hashes, and the task YAML's
absolute path is added to lm_eval's ``--tasks`` (a path, not ``--include_path``, so a user's
own ``--include_path`` still works). The judge the imported task will use (the file's judge
model unless MISALIGN_JUDGE_MODEL is set) is checked here, before lm-eval loads the model.

``runner.run_lm_eval`` calls ``prepare_question_file_run`` first and treats
``imported_task_names`` as its own tasks (so lm-eval's built-in task index is skipped).
"""

from __future__ import annotations

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
from misalign_eval.resources import tasks_dir

# Our options, consumed here; everything else goes to lm_eval unchanged.
OPTIONS = {"--questions": "questions", "--judges": "judges",
           "--samples-per-paraphrase": "samples_per_paraphrase"}


def split_options(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """(our options, the rest of argv). ``--opt VALUE`` and ``--opt=VALUE`` both work."""
    ours: dict[str, str] = {}
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        flag, eq, value = arg.partition("=")
        if flag not in OPTIONS:
            rest.append(arg)
            continue
        if not eq:
            value = next(args, None)
            if value is None or value.startswith("--"):
                raise InputError(f"{flag} needs a value")
        if OPTIONS[flag] in ours:
            raise InputError(f"{flag} given twice; run one question file at a time")
        ours[OPTIONS[flag]] = value
    return ours, rest


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
    """Changes whenever the written task would: inputs, K, name, template location, version."""
    parts = [imported.source_sha256, imported.judges_sha256, imported.samples_per_paraphrase,
             name, str(imported.source_file), str(imported.judges_file),
             str(tasks_dir() / TEMPLATE_FILE), __version__]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def import_for_run(questions: str, judges: str | None, samples: str | None) -> Path:
    """Import (or reuse an identical earlier import) and return the task YAML's path."""
    try:
        k = int(samples) if samples is not None else None
    except ValueError:
        raise InputError(f"--samples-per-paraphrase {samples!r} is not an integer") from None
    imported = load_question_file(questions, judges, k)
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
    if "questions" not in ours:
        if ours:
            raise InputError(f"{', '.join('--' + k.replace('_', '-') for k in ours)} "
                             "only make sense with --questions FILE.yaml")
    else:
        rest = with_task(rest, str(import_for_run(ours["questions"], ours.get("judges"),
                                                  ours.get("samples_per_paraphrase"))))
    if check_judge:
        check_imported_judges(rest)
    return rest
