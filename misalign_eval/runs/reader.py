"""Read what lm-eval wrote: ``results_*.json`` (aggregates) and ``samples_*.jsonl`` (answers).

lm-eval nests its files per model (``<output_path>/<model>/results_<ts>.json``); a run
directory may hold several models, and one model directory several invocations. Per model
directory and task the newest results file wins, so a re-run supersedes the old one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import jsonlines

from misalign_eval.errors import InputError
from misalign_eval.harness.record_format import CARRIER_METRIC, FILTER_NAME, METRICS
from misalign_eval.scoring import SCORED, QuestionCounts


@dataclass(frozen=True)
class QuestionRecord:
    """One probe's judged answers in one task, with what identifies the measurement."""

    task: str
    probe_id: str
    category: str
    probe_set: str | None
    probe_set_sha256: str | None
    judge: str
    rubrics: tuple[str, ...]
    definition: str
    counts: QuestionCounts
    # Category suites (em_deception, em_identity): answers per category; their rate (the
    # lie rate, claims_human) is counts.n_misaligned / counts.n_eligible.
    by_category: dict[str, int] = field(default_factory=dict)
    # Imported files' other judge metrics: statistic -> (successes, trials) of this question
    # (label shares, lie rate, share of high scores; a mean 0-100 score as score/100 sums).
    stats: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def judge_model(self) -> str:
        """The judge without its host ("model@host mode=m" -> "model mode=m"): the same model
        served elsewhere is the same judge, but another scoring mode is not."""
        model, at, rest = self.judge.rpartition("@")
        if not at:
            return self.judge
        _host, _, details = rest.partition(" ")
        return f"{model} {details}".strip()


@dataclass(frozen=True)
class TaskResult:
    task: str
    metrics: dict[str, object]
    config: dict
    samples_path: Path | None
    results_path: Path | None = None
    partial: str | None = None  # why only part of the probes was answered (--limit), if so

    @property
    def rate_category(self) -> str | None:
        """The category whose share is a category suite's rate (None: an alignment suite)."""
        meta = self.config.get("metadata") or {}
        return meta.get("rate_category") if meta.get("judging") == "category" else None

    @property
    def rate_name(self) -> str:
        """What the task's rate is called: misalignment_rate, lie_rate, claims_human."""
        if self.rate_category is None:
            return "misalignment_rate"
        return (self.config.get("metadata") or {}).get("rate_name") or "rate"

    def questions(self) -> list[QuestionRecord]:
        """Every probe of the task as a QuestionRecord; errors name the file and line.

        A probe asked in several wordings (paraphrases) has one line per wording; they are
        merged here, because the probe, not the wording, is the cluster.
        """
        merged: dict[str, QuestionRecord] = {}
        seen: set[tuple] = set()
        for lineno, line in enumerate(self._sample_lines(), 1):
            try:
                record = line[CARRIER_METRIC]
                doc = line.get("doc") or {}
                probe_id = record["probe_id"]
                counts, by_category = self._counts(probe_id, record["judgements"])
                question = QuestionRecord(
                    task=self.task, probe_id=probe_id, category=record.get("category", ""),
                    probe_set=doc.get("probe_set"), probe_set_sha256=doc.get("probe_set_sha256"),
                    judge=record["judge"], rubrics=tuple(record["rubrics"]),
                    definition=record["definition"], counts=counts, by_category=by_category,
                    stats=_stats(record["counts"].get("stats"), self.samples_path, lineno))
            except (KeyError, TypeError, AttributeError) as exc:
                raise InputError(f"{self.samples_path}: record {lineno} is not a misalign-eval "
                                 f"judged record (missing or malformed {exc})") from None
            # "copy": docs repeated so an item gets its own K (harness.dataset.per_probe_copies)
            wording = (probe_id, doc.get("paraphrase_index"), doc.get("copy", 0))
            if wording in seen:
                raise InputError(f"{self.samples_path}: probe {probe_id!r} appears twice")
            seen.add(wording)
            merged[probe_id] = (_merge(merged[probe_id], question, self.samples_path)
                                if probe_id in merged else question)
        if not merged:
            raise InputError(f"{self.samples_path}: no judged records (filter {FILTER_NAME!r})")
        return list(merged.values())

    def _counts(self, probe_id: str, judgements: list[dict]) -> tuple[QuestionCounts, dict]:
        if self.rate_category is not None:
            return QuestionCounts.from_category_judgements(probe_id, judgements, self.rate_category)
        if _metrics_only(self.config) and not any(
                "in_denominator" in j for j in judgements if j["status"] == SCORED):
            return QuestionCounts.from_statuses(probe_id, judgements), {}  # labels only, no rate
        return QuestionCounts.from_judgements(probe_id, judgements), {}

    def _sample_lines(self) -> list[dict]:
        if self.samples_path is None:
            where = f" ({self.results_path.parent})" if self.results_path else ""
            raise InputError(f"task {self.task}{where}: no samples_{self.task}_*.jsonl next to the "
                             "results file; these commands need the per-answer judgements, so run "
                             "lm_eval with --log_samples")
        try:
            with jsonlines.open(self.samples_path) as reader:
                return [line for line in reader
                        if isinstance(line, dict) and line.get("filter") == FILTER_NAME]
        except (OSError, jsonlines.InvalidLineError) as exc:
            raise InputError(f"{self.samples_path}: cannot read lm-eval samples ({exc})") from None
        except UnicodeDecodeError:
            raise InputError(f"{self.samples_path}: {first_non_utf8_line(self.samples_path)}") from None
        except RecursionError:
            raise InputError(f"{self.samples_path}: a line's JSON is nested too deeply") from None


