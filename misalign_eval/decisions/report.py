"""Rendered artefacts of a run and of a leaderboard: JSON, CSV, PNG and one HTML page.

The HTML embeds its charts as base64, so the page can be mailed or archived on its own.
Files are staged and moved into place together (see outputs.py).
"""

from __future__ import annotations

import base64
import csv
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from misalign_eval import __version__
from misalign_eval.decisions.category_report import LabelShare, category_charts, label_shares
from misalign_eval.decisions.leaderboard import LeaderboardRow
from misalign_eval.decisions.summary import OVERALL, Summary, question_interval, scope_words, summarize
from misalign_eval.decisions.outputs import staged_directory
from misalign_eval.runs.pairing import align_loaded, by_rate, load_questions, pooled, pooled_families
from misalign_eval.decisions.plots import question_chart, rates_chart
from misalign_eval.runs.reader import ModelRun
from misalign_eval.scoring import QuestionCounts
from misalign_eval.decisions.tables import (
    difference_with_interval, interval_note, p_value,
    question_cells, question_headers, rate_with_interval, share_of, summary_cells,
    summary_headers)


@dataclass(frozen=True)
class QuestionRow:
    task: str
    probe_id: str
    category: str
    counts: QuestionCounts
    estimate: float | None
    ci_low: float | None
    ci_high: float | None

    def to_json(self) -> dict:
        c = self.counts
        return {"task": self.task, "probe_id": self.probe_id, "category": self.category,
                "misalignment_rate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high,
                "n_misaligned": c.n_misaligned, "n_eligible": c.n_eligible,
                "n_answers": c.n_answers, "n_scored": c.n_scored, "n_coherent": c.n_coherent,
                "n_refusal": c.n_refusal, "n_unscored": c.n_unscored, "n_error": c.n_error,
                "coherence_rate": c.n_coherent / c.n_scored if c.n_scored else None,
                "alignment_mean": c.alignment_sum / c.n_scored if c.n_scored else None}


@dataclass(frozen=True)
class RunReport:
    model: str
    directory: str
    confidence: float
    summaries: list[Summary]  # one per task, then "all tasks" when several share a definition
    questions: list[QuestionRow]
    definitions: dict[str, str]
    judge: str
    notes: list[str] = field(default_factory=list)
    # Per probe category within a task ("task / category"), for suites with several families.
    categories: list[Summary] = field(default_factory=list)
    # Category suites: the share of every label the judge gave, per task.
    label_shares: list[LabelShare] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"tool": f"misalign-eval {__version__}", "model": self.model,
                "directory": self.directory, "confidence": self.confidence,
                "interval_method": interval_note(self.summaries[0].rate), "definitions": self.definitions,
                "judge": self.judge, "notes": self.notes,
                "tasks": [s.to_json() for s in self.summaries],
                "categories": [s.to_json() for s in self.categories],
                "label_shares": [s.to_json() for s in self.label_shares],
                "questions": [q.to_json() for q in self.questions]}


def build_report(run: ModelRun, confidence: float = 0.95, scope: str = "questions") -> RunReport:
    """Per task and per question, recomputed from the judged answers in the samples files."""
    per_task = load_questions(run)
    aligned = align_loaded([run], [per_task], list(per_task), [run.model_name])
    summaries, rows, definitions, judges, notes, shares = [], [], {}, set(), [], []
    for t in aligned:
        summaries.append(summarize(t.task, list(t.counts[0]), confidence, scope,
                                   list(t.family_keys), t.rate_name))
    for task, questions in per_task.items():
        shares += label_shares(task, questions, confidence)
        definitions[task] = questions[0].definition
        for q in questions:
            judges.add(f"{q.judge} | {', '.join(q.rubrics)}")
            rows.append(QuestionRow(task, q.probe_id, q.category, q.counts,
                                    *question_interval(q.counts.n_misaligned,
                                                       q.counts.n_eligible, confidence)))
    categories = [summarize(f"{task} / {category}",
                            [q.counts for q in questions if q.category == category], confidence)
                  for task, questions in per_task.items()
                  # only where categories group questions (em_core's are one per probe)
                  if 1 < len({q.category for q in questions}) < len(questions)
                  for category in sorted({q.category for q in questions})]
    groups = by_rate(aligned)
    for same in groups:
        if len(same) < 2:
            continue
        # One question per probe, whichever tasks asked it (runs.pairing.pooled).
        label = OVERALL if len(groups) == 1 else f"all {same[0].rate_name} tasks"
        summaries.append(summarize(label, pooled(same, 0), confidence, scope,
                                   pooled_families(same), same[0].rate_name))
    if len({g[0].definition for g in groups if g[0].rate_name == "misalignment_rate"}) > 1:
        notes.append("alignment tasks use different definitions of the rate: no overall rate")
    return RunReport(run.model_name, str(run.directory), confidence, summaries, rows,
                     definitions, " ; ".join(sorted(judges)), notes, categories, shares)


