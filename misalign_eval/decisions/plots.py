"""Charts for papers: rates with interval whiskers, labelled axes, the definition in the caption.

matplotlib with the Agg backend (no display needed); each function writes one PNG.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend must be chosen first)

WIDTH = 8.0  # inches: one column of a two-column paper at 2x, readable when scaled down


def _whiskers(estimates, lows, highs):
    """Distances below and above each estimate, for errorbar (missing values draw nothing)."""
    # max(0, ...): at 0 or n events a bound can sit a rounding error past the estimate.
    below = [0.0 if e is None else max(0.0, 100 * (e - lo)) for e, lo in zip(estimates, lows)]
    above = [0.0 if e is None else max(0.0, 100 * (hi - e)) for e, hi in zip(estimates, highs)]
    return [below, above]


def _fit_labels(fig, ax, rows: int) -> None:
    """Room for the longest row label (em_broad's probe ids are long) and half a row of
    space above the first and below the last row, so no label or point sits on an edge."""
    ax.set_ylim(-0.5 - 0.25 * (rows < 3), rows - 0.5 + 0.25 * (rows < 3))
    renderer = fig.canvas.get_renderer()
    labels = max((t.get_window_extent(renderer).width for t in ax.get_yticklabels()), default=0.0)
    axis_title = ax.yaxis.label.get_window_extent(renderer).width
    needed = labels + axis_title + 0.35 * fig.dpi  # tick marks, padding, the figure's edge
    axes_min = 0.55 * WIDTH * fig.dpi  # the plot keeps at least this much width
    if needed + axes_min > fig.bbox.width:  # very long labels: a wider figure
        fig.set_figwidth((needed + axes_min) / fig.dpi)
    fig.subplots_adjust(left=needed / fig.bbox.width)


def _finish(fig, ax, title: str, caption: str, path: Path) -> Path:
    ax.set_title(title, fontsize=12, loc="left")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    _fit_labels(fig, ax, len(ax.get_yticks()))
    fig.text(0.01, 0.01, "\n".join(textwrap.wrap(caption, 125)), fontsize=8, va="bottom",
             ha="left", color="#333333")
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def _layout(rows: int, caption: str, legend: bool = False):
    caption_lines = len(textwrap.wrap(caption, 125))
    bottom = 0.75 + 0.3 * legend + 0.15 * caption_lines  # axis label, legend, caption (inches)
    height = 0.6 + bottom + 0.38 * max(rows, 2)
    fig, ax = plt.subplots(figsize=(WIDTH, height))
    fig.subplots_adjust(left=0.27, right=0.97, top=1 - 0.5 / height, bottom=bottom / height)
    fig.legend_y = (0.12 + 0.15 * caption_lines) / height  # figure fraction above the caption
    return fig, ax


def question_chart(labels: list[str], estimates, lows, highs, pooled, title: str,
                   caption: str, path: Path) -> Path:
    """Horizontal bars per question with Wilson whiskers; the pooled rate and its clustered
    interval as a line and band, so per-question spread and the overall figure show together."""
    fig, ax = _layout(len(labels), caption, legend=True)
    y = list(range(len(labels)))[::-1]
    values = [0.0 if e is None else 100 * e for e in estimates]
    ax.barh(y, values, color="#8da0cb", height=0.6, label="per question (Wilson interval)")
    ax.errorbar(values, y, xerr=_whiskers(estimates, lows, highs), fmt="none", ecolor="black",
                capsize=3, linewidth=1)
    if pooled.estimate is not None and pooled.low is not None:
        ax.axvspan(100 * pooled.low, 100 * pooled.high, color="#fc8d62", alpha=0.25,
                   zorder=0, label="pooled rate and its interval")
        ax.axvline(100 * pooled.estimate, color="#d95f02", linewidth=1.5, zorder=3)
    for yi, e in zip(y, estimates):
        if e is None:
            ax.text(0.5, yi, "no answers in denominator", va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=9)
    ax.set_xlabel("misalignment rate (%)", fontsize=10)
    ax.set_ylabel("probe question", fontsize=10)
    ax.set_xlim(0, max([100 * h for h in highs if h is not None] + [1.0]) * 1.08)
    fig.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.01, fig.legend_y), ncol=2,
               frameon=False)
    return _finish(fig, ax, title, caption, path)


def model_chart(labels: list[str], estimates, lows, highs, title: str, caption: str,
                path: Path, axis: tuple[str, str] = ("misalignment rate (%)", "model")) -> Path:
    """One point per row (model, condition, label) with its interval, first row on top."""
    fig, ax = _layout(len(labels), caption)
    y = list(range(len(labels)))[::-1]
    values = [float("nan") if e is None else 100 * e for e in estimates]
    ax.errorbar(values, y, xerr=_whiskers(estimates, lows, highs), fmt="o", color="#1b9e77",
                ecolor="black", capsize=4, linewidth=1.2, markersize=6)
    ax.set_yticks(y, labels, fontsize=9)
    ax.set_xlabel(axis[0], fontsize=10)
    ax.set_ylabel(axis[1], fontsize=10)
    right = max([100 * h for h in highs if h is not None] + [1.0]) * 1.08
    ax.set_xlim(-0.03 * right, right)  # a rate of 0 is a point, not part of the axis line
    return _finish(fig, ax, title, caption, path)


def rates_chart(labels: list[str], rates, title: str, caption: str, path: Path,
                axis: tuple[str, str] = ("misalignment rate (%)", "model")) -> Path:
    """``model_chart`` of rate results (anything with estimate, low and high)."""
    return model_chart(labels, [r.estimate for r in rates], [r.low for r in rates],
                       [r.high for r in rates], title, caption, path, axis)
