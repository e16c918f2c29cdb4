"""Where a curve point's x comes from: a pattern over its name, a recorded key, or the user.

A run's x: a regular expression searched in its directory path (``step-(\\d+)``), or a key of
what lm-eval recorded for the run (the task's metadata, into which lm-eval merges --metadata and
the model_args, then the results file's ``config.model_args`` and ``config``). A pattern and a
key together apply the pattern to the key's value (``steer_path=.../coef_4.pt``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from misalign_eval.errors import InputError
from misalign_eval.runs.reader import ModelRun


@dataclass(frozen=True)
class XRule:
    """How to find x: ``pattern`` (regex, first group or whole match), ``key`` (recorded key)."""

    name: str
    pattern: str | None = None
    key: str | None = None

    def compiled(self):
        if self.pattern is None:
            return None
        try:
            return re.compile(self.pattern)
        except re.error as exc:
            raise InputError(f"--x-pattern {self.pattern!r} is not a regular expression ({exc})") from None


def number(text, where: str) -> float:
    """x as a float; one clear line naming the point when it is not a number."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise InputError(f"{where}: x value {str(text)!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InputError(f"{where}: x value {text!r} is not a finite number")
    return value


def search(pattern, text: str):
    """The pattern's first group (or the whole match) in ``text``; None when it does not match."""
    match = pattern.search(text)
    if match is None:
        return None
    return match.group(1) if match.groups() else match.group(0)


def recorded_value(run: ModelRun, key: str):
    """``key`` as lm-eval recorded it for ``run``: task metadata first, then model_args, config.

    None when no task of the run records it. Reads the results files (small JSON)."""
    for task in sorted(run.tasks.values(), key=lambda t: t.task):
        metadata = task.config.get("metadata") or {}
        if key in metadata:
            return metadata[key]
    for task in run.tasks.values():
        config = _results_config(task.results_path)
        args = config.get("model_args")
        if isinstance(args, str):  # "pretrained=x,steer_path=y" as given on the command line
            args = dict(part.split("=", 1) for part in args.split(",") if "=" in part)
        if isinstance(args, dict) and key in args:
            return args[key]
        if key in config:
            return config[key]
    return None


def _results_config(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        config = json.loads(Path(path).read_text("utf-8")).get("config") or {}
    except (OSError, ValueError, AttributeError):
        return {}
    return config if isinstance(config, dict) else {}


def run_x(run: ModelRun, rule: XRule, where: str) -> float:
    """x of one run under ``rule`` (pattern over the path, or the recorded key)."""
    pattern = rule.compiled()
    if rule.key is None and pattern is not None:
        found = search(pattern, str(run.directory))
        if found is None:
            raise InputError(f"{where}: --x-pattern {rule.pattern!r} does not match its "
                             f"directory {run.directory}")
        return number(found, where)
    key = rule.key or rule.name
    value = recorded_value(run, key)
    if value is None:
        raise InputError(f"{where}: no recorded {key!r} in its task metadata or model_args; "
                         f"give --x-pattern REGEX (over the directory name) or --point DIR=VALUE")
    if pattern is not None:
        found = search(pattern, str(value))
        if found is None:
            raise InputError(f"{where}: --x-pattern {rule.pattern!r} does not match its "
                             f"recorded {key}={value!r}")
        value = found
    return number(value, where)


def group_x(name: str, runs: list[ModelRun], rule: XRule) -> float:
    """x of a seed group: the pattern over its name, the name itself if a number, else the
    runs' own x (every seed must agree)."""
    pattern = rule.compiled()
    if pattern is not None and rule.key is None:
        found = search(pattern, name)
        if found is not None:
            return number(found, f"group {name}")
    try:
        return number(name, f"group {name}")
    except InputError:
        pass
    values = {run_x(r, rule, f"group {name}: {r.directory}") for r in runs}
    if len(values) > 1:
        raise InputError(f"group {name}: its runs have different x values "
                         f"({', '.join(f'{v:g}' for v in sorted(values))}); a group is one point")
    return values.pop()