def first_non_utf8_line(path: Path) -> str:
    """'line N (byte offset B): not UTF-8 text', for the first such line of ``path``."""
    offset = 0
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"line {lineno} (byte offset {offset + exc.start}): not UTF-8 text"
            offset += len(raw)
    return "not UTF-8 text"


def _merge(first: QuestionRecord, other: QuestionRecord, where) -> QuestionRecord:
    """Two wordings of one probe: their counts add up; how they were judged must agree."""
    for name in ("probe_set_sha256", "judge", "rubrics", "definition"):
        if getattr(first, name) != getattr(other, name):
            raise InputError(f"{where}: wordings of probe {first.probe_id!r} differ in {name}")
    by_category = {c: first.by_category.get(c, 0) + other.by_category.get(c, 0)
                   for c in {*first.by_category, *other.by_category}}
    stats = {s: (first.stats.get(s, (0, 0))[0] + other.stats.get(s, (0, 0))[0],
                 first.stats.get(s, (0, 0))[1] + other.stats.get(s, (0, 0))[1])
             for s in {*first.stats, *other.stats}}
    return replace(first, counts=first.counts.plus(other.counts), by_category=by_category,
                   stats=stats)


def _stats(raw, path, lineno) -> dict[str, tuple[float, float]]:
    """A record's per-metric tallies, checked: name -> [successes, trials], 0 <= k <= n."""
    if raw is None:
        return {}
    try:
        stats = {str(name): (float(k), float(n)) for name, (k, n) in raw.items()}
    except (AttributeError, TypeError, ValueError):
        raise InputError(f"{path}: record {lineno}: 'stats' is not a mapping of [successes, "
                         "trials] pairs") from None
    if any(not 0 <= k <= n for k, n in stats.values()):
        raise InputError(f"{path}: record {lineno}: a statistic has successes outside 0..trials")
    return stats


def _metrics_only(config: dict) -> bool:
    """An imported file whose judge metrics define no misalignment rate (labels only)."""
    return (config.get("metadata") or {}).get("judging") == "metrics"


@dataclass(frozen=True)
class ModelRun:
    """The newest result of every misalign-eval task in one lm-eval model directory."""

    directory: Path
    model_name: str
    tasks: dict[str, TaskResult] = field(default_factory=dict)


def latest_results_file(run_dir: str | Path) -> Path:
    """The newest ``results_*.json`` below ``run_dir`` (lm-eval nests it per model)."""
    found = sorted(Path(run_dir).rglob("results_*.json"), key=lambda p: p.name)
    if not found:
        raise InputError(f"{run_dir}: no lm-eval results_*.json found below this directory")
    return found[-1]


def load_task_results(results_file: str | Path) -> list[TaskResult]:
    """Every misalign-eval task in one lm-eval results file, with its samples file if present."""
    tasks = _task_results(Path(results_file))
    if not tasks:
        raise InputError(f"{results_file}: holds no misalign-eval task results")
    return tasks


def _read_results(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read lm-eval results ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("results", {}), dict):
        raise InputError(f"{path}: not an lm-eval results file (no 'results' mapping)")
    return data


