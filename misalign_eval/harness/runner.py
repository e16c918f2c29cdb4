"""Run the real ``lm_eval`` CLI with our tasks included.

``misalign-eval run ARGS`` is ``lm_eval ARGS --include_path <our tasks>``, plus two things
lm_eval cannot do: check the judge before the model is even loaded, and skip the ~10 s
index of lm-eval's built-in tasks when only our tasks are asked for.
"""

from __future__ import annotations

import inspect
import sys
from contextlib import contextmanager
from functools import cache

from misalign_eval.errors import InputError, warn
from misalign_eval.harness.catalog import catalog_names, catalog_text, closest_task
from misalign_eval.harness.question_file_run import imported_task_names, prepare_question_file_run
from misalign_eval.judging.preflight import preflight_once
from misalign_eval.harness.lm_eval_args import (
    has_flag, metadata_overrides, missing_chat_template, option_value, requested_tasks)
from misalign_eval.harness.subject_key import withhold_key_from_subject
from misalign_eval.resources import tasks_dir
from misalign_eval.harness.settings import TaskSettings



# What lm-eval's own `--tasks list` spellings ask for; `lm_eval ls tasks` lists its tasks.
LIST_WORDS = frozenset({"list", "list_groups", "list_tags", "list_subtasks"})


@cache
def _our_index() -> dict:
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(tasks_dir()), include_defaults=False).task_index


def our_task_configs(names: list[str]) -> dict[str, dict]:
    """The YAML config of each of our tasks named, groups expanded to their tasks."""
    from lm_eval.tasks._yaml_loader import load_yaml

    configs, index = {}, _our_index()
    pending = [n for n in names if n in index]
    while pending:
        entry = index[pending.pop()]
        if entry.yaml_path is None:
            continue
        config = load_yaml(entry.yaml_path, resolve_func=False)
        if "group" in config:
            pending += [t for t in config.get("task", []) if isinstance(t, str) and t in index]
        else:
            configs[entry.name] = config
    return configs


def is_ours(task: str, argv: list[str]) -> bool:
    """A shipped task or group, or a question file imported for this run."""
    return task in catalog_names() or task in imported_task_names(argv)


def known_metadata_keys() -> frozenset[str]:
    """Keys the probe-dataset hook reads besides TaskSettings' own."""
    from misalign_eval.harness.dataset import load_probe_dataset

    return frozenset(name for name, p in inspect.signature(load_probe_dataset).parameters.items()
                     if p.kind is not p.VAR_KEYWORD)


@cache
def _check_command_line(argv: tuple[str, ...]) -> dict:
    overrides = metadata_overrides(list(argv))
    missing = missing_chat_template(list(argv))
    if missing:
        raise InputError(missing)
    if all(is_ours(t, list(argv)) for t in requested_tasks(list(argv))):
        TaskSettings.check_keys(overrides, also_known=known_metadata_keys())
    else:  # other tasks may read keys we do not know (e.g. RULER's max_seq_lengths)
        try:
            TaskSettings.check_keys(overrides, also_known=known_metadata_keys())
        except InputError as exc:
            warn(f"{exc}; kept, because tasks other than misalign-eval's may read it")
    return overrides


def check_command_line(argv: list[str]) -> dict:
    """Mistakes in an lm_eval command line that would otherwise surface late or never: a
    chat API model without --apply_chat_template, malformed --metadata, unknown --metadata
    keys. Returns the --metadata settings. Checked once per command line (``run`` checks
    first, then each ProbeTask lm-eval builds sees the same sys.argv)."""
    return _check_command_line(tuple(argv))


def _under_lm_eval_cli() -> bool:
    """Under plain ``lm_eval`` (or ``run``, which sets argv so), sys.argv is lm-eval's
    command line; elsewhere (lm-eval's Python API, tests) there is none."""
    return "lm_eval" in sys.argv[0] or "lm-eval" in sys.argv[0]


