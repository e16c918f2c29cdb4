"""What ``misalign-eval agreement`` prints and writes: Markdown, JSON, the table of the
answers the judges disagree on most, and a scatter plot of the judges' scores."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from misalign_eval import __version__
from misalign_eval.decisions.agreement import AgreementReport, disagreements
from misalign_eval.decisions.outputs import staged_directory
from misalign_eval.decisions.summary import scope_words
from misalign_eval.decisions.tables import markdown_table, pct, pp, rate_with_interval
from misalign_eval.stats.agreement import ALPHA_METHOD, KAPPA_METHOD


def _num(x, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _estimate(e) -> str:
    if e.estimate is None:
        return f"n/a ({e.note})"
    if e.low is None:
        return f"{e.estimate:.2f} (no interval: {e.note})"
    return f"{e.estimate:.2f} [{e.low:.2f}, {e.high:.2f}]"


def _triple(t, fmt) -> str:
    est, low, high = t
    if est is None:
        return "n/a"
    return fmt(est) if low is None else f"{fmt(est)} [{fmt(low)}, {fmt(high)}]"


def agreement_markdown(report: AgreementReport) -> str:
    conf = f"{100 * report.confidence:g}%"
    runs = [f"- {label}: judge {judge}" for label, judge in zip(report.labels, report.judges)]
    rate_rows = [[t.task, str(t.n_matched), str(t.n_scored_by_all), str(t.n_questions),
                  *[f"{rate_with_interval(r.estimate, r.low, r.high)} ({r.successes} / {r.n})"
                    for r in t.rates]] for t in report.tasks]
    pair_rows = [[t.task, f"{p.b} vs {p.a}", _triple(p.disagreement, pct),
                  _triple(p.difference, pp), _estimate(p.kappa),
                  _num(p.spearman["alignment"][0]), _num(p.spearman["coherence"][0])]
                 for t in report.tasks for p in t.pairs]
    alpha_rows = [[t.task, _estimate(t.alpha)] for t in report.tasks]
    last = report.tasks[-1]
    tables = []
    for p in last.pairs:
        (aa, am), (ma, mm) = p.table
        tables += [f"Labels on the answers both scored ({last.task}): rows {p.a}, columns {p.b}",
                   "", markdown_table([f"{p.a} \\ {p.b}", "not misaligned", "misaligned"],
                                      [["not misaligned", str(aa), str(am)],
                                       ["misaligned", str(ma), str(mm)]]), ""]
    parts = ["## Judge agreement", "", *runs, "",
             markdown_table(["task", "answers matched", "scored by every judge", "questions",
                             *[f"rate by {label} [{conf} CI] (k / n)" for label in report.labels]],
                            rate_rows), "",
             markdown_table(["task", "judges", f"labelled differently [{conf} CI]",
                             f"paired difference in share misaligned [{conf} CI]",
                             f"Cohen's kappa [{conf} CI]", "Spearman rho (alignment)",
                             "Spearman rho (coherence)"], pair_rows), "",
             markdown_table(["task", f"Krippendorff's alpha, {len(report.labels)} judges "
                                     f"[{conf} CI]"], alpha_rows), "", *tables,
             f"- misaligned: {'; '.join(report.definitions)} (each judge's label follows its "
             "run's definition; an answer a judge found incoherent is not misaligned for it)",
             f"- rates: over each judge's own denominator, {conf} intervals "
             f"{scope_words('questions', last.n_questions)}",
             "- agreement, differences and rank correlations: over the answers every judge "
             "scored; intervals from a delete-one-question jackknife (a claim about "
             "questions like these)",
             f"- kappa: {KAPPA_METHOD}", f"- alpha: {ALPHA_METHOD}"]
    parts += [f"- note: {n}" for n in report.notes]
    return "\n".join(parts)


def write_agreement(report: AgreementReport, markdown: str, out_dir: Path) -> list[Path]:
    """agreement.md, agreement.json, disagreements.csv and scores.png, all or nothing."""
    rows = disagreements(report)
    with staged_directory(out_dir) as stage:
        (stage / "agreement.md").write_text(markdown + "\n", "utf-8")
        (stage / "agreement.json").write_text(json.dumps(
            {"tool": f"misalign-eval {__version__}", **report.to_json()}, indent=2), "utf-8")
        with (stage / "disagreements.csv").open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["empty"])
            writer.writeheader()
            writer.writerows(rows)
        scatter(report, stage / "scores.png")
        names = sorted(p.name for p in stage.iterdir())
    return [Path(out_dir) / n for n in names]


def scatter(report: AgreementReport, path: Path) -> Path:
    """Alignment scores of the first judge against each other judge's, per answer both
    scored; points where the labels differ in orange, threshold lines dashed."""
    from misalign_eval.decisions.plots import plt

    first = report.matched.per_run[0]
    others = report.matched.per_run[1:]
    fig, axes = plt.subplots(1, len(others), figsize=(5.2 * len(others), 5.4), squeeze=False)
    for ax, label, grading in zip(axes[0], report.labels[1:], others):
        pairs = [(a, b) for a, b in zip(first, grading) if a.alignment is not None
                 and b.alignment is not None]
        same = [(a.alignment, b.alignment) for a, b in pairs if a.misaligned == b.misaligned]
        differ = [(a.alignment, b.alignment) for a, b in pairs if a.misaligned != b.misaligned]
        for points, colour, name in ((same, "#1b9e77", "same label"),
                                     (differ, "#d95f02", "labels differ")):
            if points:
                ax.scatter(*zip(*points), s=9, alpha=0.5, color=colour, label=f"{name} ({len(points)})")
        ax.plot([0, 100], [0, 100], color="#999999", linewidth=0.8)
        ax.set_xlim(-2, 102)
        ax.set_ylim(-2, 102)
        ax.set_xlabel(f"alignment score, {report.labels[0]}")
        ax.set_ylabel(f"alignment score, {label}")
        ax.set_title(f"{label} vs {report.labels[0]}", fontsize=11, loc="left")
        ax.legend(fontsize=8, loc="upper left")
    fig.text(0.01, 0.01, "Each point: one answer scored by both judges (0-100, logprob-weighted).",
             fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
