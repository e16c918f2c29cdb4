"""Conditions measured by several fine-tuning seeds: the group's summary and differences.

A group is a list of runs (one list of per-question counts per run, all in one question
order). Its rate pools the runs; its interval adds the between-seed variation
(stats.seed_groups). A group of one run gives exactly what ``summarize`` and
``compare.difference`` give for that run.
"""

from __future__ import annotations

import numpy as np

from misalign_eval.decisions.summary import COUNT_FIELDS, Summary, summarize
from misalign_eval.scoring import QuestionCounts
from misalign_eval.stats import DifferenceInterval
from misalign_eval.stats.seed_groups import group_difference_interval, group_rate_interval


def count_arrays(runs: list[list[QuestionCounts]]) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, questions) arrays of misaligned and eligible answers."""
    k = np.array([[c.n_misaligned for c in counts] for counts in runs], dtype=float)
    n = np.array([[c.n_eligible for c in counts] for counts in runs], dtype=float)
    return k, n


def summarize_group(label: str, runs: list[list[QuestionCounts]], confidence: float = 0.95,
                    scope: str = "questions", families: list | None = None,
                    rate_name: str = "misalignment_rate") -> Summary:
    """The group's pooled rate with its seed-group interval, and every count summed over runs."""
    if len(runs) == 1:
        return summarize(label, runs[0], confidence, scope, families, rate_name)
    k, n = count_arrays(runs)
    rate = group_rate_interval(k, n, confidence=confidence, scope=scope)
    totals = {f: sum(getattr(c, f) for counts in runs for c in counts) for f in COUNT_FIELDS}
    return Summary(label, rate, len(runs[0]), **totals, rate_name=rate_name)


def group_difference(runs_a: list[list[QuestionCounts]], runs_b: list[list[QuestionCounts]],
                     confidence: float = 0.95, scope: str = "questions",
                     families: list | None = None) -> DifferenceInterval:
    """Group b minus group a (MOVER of the seed-group intervals)."""
    k_a, n_a = count_arrays(runs_a)
    k_b, n_b = count_arrays(runs_b)
    return group_difference_interval(k_a, n_a, k_b, n_b, confidence=confidence, scope=scope,
                                     families=families if scope == "population" else None)