@contextmanager
def one_line_errors():
    """A mistake found while a ProbeTask is built (bad metadata values, unknown rubrics, an
    unusable judge) ends an ``lm_eval`` command with one line and exit status 2, as
    ``misalign-eval`` does, not a traceback from inside lm-eval. Elsewhere it is raised."""
    try:
        yield
    except InputError as exc:
        if not _under_lm_eval_cli():
            raise
        print(f"misalign-eval: error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def check_lm_eval_process() -> dict:
    """``check_command_line`` for a ProbeTask being built under the lm_eval CLI."""
    if not _under_lm_eval_cli():
        return {}
    with one_line_errors():
        return check_command_line(sys.argv[1:])


def check_task_names(tasks: list[str], argv: list[str]) -> None:
    """A name close to one of ours is a typo: say so now, not after lm-eval's ~10 s index.
    Names that are not close may be lm-eval's own tasks; lm-eval decides (see run_lm_eval)."""
    if option_value(argv, "--include_path"):
        return  # the user's own tasks may be named like ours
    for task in tasks:
        if is_ours(task, argv) or "/" in task or "*" in task or task.endswith((".yaml", ".yml")):
            continue
        close = closest_task(task)
        if close:
            raise InputError(f"unknown task {task!r}; did you mean {close}? misalign-eval's "
                             f"tasks: {', '.join(sorted(catalog_names()))} "
                             "(`misalign-eval tasks` describes them)")


def start_warnings(tasks: list[str], argv: list[str]) -> None:
    """What will bite later: no --log_samples (the decision commands need the answers)."""
    if any(is_ours(t, argv) for t in tasks) and not has_flag(argv, "--log_samples", "-s",
                                                            "--predict_only", "-x"):
        warn("--log_samples is not set: lm-eval will keep only the aggregate rates, and "
             "report, compare, leaderboard and gate need every judged answer; add "
             "--log_samples (with --output_path) to use them on this run")


def check_tasks_before_loading(tasks: list[str], argv: list[str]) -> None:
    """Task settings (with --metadata applied), rubrics and judge, before the model loads:
    a typo in --metadata must not cost the minutes it takes to load a large model."""
    overrides = check_command_line(argv)
    judges = set()
    for name, config in sorted(our_task_configs(tasks).items()):
        metadata = {**(config.get("metadata") or {}), **overrides}
        settings = TaskSettings.from_metadata(name, metadata)
        settings.rubrics()
        warn_single_sample(name, settings.samples_per_question or config.get("repeats"))
        judges.add(settings.judge_config())
    for judge in judges:
        preflight_once(judge)  # ProbeTask checks again in this process: then a cache hit


@cache
def warn_single_sample(task: str, samples: int | None) -> None:
    """K = 1 runs, but the within-question spread of answers cannot be estimated from it."""
    if samples == 1:
        warn(f"{task}: samples_per_question is 1: with one answer per question the spread of "
             "answers within a question cannot be estimated, so the rate's interval treats all "
             "answers as one pooled sample (plain Wilson, no credit for stratifying by "
             "question) and each question's own rate is a single answer (0% or 100%); use 2 "
             "or more (the papers use 50-100)")


def _include_our_tasks(builtin: bool) -> None:
    """Make lm-eval's TaskManager index our tasks next to any --include_path, and skip its
    built-in tasks unless asked for (lm-eval looks the class up at call time)."""
    import lm_eval.tasks

    base = lm_eval.tasks.TaskManager
    ours = str(tasks_dir())

    class WithOurTasks(base):
        def __init__(self, *args, include_path=None, include_defaults: bool = builtin, **kwargs):
            paths = [] if include_path is None else (
                list(include_path) if isinstance(include_path, (list, tuple)) else [include_path])
            super().__init__(*args, include_path=[*paths, ours], include_defaults=include_defaults,
                             **kwargs)

    lm_eval.tasks.TaskManager = WithOurTasks


def run_lm_eval(argv: list[str]) -> int:
    """Run lm_eval in this process; returns its exit status."""
    argv = prepare_question_file_run(list(argv))
    tasks = requested_tasks(argv)
    if tasks and set(tasks) <= LIST_WORDS:
        print("misalign-eval's tasks and groups (lm-eval's own: `lm_eval ls tasks`):")
        print(catalog_text())
        return 0
    check_task_names(tasks, argv)
    check_tasks_before_loading(tasks, argv)
    start_warnings(tasks, argv)
    only_ours = bool(tasks) and all(is_ours(t, argv) for t in tasks)
    _include_our_tasks(builtin=not only_ours)
    from lm_eval.__main__ import cli_evaluate

    withhold_key_from_subject(argv)
    saved = sys.argv
    sys.argv = ["lm_eval", *argv]
    try:
        cli_evaluate()
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except ValueError as exc:
        if str(exc).startswith("Tasks not found"):  # lm-eval 0.4.13, config/evaluate_config.py
            raise InputError(f"{exc} (neither misalign-eval's nor lm-eval's); misalign-eval's "
                             f"tasks: {', '.join(sorted(catalog_names()))} (`misalign-eval "
                             "tasks` describes them; lm-eval's own: `lm_eval ls tasks`)") from None
        raise
    finally:
        sys.argv = saved
    return 0
