"""Files of `misalign-eval curve`: curve.png, curve_questions.png, curve.csv,
curve_questions.csv, curve.json and curve.md, written all or nothing (outputs.staged_directory)."""

from __future__ import annotations

import csv
import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import numpy as np  # noqa: E402

from misalign_eval import __version__  # noqa: E402
from misalign_eval.decisions.curve import (  # noqa: E402
    Curve, curve_markdown, curve_rows, question_records, x_text,
)
from misalign_eval.decisions.heatmap import question_heatmap  # noqa: E402
from misalign_eval.decisions.outputs import staged_directory  # noqa: E402
from misalign_eval.decisions.summary import scope_words  # noqa: E402


def curve_caption(curve: Curve) -> str:
    conf = f"{100 * curve.confidence:g}%"
    first = curve.points[0].summary.rate
    seeds = any(len(p.directories) > 1 for p in curve.points)
    parts = [f"Points: misalignment rate at each {curve.x_name} (answers of "
             f"{', '.join(curve.tasks)} pooled); whiskers: {conf} intervals "
             f"{scope_words(first.scope, first.n_questions)}"
             + (", seed groups with between-seed variation added" if seeds else "") + ".",
             f"n (answers in the denominator) is written above each point. Trend p = "
             f"{curve.trend.p_value:.3g}."]
    if curve.difference.first_x is not None:
        parts.append(f"Dotted line: first {curve.x_name} differing from the reference "
                     f"({x_text(curve.difference.reference_x)}), Holm-corrected.")
    if curve.below is not None:
        parts.append(f"Dashed line: threshold {100 * curve.below.threshold:g}%"
                     + (f"; below it with confidence from {x_text(curve.below.first_x)} on."
                        if curve.below.first_x is not None else "."))
    parts.append(f"Rate: {curve.definition}.")
    return " ".join(parts)


def curve_chart(curve: Curve, path: Path, log_x: bool = False) -> Path:
    """Rate with interval whiskers against x (linear, log or symlog when some x <= 0)."""
    caption = curve_caption(curve)
    lines = len(textwrap.wrap(caption, 115))
    height = 4.2 + 0.15 * lines
    fig, ax = plt.subplots(figsize=(8.0, height))
    xs = np.array([p.x for p in curve.points])
    rates = [p.summary.rate for p in curve.points]
    est = np.array([np.nan if r.estimate is None else 100 * r.estimate for r in rates])
    below = [0.0 if r.low is None or r.estimate is None else max(0.0, 100 * (r.estimate - r.low))
             for r in rates]
    above = [0.0 if r.high is None or r.estimate is None else max(0.0, 100 * (r.high - r.estimate))
             for r in rates]
    ax.errorbar(xs, est, yerr=[below, above], fmt="o-", color="#1b9e77", ecolor="black",
                capsize=4, linewidth=1.2, markersize=6)
    for p, x, e, up in zip(curve.points, xs, est, above):
        if np.isfinite(e):
            ax.annotate(f"n={p.summary.n_eligible}", (x, e + up), textcoords="offset points",
                        xytext=(0, 5), ha="center", fontsize=7, color="#555555")
    if log_x:
        if np.all(xs > 0):
            ax.set_xscale("log")
        else:
            positive = np.abs(xs[xs != 0])
            ax.set_xscale("symlog", linthresh=float(positive.min()) if positive.size else 1.0)
    if curve.difference.first_x is not None:
        ax.axvline(curve.difference.first_x, color="#7570b3", linestyle=":", linewidth=1.5)
    if curve.below is not None:
        ax.axhline(100 * curve.below.threshold, color="#d95f02", linestyle="--", linewidth=1)
    top = max([100 * r.high for r in rates if r.high is not None] + [1.0])
    ax.set_ylim(0, top * 1.18)  # room for the n labels
    ax.set_xlabel(curve.x_name + (" (log scale)" if log_x else ""), fontsize=10)
    ax.set_ylabel("misalignment rate (%)", fontsize=10)
    ax.set_title(f"Misalignment rate by {curve.x_name}", fontsize=12, loc="left")
    ax.grid(alpha=0.3)
    fig.tight_layout(rect=(0, (0.2 + 0.15 * lines) / height, 1, 1))
    fig.text(0.01, 0.01, "\n".join(textwrap.wrap(caption, 115)), fontsize=8, va="bottom",
             ha="left", color="#333333")
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def write_curve(curve: Curve, out_dir: Path, log_x: bool = False) -> list[Path]:
    """Every file of the curve, staged and moved into ``out_dir`` together."""
    with staged_directory(out_dir) as stage:
        (stage / "curve.md").write_text(curve_markdown(curve) + "\n", "utf-8")
        (stage / "curve.json").write_text(json.dumps(
            {"tool": f"misalign-eval {__version__}", **curve.to_json()}, indent=2), "utf-8")
        _csv(stage / "curve.csv", curve_rows(curve))
        _csv(stage / "curve_questions.csv", question_records(curve))
        curve_chart(curve, stage / "curve.png", log_x)
        columns = [x_text(p.x) for p in curve.points]
        counts = [[p.questions[i] for p in curve.points] for i in range(len(curve.question_ids))]
        question_heatmap(curve.question_ids, columns, counts, curve.x_name,
                         f"Misalignment per question by {curve.x_name}",
                         f"Colour: share of misaligned answers per question at each "
                         f"{curve.x_name} (k/n in each cell; seeds pooled); grey: none eligible. "
                         f"Rate: {curve.definition}.", stage / "curve_questions.png")
        names = sorted(p.name for p in stage.iterdir())
    return [Path(out_dir) / n for n in names]


def _csv(path: Path, records: list[dict]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(records[0]) if records else ["empty"])
        writer.writeheader()
        writer.writerows(records)
