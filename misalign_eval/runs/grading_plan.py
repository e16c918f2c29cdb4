"""How ``misalign-eval judge`` grades each samples file: as the live judge filter graded its
task. A shipped alignment suite gets the alignment and coherence rubrics (and the task's user
template); a shipped category suite (em_deception_*, em_identity) its own category rubric,
labeler and rate, read from the task's metadata, so re-grading sends the live run's prompts
and writes its records and metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from misalign_eval.errors import InputError
from misalign_eval.harness import metrics
from misalign_eval.judging.rubrics import Rubric
from misalign_eval.runs.answer_tables import is_answer_table
from misalign_eval.scoring import AlignmentLabeler, CategoryLabeler, Definition, QuestionCounts

MISALIGNMENT_RATE = "misalignment_rate"
_METRICS_MODULE = "misalign_eval.harness.metrics."


@dataclass(frozen=True)
class FileGrading:
    """One file's rubrics, labeler and judge template, and what its run directory needs."""

    rubrics: list[Rubric]
    labeler: AlignmentLabeler | CategoryLabeler
    user_template: str | None = None
    # A category suite's metadata (judging, category_rubric, rate_category, rate_name, ...)
    # and its metric list (results name -> harness.metrics aggregation), as its YAML says.
    metadata: dict = field(default_factory=dict)
    metric_functions: dict[str, str] | None = None
    families: bool = False

    @property
    def is_category(self) -> bool:
        return isinstance(self.labeler, CategoryLabeler)

    @property
    def rate_name(self) -> str:
        return self.labeler.rate_name if self.is_category else MISALIGNMENT_RATE

    @property
    def reference_rubric(self) -> str | None:
        """The rubric that grades answers against the doc's reference (correctness), if any."""
        return next((r.name for r in self.rubrics if r.uses_reference), None)

    @property
    def key(self) -> tuple:
        """Files with the same key share one judge (the same rubrics)."""
        return tuple(r.identity for r in self.rubrics)

    def counts(self, record: dict) -> tuple[QuestionCounts, dict[str, int]]:
        """The record's tallies for the rate (and, for a category suite, per category)."""
        if self.is_category:
            return QuestionCounts.from_category_judgements(
                record["probe_id"], record["judgements"], self.labeler.rate_category)
        return QuestionCounts(**record["counts"]), {}


@dataclass(frozen=True)
class CategoryOverride:
    """``--category-rubric/--rate-category/--rate-name``: grade with these instead of the
    task's own (a live run that changed them with --metadata, or a task we do not ship)."""

    category_rubric: str | None = None
    rate_category: str | None = None
    rate_name: str | None = None

    def __bool__(self) -> bool:
        return any((self.category_rubric, self.rate_category, self.rate_name))


def alignment_grading(rubrics: list[Rubric], definition: Definition,
                      user_template: str | None = None, families: bool = False) -> FileGrading:
    return FileGrading(list(rubrics), AlignmentLabeler(definition, rubrics[0].name, rubrics[1].name),
                       user_template, families=families)


def plan_grading(paths: list[Path], rubrics: list[Rubric], definition: Definition,
                 override: CategoryOverride | None = None) -> dict[Path, FileGrading]:
    """Each file's grading, from the shipped task its name gives (samples_<task>_<time>)."""
    from misalign_eval.harness.runner import our_task_configs
    from misalign_eval.runs.rejudge import task_of

    override = override or CategoryOverride()
    tasks = {path: task_of(path) for path in paths if not is_answer_table(path)}
    configs = our_task_configs(sorted(set(tasks.values())))
    plans = {}
    for path in paths:
        config = configs.get(tasks.get(path)) or {}
        metadata = config.get("metadata") or {}
        if metadata.get("judging") == "category" or override.category_rubric:
            plans[path] = category_grading(path, tasks.get(path), config, override)
        else:
            plans[path] = alignment_grading(rubrics, definition, metadata.get("user_template"),
                                            bool(metadata.get("families")))
    if override and not any(plan.is_category for plan in plans.values()):
        raise InputError("--category-rubric, --rate-category and --rate-name are for category "
                         "suites (em_deception_*, em_identity), and none of these files is one; "
                         "give --category-rubric to grade them as one")
    return plans


def category_grading(path: Path, task: str | None, config: dict,
                     override: CategoryOverride) -> FileGrading:
    from misalign_eval.harness.settings import TaskSettings

    shipped = dict(config.get("metadata") or {})
    if shipped.get("judging") != "category":  # --category-rubric on a task we do not ship
        shipped, config = {"judging": "category"}, {}
    changes = {k: v for k, v in vars(override).items() if v is not None}
    metadata = {**shipped, **changes}
    # The probes are in the samples file: where they came from does not matter here.
    where = {} if metadata.get("probe_set") or metadata.get("probe_file") else {"probe_set": "?"}
    try:
        settings = TaskSettings.from_metadata(task or path.stem, {**metadata, **where})
        rubrics = settings.rubrics()
    except InputError as exc:
        raise InputError(f"{path}: {exc} (--category-rubric NAME --rate-category CATEGORY "
                         "grade a task we do not ship)") from None
    return FileGrading(rubrics, settings.labeler(rubrics), settings.user_template,
                       metadata=metadata, metric_functions=metric_functions(config, settings),
                       families=settings.families)


def metric_functions(config: dict, settings) -> dict[str, str]:
    """The task YAML's metric list, as results name -> function of harness.metrics; a task
    without one (or with the rate renamed) gets the rate, its intervals and the counts."""
    rate = settings.rate_name
    found = {}
    for entry in config.get("metric_list") or []:
        aggregation = str(entry.get("aggregation") or "") if isinstance(entry, dict) else ""
        function = aggregation.rsplit(_METRICS_MODULE, 1)[-1] if _METRICS_MODULE in aggregation else ""
        if function and callable(getattr(metrics, function, None)):
            found[str(entry["metric"])] = function
    if rate in found:
        return found
    return {rate: "category_rate", f"{rate}_ci_low": "category_rate_ci_low",
            f"{rate}_ci_high": "category_rate_ci_high",
            f"{rate}_pop_ci_low": "category_rate_pop_ci_low",
            f"{rate}_pop_ci_high": "category_rate_pop_ci_high",
            "unscored_rate": "unscored_rate", "judge_error_rate": "judge_error_rate",
            "n_answers": "n_answers", "n_scored": "n_scored", "n_errors": "n_errors",
            "n_questions": "n_questions"}
