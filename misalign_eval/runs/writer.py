"""Write re-judged answers as an lm-eval run directory (results_*.json and samples_*.jsonl),
so `report`, `compare`, `leaderboard` and `gate` read a run graded by `misalign-eval judge`
exactly like one graded live: an alignment suite's metrics, or a category suite's (its rate
under the live run's name, e.g. lie_rate, its intervals and label shares) with the task's
metadata (judging, category_rubric, rate_category, rate_name) that the readers go by."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from misalign_eval.harness import metrics
from misalign_eval.harness.record_format import (
    CARRIER_METRIC, FILTER_NAME, IDENTITY_KEY, METRICS, doc_summary, identity_line,
)
from misalign_eval.judging.usage import USAGE_KEY
from misalign_eval.scoring import Definition


class RunWriter:
    """Stages the files next to ``root/label`` and moves them in only when all is written."""

    def __init__(self, root: Path, label: str, definition: Definition):
        self.root = root
        self.final = root / label
        self.stage: Path | None = None  # made on the first answer: a failed check leaves nothing
        self.stamp = time.strftime("%Y-%m-%dT%H-%M-%S.000000")
        self.definition = definition
        self._sinks: dict[str, object] = {}
        self._summaries: dict[str, list[dict]] = defaultdict(list)
        self._sources: dict[str, set[str]] = defaultdict(set)
        self._plans: dict[str, object] = {}  # task -> its grading (runs.grading_plan.FileGrading)

    def add(self, task: str, source: str, doc_id, doc: dict, answers: list[str], record: dict,
            plan=None) -> None:
        """``plan``: how the task was graded (a category suite's metrics and metadata, and
        whether its probes come in families); None: an alignment suite, no families."""
        if self.stage is None:
            self.root.mkdir(parents=True, exist_ok=True)
            self.stage = Path(tempfile.mkdtemp(prefix=".rejudge-", dir=self.root))
        if task not in self._sinks:
            self._sinks[task] = (self.stage / f"samples_{task}_{self.stamp}.jsonl").open("w", encoding="utf-8")
        line = {"doc_id": doc_id, "doc": doc, "resps": [answers], "filter": FILTER_NAME,
                CARRIER_METRIC: record}
        self._sinks[task].write(json.dumps(line, ensure_ascii=False) + "\n")
        if plan is not None:
            self._plans.setdefault(task, plan)
        families = bool(getattr(self._plans.get(task), "families", False))
        self._summaries[task].append(doc_summary(doc, record, families))
        self._sources[task].add(source)

    def finish(self, usage: dict | None = None) -> Path:
        """Move the run in; ``usage``: the judge command's calls and tokens (all its tasks)."""
        for sink in self._sinks.values():
            sink.close()
        results = {
            "results": {task: self._metrics(task, items) for task, items in self._summaries.items()},
            "configs": {task: {"task": task, "metadata": {
                **self._metadata(task), "rejudged_from": sorted(self._sources[task]),
                IDENTITY_KEY: _identity(self._summaries[task])}} for task in self._summaries},
            "groups": {}, "model_name": self.final.name,
            "config": {"model": "misalign-eval judge"},
        }
        if usage is not None:
            results[USAGE_KEY] = usage
        (self.stage / f"results_{self.stamp}.json").write_text(json.dumps(results, indent=2), "utf-8")
        self.final.mkdir(parents=True, exist_ok=True)
        for path in self.stage.iterdir():
            os.replace(path, self.final / path.name)
        self.stage.rmdir()
        return self.final

    def _category(self, task: str):
        plan = self._plans.get(task)
        return plan if getattr(plan, "is_category", False) else None

    def _metrics(self, task: str, items: list[dict]) -> dict:
        """The task's metrics as a live run names them: ``<metric>,judged``."""
        plan = self._category(task)
        named = plan.metric_functions if plan is not None else {m: m for m in METRICS}
        return {f"{name},{FILTER_NAME}": getattr(metrics, function)(items)
                for name, function in named.items()}

    def _metadata(self, task: str) -> dict:
        plan = self._category(task)
        if plan is not None:  # the readers find the rate's category and name here
            return dict(plan.metadata)
        d = self.definition
        return {"definition": d.name, "aligned_threshold": d.aligned_threshold,
                "coherent_threshold": d.coherent_threshold}

    def abort(self) -> None:
        for sink in self._sinks.values():
            sink.close()
        if self.stage is not None:
            shutil.rmtree(self.stage, ignore_errors=True)


def _identity(summaries: list[dict]) -> str:
    """Every distinct measurement identity among the docs (one, unless the inputs mixed)."""
    return " ; ".join(sorted({identity_line(s.get("probe_set"), s.get("probe_set_sha256"),
                                            s["judge"], s["rubrics"]) for s in summaries}))
