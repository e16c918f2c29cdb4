"""Line up runs question by question, after checking they measured the same thing.

A difference between two runs means something only if both answered the same probes
(ids and probe-set hash), were graded with the same rubric versions by the same judge model
and counted under the same definition. Anything else is refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from misalign_eval.errors import InputError
from misalign_eval.errors import warn as stderr_warn  # the parameter ``warn`` shadows it
from misalign_eval.runs.reader import ModelRun, QuestionRecord
from misalign_eval.scoring import QuestionCounts


@dataclass(frozen=True)
class AlignedTask:
    """One task's per-question counts for several runs, in one shared question order."""

    task: str
    probe_ids: tuple[str, ...]
    counts: tuple[tuple[QuestionCounts, ...], ...]  # counts[run][question]
    definition: str
    probe_set: str | None = None  # sha256 of the probe set (equal across runs, checked)
    # Per question, its family (category) when the task's probes come in families (em_broad):
    # the cluster of the population scope. None: every question is its own cluster.
    families: tuple[str, ...] | None = None
    rate_name: str = "misalignment_rate"  # lie_rate, claims_human for the category suites

    @property
    def cluster_keys(self) -> tuple[tuple, ...]:
        """What identifies a question across tasks: its probe set and its id."""
        return tuple((self.probe_set, probe_id) for probe_id in self.probe_ids)

    @property
    def family_keys(self) -> tuple[tuple, ...]:
        """Each question's population-scope cluster: its family, or the question itself."""
        if self.families is None:
            return self.cluster_keys
        return tuple((self.probe_set, "family", f) for f in self.families)


def load_questions(run: ModelRun, tasks: list[str] | None = None) -> dict[str, list[QuestionRecord]]:
    """Per task, the run's judged questions (reads the samples files once)."""
    return {task: run.tasks[task].questions() for task in (tasks or sorted(run.tasks))}


def shared_tasks(runs: list[ModelRun], labels: list[str], warn=None) -> list[str]:
    """Tasks every run has; the others are named in a warning, none shared is an error."""
    warn = warn or stderr_warn
    names = [set(r.tasks) for r in runs]
    shared = sorted(set.intersection(*names))
    for label, tasks in zip(labels, names):
        only = sorted(tasks - set(shared))
        if only:
            warn(f"{label}: task(s) {', '.join(only)} not in every run; left out of the comparison")
    if not shared:
        listing = "; ".join(f"{label}: {', '.join(sorted(t))}" for label, t in zip(labels, names))
        raise InputError(f"the runs share no misalign-eval task ({listing})")
    return shared


def align(task: str, per_run: list[list[QuestionRecord]], labels: list[str],
          allow_judge_change: bool = False, warn=None) -> AlignedTask:
    """Counts of every run in the first run's question order; refuses mismatched measurements."""
    warn = warn or stderr_warn
    reference, ref_label = per_run[0], labels[0]
    for questions, label in zip(per_run[1:], labels[1:]):
        problems = mismatches(reference, questions, allow_judge_change)
        if problems:
            raise InputError(f"task {task}: {label} is not comparable with {ref_label}: "
                             + "; ".join(problems))
        judges = ({q.judge_model for q in reference}, {q.judge_model for q in questions})
        if judges[0] != judges[1]:  # only reachable with allow_judge_change
            warn(f"task {task}: {label} was graded by {', '.join(sorted(judges[1]))}, "
                 f"{ref_label} by {', '.join(sorted(judges[0]))}; the difference includes "
                 "the change of judge")
    order = tuple(q.probe_id for q in reference)
    counts = tuple(tuple({q.probe_id: q.counts for q in questions}[p] for p in order)
                   for questions in per_run)
    return AlignedTask(task, order, counts, reference[0].definition,
                       reference[0].probe_set_sha256 or reference[0].probe_set)


def mismatches(a: list[QuestionRecord], b: list[QuestionRecord],
               allow_judge_change: bool = False) -> list[str]:
    """Why two runs of a task measured different things (empty list: comparable)."""
    problems = []
    ids_a, ids_b = {q.probe_id for q in a}, {q.probe_id for q in b}
    if ids_a != ids_b:
        problems.append(f"different probe ids (only in the first: {_few(ids_a - ids_b)}; "
                        f"only in the second: {_few(ids_b - ids_a)})")
    checks = [("probe set (name#sha256)", lambda q: f"{q.probe_set}#{q.probe_set_sha256}"),
              ("rubric identities", lambda q: ", ".join(q.rubrics)),
              ("definition of the rate", lambda q: q.definition)]
    if not allow_judge_change:
        checks.append(("judge model (use --allow-judge-change to compare anyway)",
                       lambda q: q.judge_model))
    for what, key in checks:
        seen_a, seen_b = {key(q) for q in a}, {key(q) for q in b}
        if seen_a != seen_b:
            problems.append(f"{what} differs: {' | '.join(sorted(seen_a))} vs "
                            f"{' | '.join(sorted(seen_b))}")
    return problems


