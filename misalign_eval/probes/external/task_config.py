"""The lm-eval config of an imported task: the shipped template's settings copied in, with
the metric list this file's judge metrics need.

lm-eval 0.4.13 resolves ``include:`` against the including YAML's folder, or an absolute
path: including the shipped template would write a path into the installed package, which
breaks when the package is reinstalled elsewhere. The template's keys are copied instead;
its ``!function misalign_eval....`` references are module paths, resolved by import wherever
the package lives, and are written back as such.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from misalign_eval.judging.metric_labeler import MetricsLabeler
from misalign_eval.probes.external.common import ImportedQuestions
from misalign_eval.resources import tasks_dir

TEMPLATE_FILE = "_alignment_template.yaml"
EXTRA = "misalign_eval.harness.extra_metrics"
# The template metrics that need no alignment/coherence pair.
NO_RATE_METRICS = ("unscored_rate", "judge_error_rate", "n_answers", "n_scored", "n_unscored",
                   "n_errors", "n_questions")
# The template metrics a verdict grader cannot give (it scores no alignment or coherence).
PAIR_ONLY_METRICS = ("coherence_rate", "alignment_mean")


class FunctionRef(str):
    """A ``!function module.name`` reference, kept as written."""


class _TemplateLoader(yaml.SafeLoader):
    pass


_TemplateLoader.add_constructor(
    "!function", lambda loader, node: FunctionRef(loader.construct_scalar(node)))


def represent_function(dumper: yaml.SafeDumper, value: FunctionRef):
    return dumper.represent_scalar("!function", str(value))


def template_config() -> dict:
    """The shipped alignment template, ``!function`` references kept."""
    path = tasks_dir() / TEMPLATE_FILE
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_TemplateLoader)  # noqa: S506 - SafeLoader subclass


def labeler_of(imported: ImportedQuestions) -> MetricsLabeler:
    """The labeler the task's settings will build (for its statistic names)."""
    verdict = next((r for r in imported.metrics if r.kind == "verdict"), None)
    return MetricsLabeler(
        alignment=imported.alignment.name if imported.alignment else None,
        coherence=imported.coherence.name if imported.coherence else None,
        scores=tuple(r.name for r in imported.metrics if r.kind == "score"),
        labels=tuple((r.name, r.categories) for r in imported.metrics if r.kind == "category"),
        verdict=verdict.name if verdict else None)


def metric_list(imported: ImportedQuestions, template: list[dict]) -> list[dict]:
    """The template's metrics this task can report, then mean/share statistics with intervals."""
    labeler = labeler_of(imported)
    if imported.alignment is not None:
        kept = template
    elif labeler.verdict:
        kept = [m for m in template if m["metric"] not in PAIR_ONLY_METRICS]
    else:
        kept = [m for m in template if m["metric"] in NO_RATE_METRICS]
    extra = []
    for name, is_mean in labeler.stat_names():
        kind = "mean" if is_mean else "rate"
        for suffix in ("", "_ci_low", "_ci_high"):
            extra.append({"metric": f"{name}{suffix}",
                          "aggregation": FunctionRef(f"{EXTRA}.{kind}{suffix}"),
                          "higher_is_better": False})
    return kept + extra


def needs_metrics_judging(imported: ImportedQuestions) -> bool:
    """Tasks with more than the alignment/coherence pair are judged by every metric."""
    return bool(imported.metrics) or imported.alignment is None


def task_config(imported: ImportedQuestions, name: str, metadata: dict) -> dict:
    """The whole task config: template keys, this task's name, K, metric list and metadata."""
    config = template_config()
    config["metric_list"] = metric_list(imported, config["metric_list"])
    config["task"] = name
    config["repeats"] = imported.samples_per_paraphrase
    config["metadata"] = metadata
    return config


def rubric_file_names(imported: ImportedQuestions, name: str) -> dict[str, str]:
    """Rubric name -> file name in the task directory (``.yml``: lm-eval indexes every
    ``*.yaml`` under --include_path as a task)."""
    return {r.name: f"{name}.{r.name}.yml" for r in imported.rubrics}


def metadata_paths(imported: ImportedQuestions, directory: Path, name: str) -> dict:
    """The metadata keys that say where the rubrics are and how the task is judged."""
    files = {k: str(directory / v) for k, v in rubric_file_names(imported, name).items()}
    keys: dict = {"alignment_rubric": files.pop("alignment", None),
                  "coherence_rubric": files.pop("coherence", None)}
    if needs_metrics_judging(imported):
        keys["judging"] = "metrics"
        keys["metric_rubrics"] = list(files.values())
        keys["high_score_threshold"] = imported.options.high_score_threshold
        keys["verdict_threshold"] = imported.options.verdict_threshold
    if imported.samples_by_probe:
        keys["samples_by_probe"] = dict(imported.samples_by_probe)
        keys["samples_unit"] = imported.samples_per_paraphrase
    return keys
