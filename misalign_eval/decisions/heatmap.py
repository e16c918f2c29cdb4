"""Per-question heatmaps: question by x (curve) or question by model (leaderboard).

The picture emergent-misalignment papers show: misalignment sits on few questions, and a
single pooled rate hides which. Each cell is the share of misaligned answers of one question
for one column, with k/n written in the cell when the grid is small enough to read.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)
import numpy as np  # noqa: E402

from misalign_eval.runs.pairing import AlignedTask, pooled  # noqa: E402

# Cells up to this many get their k/n written in them.
ANNOTATE_CELLS = 400


def question_heatmap(questions: list[str], columns: list[str], counts, column_axis: str,
                     title: str, caption: str, path: Path) -> Path:
    """``counts[q][c]`` = (misaligned, eligible). Grey cells: nothing eligible."""
    k = np.array([[c[0] for c in row] for row in counts], dtype=float)
    n = np.array([[c[1] for c in row] for row in counts], dtype=float)
    rate = np.where(n > 0, 100 * k / np.where(n > 0, n, 1.0), np.nan)
    g, c = rate.shape
    width = min(max(6.5, 2.8 + 0.75 * c), 22.0)
    wrap = int(width * 14)  # characters of 8-point text per line across the figure
    lines = len(textwrap.wrap(caption, wrap))
    height = 1.4 + 0.15 * lines + 0.3 * max(g, 3)
    fig, ax = plt.subplots(figsize=(width, height))
    cmap = plt.get_cmap("Reds").copy()
    cmap.set_bad("#dddddd")
    top = max(5.0, float(np.nanmax(rate)) if np.isfinite(rate).any() else 5.0)
    image = ax.imshow(np.ma.masked_invalid(rate), cmap=cmap, vmin=0, vmax=top, aspect="auto")
    # Tilt column labels that would not fit side by side (long model names).
    tilt = c > 6 or max(len(x) for x in columns) * c > 9 * (width - 2.8)
    ax.set_xticks(range(c), columns, fontsize=8, rotation=35 if tilt else 0,
                  ha="right" if tilt else "center")
    ax.set_yticks(range(g), questions, fontsize=8)
    ax.set_xlabel(column_axis, fontsize=10)
    ax.set_ylabel("probe question", fontsize=10)
    if g * c <= ANNOTATE_CELLS:
        for i in range(g):
            for j in range(c):
                text = "n/a" if n[i, j] == 0 else f"{int(k[i, j])}/{int(n[i, j])}"
                dark = np.isfinite(rate[i, j]) and rate[i, j] > 0.6 * top
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("misaligned answers (%)", fontsize=9)
    ax.set_title(title, fontsize=11, loc="left")
    fig.tight_layout(rect=(0, (0.25 + 0.15 * lines) / height, 1, 1))
    fig.text(0.01, 0.01, "\n".join(textwrap.wrap(caption, wrap)), fontsize=8, va="bottom",
             ha="left", color="#333333")
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def model_columns(aligned: list[AlignedTask], labels: list[str],
                  order: list[str]) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """Question ids and (misaligned, eligible) per question for each model in ``order``
    (labels of the runs in ``aligned``), every task's answers pooled per question."""
    per_run = {label: pooled(aligned, i) for i, label in enumerate(labels) if label in order}
    first = per_run[order[0]]
    counts = [[(per_run[m][q].n_misaligned, per_run[m][q].n_eligible) for m in order]
              for q in range(len(first))]
    return [c.probe_id for c in first], counts


def leaderboard_heatmap(aligned: list[AlignedTask], labels: list[str], order: list[str],
                        path: Path) -> tuple[Path, str]:
    """The leaderboard's question-by-model heatmap (models in board order) and its caption."""
    questions, counts = model_columns(aligned, labels, order)
    caption = ("Colour: share of misaligned answers per question and model (k/n in each "
               "cell: misaligned of the answers in the rate's denominator), answers of "
               f"{', '.join(t.task for t in aligned)} pooled per question; grey: none eligible. "
               "Models in leaderboard order, least misaligned first.")
    question_heatmap(questions, order, counts, "model", "Misalignment per question and model",
                     caption, path)
    return path, caption
