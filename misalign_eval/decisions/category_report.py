"""Label shares in a report: the category suites' labels (em_deception, em_identity) and
imported files' other judge metrics (label shares, lie rate, share of high scores, mean
score / 100), over all questions and per question, with the rate per condition side by side
and their charts.

A label's share is the answers the judge put in that label over the answers it put in any
label; its interval is the rate on these questions (stats.rate_interval), over all of a
task's questions or over one question's answers, like every other rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from misalign_eval.decisions.plots import rates_chart
from misalign_eval.runs.reader import QuestionRecord
from misalign_eval.stats import RateInterval, rate_interval


@dataclass(frozen=True)
class LabelShare:
    task: str
    label: str
    rate: RateInterval
    probe_id: str | None = None  # None: over all of the task's questions

    def to_json(self) -> dict:
        return {"task": self.task, "probe_id": self.probe_id, "label": self.label,
                **self.rate.to_json()}


def label_shares(task: str, questions: list[QuestionRecord], confidence: float = 0.95
                 ) -> list[LabelShare]:
    """Every label the judge used in ``task`` and every other judge metric of an imported
    file: its share and interval over all questions, then per question (empty for the
    alignment suites, whose records carry neither)."""
    tallies = {label: [(q.by_category.get(label, 0), q.counts.n_eligible) for q in questions]
               for label in sorted({label for q in questions for label in q.by_category})}
    tallies.update({stat: [q.stats.get(stat, (0, 0)) for q in questions]
                    for stat in sorted({stat for q in questions for stat in q.stats})})
    rows = []
    for label, pairs in tallies.items():
        if not any(n for _, n in pairs):
            continue
        rows.append(LabelShare(task, label, rate_interval([k for k, _ in pairs],
                                                          [n for _, n in pairs],
                                                          confidence=confidence)))
        rows += [LabelShare(task, label, rate_interval([k], [n], confidence=confidence),
                            q.probe_id) for q, (k, n) in zip(questions, pairs) if n]
    return rows


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
        rates_chart([s.label for s in summaries], [s.rate for s in summaries],
                    f"{rate} by condition ({report.model})", caption, stage / name,
                    axis=(f"{rate} (%)", "task"))
        charts.append((name, caption))
    overall = [s for s in report.label_shares if s.probe_id is None]
    for task in dict.fromkeys(s.task for s in overall):
        shares = [s for s in overall if s.task == task]
        name = f"labels_{task}.png"
        caption = (f"Points: share of each label the judge gave in {task}, over the answers it "
                   f"labelled ({shares[0].rate.n}), with {conf} intervals on these questions.")
        rates_chart([s.label for s in shares], [s.rate for s in shares],
                    f"Labels: {task} ({report.model})", caption, stage / name,
                    axis=("share of labelled answers (%)", "label"))
        charts.append((name, caption))
    return charts
