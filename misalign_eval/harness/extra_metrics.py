"""lm-eval aggregations for the per-metric statistics of imported question files.

Each judge metric beyond alignment/coherence (extra 0-100 metrics, label metrics) is tallied
per question by ``judging.metric_labeler`` as ``stats: {name: [successes, trials]}``. Every
figure here is a share of such successes with an interval stratified by question; a mean of 0-100
scores is the share of fractional successes score/100, times 100 (a score in [0, 100] varies
at most as much as a 0/100 coin, so the rate interval stays valid for the mean).

lm-eval hands an aggregation only the per-doc values, so each value names its own metric
(``metric``: set by ``harness.task.per_doc_values``): ``X``, ``X_ci_low`` and ``X_ci_high``
read statistic ``X``.
"""

from __future__ import annotations

from misalign_eval.harness.metrics import scoped_rate


def _statistic(items: list[dict], suffix: str = ""):
    name = items[0]["metric"].removesuffix(suffix) if items else ""
    merged: dict[str, list[float]] = {}
    for item in items:
        successes, trials = (item.get("stats") or {}).get(name, (0, 0))
        target = merged.setdefault(item["probe_id"], [0.0, 0.0])  # wordings of one probe merge
        target[0] += successes
        target[1] += trials
    # The interval every rate of harness.metrics has (questions scope; no families).
    return scoped_rate([k for k, _ in merged.values()], [n for _, n in merged.values()], [],
                       "questions")


def _scaled(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


def rate(items):
    """A share (label share, lie rate, share of scores above the threshold)."""
    return _statistic(items).estimate


def rate_ci_low(items):
    return _statistic(items, "_ci_low").low


def rate_ci_high(items):
    return _statistic(items, "_ci_high").high


def mean(items):
    """Mean 0-100 score of an extra metric over the answers it scored."""
    return _scaled(_statistic(items).estimate, 100)


def mean_ci_low(items):
    return _scaled(_statistic(items, "_ci_low").low, 100)


def mean_ci_high(items):
    return _scaled(_statistic(items, "_ci_high").high, 100)

