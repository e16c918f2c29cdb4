"""The category suites in a report (em_deception, em_identity): label shares with intervals,
the rate per condition side by side, and their charts.

A label's share is the answers the judge put in that label over the answers it put in any
label, per task; its interval is the rate on these questions (stats.rate_interval), like
every other rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from misalign_eval.decisions.plots import model_chart
from misalign_eval.runs.reader import QuestionRecord
from misalign_eval.stats import RateInterval, rate_interval


@dataclass(frozen=True)
class LabelShare:
    task: str
    label: str
    rate: RateInterval

    def to_json(self) -> dict:
        return {"task": self.task, "label": self.label, **self.rate.to_json()}


def label_shares(task: str, questions: list[QuestionRecord], confidence: float = 0.95
                 ) -> list[LabelShare]:
    """Every label the judge used in ``task``, its share and interval (empty for alignment
    suites, whose records carry no categories)."""
    labels = sorted({label for q in questions for label in q.by_category})
    eligible = [q.counts.n_eligible for q in questions]
    return [LabelShare(task, label, rate_interval([q.by_category.get(label, 0) for q in questions],
                                                  eligible, confidence=confidence))
            for label in labels]


def category_charts(report, stage: Path) -> list[tuple[str, str]]:
    """Per category rate, its tasks side by side (em_deception's five conditions); per task,
    its label distribution (em_identity's claims). Returns (file name, caption) pairs."""
    conf = f"{100 * report.confidence:g}%"
    charts = []
    by_rate: dict[str, list] = {}
    for s in report.summaries:
        if s.rate_name != "misalignment_rate" and s.label in report.definitions:
            by_rate.setdefault(s.rate_name, []).append(s)
    for rate, summaries in by_rate.items():
        if len(summaries) < 2:
            continue
        name = f"conditions_{rate}.png"
        caption = (f"Points: {rate} per task with {conf} intervals on each task's questions. "
                   f"Rate: {report.definitions[summaries[0].label]}.")
        model_chart([s.label for s in summaries], [s.rate.estimate for s in summaries],
                    [s.rate.low for s in summaries], [s.rate.high for s in summaries],
                    f"{rate} by condition ({report.model})", caption, stage / name,
                    axis=(f"{rate} (%)", "task"))
        charts.append((name, caption))
    tasks = dict.fromkeys(s.task for s in report.label_shares)
    for task in tasks:
        shares = [s for s in report.label_shares if s.task == task]
        name = f"labels_{task}.png"
        caption = (f"Points: share of each label the judge gave in {task}, over the answers it "
                   f"labelled ({shares[0].rate.n}), with {conf} intervals on these questions.")
        model_chart([s.label for s in shares], [s.rate.estimate for s in shares],
                    [s.rate.low for s in shares], [s.rate.high for s in shares],
                    f"Labels: {task} ({report.model})", caption, stage / name,
                    axis=("share of labelled answers (%)", "label"))
        charts.append((name, caption))
    return charts