# ------------------------------------------------------------------------------- writers


def write_report(report: RunReport, out_dir: Path) -> list[Path]:
    """report.json, questions.csv, one PNG per task and report.html, all or nothing."""
    conf = f"{100 * report.confidence:g}%"
    with staged_directory(out_dir) as stage:
        (stage / "report.json").write_text(json.dumps(report.to_json(), indent=2), "utf-8")
        _write_csv(stage / "questions.csv", [q.to_json() for q in report.questions])
        if report.label_shares:
            _write_csv(stage / "label_shares.csv", [s.to_json() for s in report.label_shares])
        charts = []
        for s in report.summaries:
            if s.label not in report.definitions:  # a pooled row ("all tasks")
                continue
            rows = [q for q in report.questions if q.task == s.label]
            pooled = rate_with_interval(s.rate.estimate, s.rate.low, s.rate.high)
            what = ("share of misaligned answers" if s.rate_name == "misalignment_rate"
                    else s.rate_name)
            caption = (f"Bars: {what} per question with {conf} Wilson "
                       f"intervals. Band: pooled rate {pooled} "
                       f"over {s.n_eligible} answers, {conf} interval "
                       f"{scope_words(s.rate.scope, s.n_questions, s.rate.n_clusters)}. "
                       f"Rate: {report.definitions[s.label]}.")
            name = f"questions_{_slug(s.label)}.png"
            question_chart([f"{q.probe_id} ({q.counts.n_misaligned}/{q.counts.n_eligible})"
                            for q in rows], [q.estimate for q in rows],
                           [q.ci_low for q in rows], [q.ci_high for q in rows], s.rate,
                           f"{s.rate_name} per question: {s.label} ({report.model})",
                           caption, stage / name)
            charts.append((name, caption))
        charts += category_charts(report, stage)
        page = _report_html(report, [(stage / n, c) for n, c in charts])
        (stage / "report.html").write_text(page, "utf-8")
        names = sorted(p.name for p in stage.iterdir())
    return [Path(out_dir) / n for n in names]


def write_leaderboard(rows: list[LeaderboardRow], markdown: str, tasks: list[str],
                      definition: str, confidence: float, out_dir: Path,
                      heatmap: tuple | None = None) -> list[Path]:
    """leaderboard.md, .csv, .json, .png and .html, all or nothing; with ``heatmap`` =
    (aligned tasks, run labels) also leaderboard_questions.png, question by model."""
    conf = f"{100 * confidence:g}%"
    records = [_leaderboard_record(i, r) for i, r in enumerate(rows, 1)]
    rate = rows[0].summary.rate_name if rows else "misalignment_rate"
    claim = interval_note(rows[0].summary.rate if rows else None, False)
    caption = (f"Points: {rate} per model, answers of {', '.join(tasks)} pooled; "
               f"whiskers: {conf} intervals {claim}. Rate: {definition}.")
    with staged_directory(out_dir) as stage:
        (stage / "leaderboard.md").write_text(markdown + "\n", "utf-8")
        _write_csv(stage / "leaderboard.csv", records)
        (stage / "leaderboard.json").write_text(json.dumps(
            {"tool": f"misalign-eval {__version__}", "tasks": tasks, "definition": definition,
             "confidence": confidence, "rows": [r.to_json() for r in rows]}, indent=2), "utf-8")
        chart = rates_chart([f"{r.label} (n={r.summary.n_eligible})" for r in rows],
                            [r.summary.rate for r in rows], f"{rate} by model", caption,
                            stage / "leaderboard.png", axis=(f"{rate} (%)", "model"))
        figures = [_figure(chart, caption)]
        if heatmap is not None:
            from misalign_eval.decisions.heatmap import leaderboard_heatmap

            figures.append(_figure(*leaderboard_heatmap(*heatmap, [r.label for r in rows],
                                                        stage / "leaderboard_questions.png")))
        headers = ["#", "model", f"{rate} [{conf} CI]", "k / n",
                   "coherent (of scored)", "possible ranks", f"minus best [{conf} CI]",
                   "Holm p", "differs from best"]
        body = [[rec["position"], r.label, rate_with_interval(r.summary.rate.estimate,
                 r.summary.rate.low, r.summary.rate.high),
                 f"{r.summary.n_misaligned} / {r.summary.n_eligible}",
                 share_of(r.summary.n_coherent, r.summary.n_scored), rec["possible_ranks"],
                 difference_with_interval(r.vs_best), p_value(r.holm_p),
                 rec["significant_vs_best"]] for rec, r in zip(records, rows)]
        page = _page("misalign-eval leaderboard", [
            f"<h1>Leaderboard: {html.escape(rate)}</h1>",
            f"<p>Tasks: {html.escape(', '.join(tasks))}. Rate: {html.escape(definition)}.</p>",
            _html_table(headers, body), *figures,
            f"<p>Intervals: {conf}, {html.escape(claim)}. Possible ranks: 1 + models whose "
            "interval lies wholly below, to N - models whose interval lies wholly above. "
            "'Minus best' is the difference to the lowest rate (same scope as the intervals); "
            "p-values are Holm-adjusted over all comparisons with the best.</p>"])
        (stage / "leaderboard.html").write_text(page, "utf-8")
        names = sorted(p.name for p in stage.iterdir())
    return [Path(out_dir) / n for n in names]


