"""A judge ensemble: several judge models grade every answer; its verdict combines theirs.

One judge is the largest source of error in these measurements, and judges disagree a lot.
An ensemble (``MISALIGN_JUDGE_MODEL=a,b,c`` or a YAML list under ``model:``) wraps one
``Judge`` per distinct member: members share nothing but the verdict cache, where each
member's verdicts sit under that member's own keys (the keys of the single judge), so a
member shared by two ensembles, or graded alone before, is not paid for twice. The combined
verdict is never cached: it is recomputed from the members' verdicts, so it cannot be
mistaken for a single judge's. Per rubric, over the members in the order given:

- any member failed after its retries: ``error``, naming the members that failed (a re-run
  calls only those);
- a 0-100 score: the mean of the members' scores, unless more than half of the members gave
  none (then unscored, with the reason most members gave; ties go to the earliest member);
- a category: the majority among members that gave one (a tie goes to the category of the
  earliest-listed member among the tied), unscored as for scores.

A model listed twice counts twice (a weighted vote) and is graded once.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from tqdm.auto import tqdm

from misalign_eval.judging.cache import VerdictCache
from misalign_eval.judging.client import Judge, RubricOutcome
from misalign_eval.judging.config import JudgeConfig
from misalign_eval.judging.rubrics import Rubric
from misalign_eval.judging.usage import JudgeUsage

# Key of a judgement holding each member's own judgement, in member order.
MEMBERS_KEY = "members"


class EnsembleOutcomes(dict):
    """The combined outcome per rubric, plus ``members``: (model, outcomes) in member order."""

    def __init__(self, combined: dict[str, RubricOutcome],
                 members: list[tuple[str, dict[str, RubricOutcome]]]):
        super().__init__(combined)
        self.members = members


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def _first_most_common(values: list[str]) -> str:
    """The most frequent value; a tie goes to the one that appears first."""
    counts = Counter(values)
    return max(dict.fromkeys(values), key=lambda v: counts[v])


def combine(rubric: Rubric, members: list[tuple[str, RubricOutcome]]) -> RubricOutcome:
    """One rubric's ensemble verdict from its members' (see the module docstring)."""
    truncated = any(o.truncated for _, o in members)
    errors = [f"{model}: {o.error}" for model, o in members if o.error]
    if errors:
        return RubricOutcome(error="ensemble member " + "; ".join(errors), truncated=truncated)
    field = "category" if rubric.kind == "category" else "score"
    given = [o for _, o in members if getattr(o, field) is not None]
    if 2 * len(given) < len(members):  # most members gave no verdict
        reasons = [o.reason or "unscored" for _, o in members if getattr(o, field) is None]
        return RubricOutcome(reason=_first_most_common(reasons), truncated=truncated,
                             numeric_mass=_mean([o.numeric_mass for _, o in members]))
    mass = _mean([o.numeric_mass for o in given])
    if field == "category":
        return RubricOutcome(category=_first_most_common([o.category for o in given]),
                             numeric_mass=mass, truncated=truncated)
    return RubricOutcome(score=_mean([o.score for o in given]), numeric_mass=mass,
                         truncated=truncated)


class EnsembleJudge:
    """Grades like ``Judge`` (same ``grade``/``grade_sync``/``usage``), with every member."""

    def __init__(self, config: JudgeConfig, rubrics: list[Rubric], cache: VerdictCache | None = None):
        self.config = config
        self.rubrics = rubrics
        self.members = {model: Judge(config.member(model), rubrics, cache)
                        for model in dict.fromkeys(config.models)}

    @property
    def usage(self) -> JudgeUsage:
        total = JudgeUsage()
        for judge in self.members.values():
            total.merge(judge.usage)
        return total

    async def grade(self, items: list[tuple], progress: bool = True, bar=None) -> list[EnsembleOutcomes]:
        """Outcomes per item in input order: the combined ones, each member's alongside.
        The members grade concurrently, each with its own pool and pacing."""
        calls = len(items) * len(self.rubrics)
        own_bar = bar is None
        if own_bar:
            bar = tqdm(total=calls * len(self.config.models), desc="Judging", unit="call",
                       disable=not progress, dynamic_ncols=True)
        try:
            graded = await asyncio.gather(*(judge.grade(items, bar=bar)
                                            for judge in self.members.values()))
            bar.update(calls * (len(self.config.models) - len(self.members)))  # repeated members
        finally:
            if own_bar:
                bar.close()
        by_model = dict(zip(self.members, graded))
        results = []
        for index in range(len(items)):
            members = [(model, by_model[model][index]) for model in self.config.models]
            combined = {r.name: combine(r, [(m, outcomes[r.name]) for m, outcomes in members])
                        for r in self.rubrics}
            results.append(EnsembleOutcomes(combined, members))
        return results

    def grade_sync(self, items: list[tuple], progress: bool = True, bar=None):
        return asyncio.run(self.grade(items, progress=progress, bar=bar))


def member_judgements(outcomes: dict, label) -> list[dict] | None:
    """Each member's own judgement of one answer (``label`` turns outcomes into one), or
    None for a single judge."""
    members = getattr(outcomes, "members", None)
    if not members:
        return None
    return [{"judge": model, **label(member)} for model, member in members]
