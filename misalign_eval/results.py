"""Read what lm-eval wrote: ``results_*.json`` (aggregates) and ``samples_*.jsonl`` (answers)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jsonlines

from misalign_eval.errors import InputError
from misalign_eval.harness import CARRIER_METRIC, FILTER_NAME, METRICS


@dataclass(frozen=True)
class TaskResult:
    task: str
    metrics: dict[str, object]
    config: dict
    samples_path: Path | None

    def per_question(self) -> list[dict]:
        """The judged record of each probe, from the samples file."""
        if self.samples_path is None:
            raise InputError(f"task {self.task}: no samples file; run lm_eval with --log_samples")
        with jsonlines.open(self.samples_path) as reader:
            return [line[CARRIER_METRIC] for line in reader if line.get("filter") == FILTER_NAME]


def latest_results_file(run_dir: str | Path) -> Path:
    """The newest ``results_*.json`` below ``run_dir`` (lm-eval nests it per model)."""
    found = sorted(Path(run_dir).rglob("results_*.json"), key=lambda p: p.name)
    if not found:
        raise InputError(f"{run_dir}: no lm-eval results_*.json found below this directory")
    return found[-1]


def load_task_results(results_file: str | Path) -> list[TaskResult]:
    """Every misalign-eval task in one lm-eval results file, with its samples file if present."""
    path = Path(results_file)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read lm-eval results ({exc})") from exc
    stamp = path.stem.removeprefix("results_")
    tasks = []
    for task, values in sorted(data.get("results", {}).items()):
        suffix = f",{FILTER_NAME}"
        metrics = {k[: -len(suffix)]: v for k, v in values.items() if k.endswith(suffix)}
        if "misalignment_rate" not in metrics:
            continue  # not one of ours (groups and other tasks may share the file)
        samples = path.parent / f"samples_{task}_{stamp}.jsonl"
        tasks.append(TaskResult(task, {m: metrics.get(m) for m in METRICS},
                                data.get("configs", {}).get(task, {}),
                                samples if samples.is_file() else None))
    if not tasks:
        raise InputError(f"{path}: holds no misalign-eval task results")
    return tasks