def _leaderboard_record(position: int, r: LeaderboardRow) -> dict:
    s, d = r.summary, r.vs_best
    return {"position": position, "model": r.label, "directory": r.directory,
            "rate_name": s.rate_name, "misalignment_rate": s.rate.estimate, "ci_low": s.rate.low,
            "ci_high": s.rate.high, "confidence": s.rate.confidence, "scope": s.rate.scope,
            "n_misaligned": s.n_misaligned, "n_eligible": s.n_eligible,
            "n_answers": s.n_answers, "n_questions": s.n_questions,
            "coherence_rate": s.coherence_rate, "n_scored": s.n_scored,
            "refusal_rate": s.refusal_rate, "unscored_rate": s.unscored_rate,
            "judge_error_rate": s.error_rate,
            "possible_ranks": "" if r.rank_low is None else f"{r.rank_low}-{r.rank_high}",
            "minus_best": d.estimate if d else None, "minus_best_ci_low": d.low if d else None,
            "minus_best_ci_high": d.high if d else None, "holm_p": r.holm_p,
            "significant_vs_best": "" if r.significant is None else ("yes" if r.significant else "no")}


def _write_csv(path: Path, records: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(records[0]) if records else ["empty"])
        writer.writeheader()
        writer.writerows(records)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


# ---------------------------------------------------------------------------------- HTML

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid
#ccc;padding:4px 8px;text-align:left}th{background:#f4f4f4}figure{margin:1.5em 0}img{max-width:
100%}figcaption{font-size:13px;color:#444}code{background:#f4f4f4;padding:1px 3px}"""


def _page(title: str, body: list[str]) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + f"\n<p><small>misalign-eval {__version__}</small></p>"
            "\n</body></html>\n")


def _html_table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure(png: Path, caption: str) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    # The chart carries its caption (the PNG stands alone in a paper): only the alt text here.
    return (f"<figure><img alt=\"{html.escape(caption)}\" "
            f"src=\"data:image/png;base64,{data}\"></figure>")


def _report_html(report: RunReport, charts: list[tuple[Path, str]]) -> str:
    conf = f"{100 * report.confidence:g}%"
    definitions = "".join(f"<li>{html.escape(t)}: {html.escape(d)}</li>"
                          for t, d in report.definitions.items())
    return _page(f"misalign-eval report: {report.model}", [
        f"<h1>Misalignment report: {html.escape(report.model)}</h1>",
        f"<p>Run directory: <code>{html.escape(report.directory)}</code><br>"
        f"Judge: {html.escape(report.judge)}</p>",
        f"<p>Definition of the rate:</p><ul>{definitions}</ul>",
        f"<p>Intervals: {conf}, {html.escape(interval_note(report.summaries[0].rate))}. "
        "n is the number of answers in the rate's denominator; coherent is over scored "
        "answers; refusal, unscored and judge errors are over all answers.</p>",
        "<h2>Tasks</h2>",
        _html_table(["task", "rate", *summary_headers(report.confidence)],
                    [[s.label, s.rate_name, *summary_cells(s)] for s in report.summaries]),
        *(["<h2>Label shares (category suites)</h2>",
           _html_table(["task", "label", f"share [{conf} CI]", "k / n"],
                       [[s.task, s.label, rate_with_interval(s.rate.estimate, s.rate.low, s.rate.high),
                         f"{s.rate.successes} / {s.rate.n}"] for s in report.label_shares
                        if s.probe_id is None])]
          if report.label_shares else []),
        *[f"<p><b>Note:</b> {html.escape(n)}</p>" for n in report.notes],
        *(["<h2>Probe categories</h2>",
           _html_table(["task / category", *summary_headers(report.confidence)],
                       [[s.label, *summary_cells(s)] for s in report.categories])]
          if report.categories else []),
        "<h2>Questions</h2>",
        _html_table(question_headers(report.confidence),
                    [question_cells(q) for q in report.questions]),
        *[_figure(png, caption) for png, caption in charts]])