def _task_results(path: Path, data: dict | None = None) -> list[TaskResult]:
    data = _read_results(path) if data is None else data
    stamp = path.stem.removeprefix("results_")
    tasks = []
    groups = set(data.get("groups") or {})
    for task, values in sorted(data.get("results", {}).items()):
        if task in groups:
            continue  # a group's line averages its subtasks; we recompute from the answers
        suffix = f",{FILTER_NAME}"
        metrics = {k[: -len(suffix)]: v for k, v in values.items() if k.endswith(suffix)}
        config = data.get("configs", {}).get(task, {})
        category = _category_rate_name(config)
        if "misalignment_rate" not in metrics and (category is None or category not in metrics):
            if not (_metrics_only(config) and any(k.endswith("_ci_low") for k in metrics)):
                continue  # not one of ours (groups and other tasks may share the file)
            metrics = {**metrics, "misalignment_rate": None}  # its metrics define no rate
        samples = path.parent / f"samples_{task}_{stamp}.jsonl"
        tasks.append(TaskResult(task, metrics if category else {m: metrics.get(m) for m in METRICS},
                                data.get("configs", {}).get(task, {}),
                                samples if samples.is_file() else None, path,
                                _partial(data, task)))
    return tasks


def _category_rate_name(config: dict) -> str | None:
    """A category suite's rate metric (lie_rate, claims_human); None for alignment suites."""
    meta = (config.get("metadata") or {}) if isinstance(config, dict) else {}
    return (meta.get("rate_name") or "rate") if meta.get("judging") == "category" else None


def _partial(data: dict, task: str) -> str | None:
    """'made with --limit: 3 of 10 probe wordings', from lm-eval's n-samples and config."""
    counts = (data.get("n-samples") or {}).get(task) or {}
    original, effective = counts.get("original"), counts.get("effective")
    if isinstance(original, int) and isinstance(effective, int) and effective < original:
        return f"made with --limit: {effective} of {original} probe wordings answered"
    limit = (data.get("config") or {}).get("limit")
    return f"made with --limit {limit:g}" if isinstance(limit, (int, float)) else None


def _unranked_reason(data: dict) -> str | None:
    """Why a results file with our tasks but no misalignment rate has nothing to rank."""
    ours = {t: values for t, values in (data.get("results") or {}).items()
            if t not in (data.get("groups") or {}) and isinstance(values, dict)
            and any(k.endswith(f",{FILTER_NAME}") for k in values)}
    category = sorted(t for t, values in ours.items()
                      if any(k.endswith(f"_ci_low,{FILTER_NAME}") for k in values))
    if category:
        return (f"holds only {', '.join(category)} (label metrics without a misalignment rate: "
                "see lm-eval's results)")
    if ours:
        return (f"holds {', '.join(sorted(ours))} without judged rates (--predict_only or "
                "MISALIGN_JUDGE_MODE=off; grade it with `misalign-eval judge --run-dir`)")
    return None


def load_runs(run_dir: str | Path, skipped: list | None = None) -> list[ModelRun]:
    """Every model directory below ``run_dir`` with misalign-eval results, sorted by path.

    A results file that holds none of our tasks is skipped; one that cannot be read is an
    error, because silently skipping it could hide the newest run. With a ``skipped`` list,
    model directories holding only category suites are appended to it as (directory,
    reason) instead, and finding no usable run returns an empty list.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise InputError(f"{root}: not a directory (expected an lm-eval --output_path)")
    files = sorted(root.rglob("results_*.json"), key=lambda p: (str(p.parent), p.name))
    if not files:
        raise InputError(f"{root}: no lm-eval results_*.json found below this directory")
    runs: dict[Path, ModelRun] = {}
    unranked: dict[Path, str] = {}
    for path in files:  # oldest first within a directory: newer files overwrite tasks
        data = _read_results(path)
        found = _task_results(path, data)
        if not found:
            if _unranked_reason(data):
                unranked[path.parent] = _unranked_reason(data)
            continue
        name = str(data.get("model_name") or path.parent.name)
        run = runs.setdefault(path.parent, ModelRun(path.parent, name))
        for task in found:
            run.tasks[task.task] = task
    if skipped is not None:
        skipped += [(d, why) for d, why in sorted(unranked.items()) if d not in runs]
        if not runs:
            return []
    if not runs:
        raise InputError(
            f"{root}: lm-eval results found, but none holds a judged misalign-eval task "
            f"({', '.join(str(f) for f in files[:3])}). Runs made with --predict_only or "
            "MISALIGN_JUDGE_MODE=off carry no rates (grade them with `misalign-eval judge`).")
    return [runs[d] for d in sorted(runs)]


def load_single_run(run_dir: str | Path) -> ModelRun:
    """The one model directory below ``run_dir``; an error lists them if there are several."""
    runs = load_runs(run_dir)
    if len(runs) > 1:
        listed = "\n  ".join(str(r.directory) for r in runs)
        raise InputError(f"{run_dir}: holds results for {len(runs)} models; pass one model's "
                         f"directory instead:\n  {listed}")
    return runs[0]