def _few(items: set[str], limit: int = 5) -> str:
    if not items:
        return "none"
    shown = sorted(items)[:limit]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(shown) + more


def align_runs(runs: list[ModelRun], labels: list[str], allow_judge_change: bool = False,
               warn=None) -> list[AlignedTask]:
    """Shared tasks of ``runs``, each checked and aligned by question (first run's order)."""
    tasks = shared_tasks(runs, labels, warn)
    loaded = [load_questions(run, tasks) for run in runs]
    return align_loaded(runs, loaded, tasks, labels, allow_judge_change, warn)


def align_loaded(runs: list[ModelRun], loaded: list[dict[str, list[QuestionRecord]]],
                 tasks: list[str], labels: list[str], allow_judge_change: bool = False,
                 warn=None) -> list[AlignedTask]:
    """``align_runs`` on questions already read (``load_questions`` per run), with each
    task's families and rate name from the first run's recorded config."""
    aligned = [align(task, [q[task] for q in loaded], labels, allow_judge_change, warn)
               for task in tasks]
    return [replace(_with_families(t, runs[0].tasks[t.task].config, loaded[0][t.task]),
                    rate_name=runs[0].tasks[t.task].rate_name) for t in aligned]


def _with_families(task: AlignedTask, config: dict, questions: list[QuestionRecord]) -> AlignedTask:
    """Families from the task's recorded metadata (``families: true``): probe categories."""
    if not (config.get("metadata") or {}).get("families"):
        return task
    category = {q.probe_id: q.category for q in questions}
    return replace(task, families=tuple(category[p] for p in task.probe_ids))


def by_rate(aligned: list[AlignedTask]) -> list[list[AlignedTask]]:
    """Tasks grouped by the rate they measure (its name and definition), alignment suites
    first: answers can be pooled within a group, never across groups."""
    groups: dict[tuple, list[AlignedTask]] = {}
    for task in aligned:
        groups.setdefault((task.rate_name != "misalignment_rate", task.rate_name, task.definition),
                          []).append(task)
    return [groups[key] for key in sorted(groups)]


def definitions_text(aligned: list[AlignedTask]) -> str:
    """The definition the tasks share, or each rate's definition ("rate: definition; ...")
    when they measure different rates: what a comparison says it compared."""
    definitions = sorted({f"{t.rate_name}: {t.definition}" for t in aligned})
    return common_definition(aligned) if len(definitions) == 1 else "; ".join(definitions)


def common_definition(aligned: list[AlignedTask]) -> str:
    """The one definition of the rate all tasks share; pooling different ones means nothing."""
    definitions = {t.definition for t in aligned}
    if len(definitions) > 1:
        listing = "; ".join(f"{t.task}: {t.definition}" for t in aligned)
        raise InputError("the tasks count misalignment under different definitions, so their "
                         f"answers cannot be pooled; choose one task ({listing})")
    return definitions.pop()


def pooled(aligned: list[AlignedTask], run: int) -> list[QuestionCounts]:
    """One run's questions of every task, as one list of clusters.

    A probe asked by several tasks (em_core and its JSON and template variants: same probe
    set, same id) is one cluster: its answers share the question, so counting it once per
    task would overstate the number of independent units.
    """
    return QuestionCounts.merged((key, counts) for task in aligned
                                 for key, counts in zip(task.cluster_keys, task.counts[run]))


def pooled_families(aligned: list[AlignedTask]) -> list[tuple]:
    """The population-scope cluster of each question of ``pooled`` (same order)."""
    labels: dict[tuple, tuple] = {}
    for task in aligned:
        for key, family in zip(task.cluster_keys, task.family_keys):
            labels.setdefault(key, family)
    return list(labels.values())



def run_labels(runs: list[ModelRun]) -> list[str]:
    """Model names when they are unique, else each directory relative to their common parent."""
    names = [r.model_name for r in runs]
    if len(set(names)) == len(names):
        return names
    from os.path import commonpath

    dirs = [r.directory.resolve() for r in runs]
    base = commonpath(dirs) if len(dirs) > 1 else str(dirs[0].parent)
    labels = [str(d.relative_to(base)) if str(d) != base else d.name for d in dirs]
    return labels if len(set(labels)) == len(labels) else [str(d) for d in dirs]
