"""Run the real ``lm_eval`` CLI with our tasks included.

``misalign-eval run ARGS`` is ``lm_eval ARGS --include_path <our tasks>``, plus two things
lm_eval cannot do: check the judge before the model is even loaded, and skip the ~10 s
index of lm-eval's built-in tasks when only our tasks are asked for.
"""

from __future__ import annotations

import json
import sys
from functools import cache

from misalign_eval.harness.question_file_run import imported_task_names, prepare_question_file_run
from misalign_eval.judging.preflight import preflight_once
from misalign_eval.harness.lm_eval_args import option_value, requested_tasks
from misalign_eval.resources import tasks_dir
from misalign_eval.harness.settings import TaskSettings


@cache
def _our_index() -> dict:
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(tasks_dir()), include_defaults=False).task_index


def our_task_names() -> frozenset[str]:
    return frozenset(_our_index())


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


def check_tasks_before_loading(tasks: list[str], argv: list[str]) -> None:
    """Task settings (with --metadata applied), rubrics and judge, before the model loads:
    a typo in --metadata must not cost the minutes it takes to load a large model."""
    try:
        overrides = json.loads(option_value(argv, "--metadata") or "{}")
    except json.JSONDecodeError:
        overrides = {}  # not JSON: lm-eval parses it (and reports problems) itself
    judges = set()
    for name, config in sorted(our_task_configs(tasks).items()):
        metadata = {**(config.get("metadata") or {}), **(overrides if isinstance(overrides, dict) else {})}
        settings = TaskSettings.from_metadata(name, metadata)
        settings.rubrics()
        judges.add(settings.judge_config())
    for judge in judges:
        preflight_once(judge)  # ProbeTask checks again in this process: then a cache hit


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
    check_tasks_before_loading(tasks, argv)
    only_ours = bool(tasks) and all(t in our_task_names() or t in imported_task_names(argv)
                                    for t in tasks)
    _include_our_tasks(builtin=not only_ours)
    from lm_eval.__main__ import cli_evaluate

    saved = sys.argv
    sys.argv = ["lm_eval", *argv]
    try:
        cli_evaluate()
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    finally:
        sys.argv = saved
    return 0
