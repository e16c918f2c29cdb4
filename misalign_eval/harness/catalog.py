"""The tasks and groups misalign-eval ships, described for people.

Behind ``misalign-eval tasks``, ``run --tasks list``, ``run --help`` and the "did you mean"
of a misspelt task name. Read straight from ``tasks/*.yaml`` (the description is the first
sentence of a file's leading comment) and the probe files, without importing lm-eval, so
listing is instant.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from misalign_eval.probes.probe_set import load_probe_file, load_probe_set
from misalign_eval.resources import tasks_dir


class _TaskYamlLoader(yaml.SafeLoader):
    """Safe YAML that keeps lm-eval's ``!function`` tags as plain text."""


_TaskYamlLoader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node))


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    kind: str  # "task" or "group"
    description: str
    probes: int  # probes (a probe's paraphrases count once); a group's sum over its tasks
    samples: int | None  # answers per probe (repeats); None for a group
    members: tuple[str, ...] = ()


def _read(path: Path) -> dict:
    config = yaml.load(path.read_text(encoding="utf-8"), Loader=_TaskYamlLoader) or {}
    if isinstance(config.get("include"), str):  # one level, as our YAMLs use it
        config = {**_read(path.parent / config["include"]), **config}
    return config


def _description(path: Path, name: str) -> str:
    comment = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        comment.append(line.lstrip("#").strip())
    text = re.sub(rf"^{re.escape(name)}:\s*", "", " ".join(comment))
    return re.split(r"(?<=[.;])\s", text, maxsplit=1)[0].rstrip(".;").replace("`", "")


def _probe_count(metadata: dict) -> int:
    if metadata.get("probe_set"):
        probes = load_probe_set(metadata["probe_set"])
    else:
        probes = load_probe_file(metadata["probe_file"])
    return len(probes.probes)


@cache
def catalog() -> tuple[CatalogEntry, ...]:
    """Every shipped task and group, groups first, each sorted by name."""
    configs = {p: _read(p) for p in sorted(tasks_dir().glob("*.yaml")) if not p.stem.startswith("_")}
    tasks, groups = {}, []
    for path, config in configs.items():
        if "group" not in config:
            name = config["task"]
            tasks[name] = CatalogEntry(name, "task", _description(path, name),
                                       _probe_count(config.get("metadata") or {}),
                                       config.get("repeats"))
    for path, config in configs.items():
        if "group" in config:
            members = tuple(t for t in config.get("task", []) if isinstance(t, str))
            groups.append(CatalogEntry(config["group"], "group", _description(path, config["group"]),
                                       sum(tasks[m].probes for m in members if m in tasks),
                                       None, members))
    return (*sorted(groups, key=lambda e: e.name), *sorted(tasks.values(), key=lambda e: e.name))


def catalog_names() -> frozenset[str]:
    return frozenset(entry.name for entry in catalog())


def catalog_text() -> str:
    """One line per group and task: name, probe count, samples, description."""
    width = max(len(e.name) for e in catalog())
    lines = []
    for e in catalog():
        if e.kind == "group":
            size = f"group of {len(e.members)} tasks, {e.probes} probes"
            detail = f"{e.description} ({', '.join(e.members)})"
        else:
            size = f"{e.probes} probes x {e.samples} samples" if e.samples else f"{e.probes} probes"
            detail = e.description
        lines.append(f"  {e.name:<{width}}  {size:<30}  {detail}")
    return "\n".join(lines)


def closest_task(name: str) -> str | None:
    """The shipped task or group a misspelt name most likely meant, if any is close."""
    close = difflib.get_close_matches(name, sorted(catalog_names()), n=1, cutoff=0.6)
    return close[0] if close else None
