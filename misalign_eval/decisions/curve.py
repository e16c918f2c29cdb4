"""Misalignment along x (checkpoints, steering coefficients, data sizes), runs or seed groups.

Every point is one run or a group of fine-tuning seeds; all runs of all points are checked
comparable (same probes, rubrics, definition, judge: ``runs.pairing.align_runs``) and their
answers pooled over the shared tasks, question by question. Statistics (stats.trend), all on
these questions: a stratified trend test, the first x that differs from a reference point by
more than a margin (Holm), and optionally the first x from which the rate stays below a
threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from misalign_eval.decisions.groups import count_arrays, summarize_group
from misalign_eval.decisions.summary import Summary
from misalign_eval.decisions.tables import interval_note, markdown_table, p_value, pct, pp
from misalign_eval.errors import InputError
from misalign_eval.runs.pairing import align_runs, common_definition, pooled
from misalign_eval.runs.reader import ModelRun
from misalign_eval.stats.trend import (
    FirstBelow, FirstDifference, TrendResult, first_below, first_difference, trend_test,
)


@dataclass(frozen=True)
class CurvePoint:
    """A point to measure: its label, its x and its runs (one, or several seeds)."""

    label: str
    x: float
    runs: list[ModelRun]


@dataclass(frozen=True)
class PointResult:
    label: str
    x: float
    directories: list[str]
    summary: Summary
    questions: list[tuple[int, int]]  # (misaligned, eligible) per question, seeds pooled

    def to_json(self) -> dict:
        return {"label": self.label, "x": self.x, "directories": self.directories,
                "summary": self.summary.to_json()}


@dataclass(frozen=True)
class Curve:
    x_name: str
    tasks: list[str]
    definition: str
    confidence: float
    points: list[PointResult]  # sorted by x
    question_ids: list[str]
    trend: TrendResult
    trend_scores: str
    difference: FirstDifference
    below: FirstBelow | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"x": self.x_name, "tasks": self.tasks, "definition": self.definition,
                "confidence": self.confidence, "trend_scores": self.trend_scores,
                "points": [p.to_json() for p in self.points],
                "questions": {q: [list(p.questions[i]) for p in self.points]
                              for i, q in enumerate(self.question_ids)},
                "trend": self.trend.to_json(), "first_difference": self.difference.to_json(),
                "first_below": self.below.to_json() if self.below else None,
                "warnings": self.warnings}


def run_labels_of(points: list[CurvePoint]) -> list[str]:
    """One label per run: the point's label, with the seed's directory for groups."""
    return [p.label if len(p.runs) == 1 else f"{p.label} seed {i + 1} ({r.directory})"
            for p in points for i, r in enumerate(p.runs)]


def trend_scores(xs: list[float], log_x: bool) -> tuple[np.ndarray, str]:
    """Scores of the trend test: x, or log10 x on a log axis (ranks when some x <= 0)."""
    x = np.asarray(xs, dtype=float)
    if not log_x:
        return x, "x"
    if np.all(x > 0):
        return np.log10(x), "log10 x"
    return np.argsort(np.argsort(x)).astype(float), "rank of x (some x <= 0, no log)"


def build_curve(points: list[CurvePoint], x_name: str, *, confidence: float = 0.95,
                reference: float | None = None, margin: float = 0.0, alpha: float = 0.05,
                threshold: float | None = None, log_x: bool = False,
                allow_judge_change: bool = False, warn=None) -> Curve:
    """Rates per point with intervals on these questions, and the curve's tests."""
    if len(points) < 2:
        raise InputError("a curve needs at least 2 points (runs or --group seed groups)")
    points = sorted(points, key=lambda p: p.x)
    for a, b in zip(points, points[1:]):
        if a.x == b.x:
            raise InputError(f"{a.label} and {b.label} have the same x ({a.x:g}); seeds of one "
                             "condition go together as --group NAME=DIR [DIR ...]")
    seen: dict = {}
    for p in points:
        for r in p.runs:
            key = r.directory.resolve()
            if key in seen:
                raise InputError(f"{r.directory} is given twice ({seen[key]} and {p.label})")
            seen[key] = p.label
    runs = [r for p in points for r in p.runs]
    aligned = align_runs(runs, run_labels_of(points), allow_judge_change, warn)
    definition = common_definition(aligned)
    per_run = [pooled(aligned, i) for i in range(len(runs))]
    results, ks, ns, start = [], [], [], 0
    for p in points:
        counts = per_run[start:start + len(p.runs)]
        start += len(p.runs)
        k, n = count_arrays(counts)
        ks.append(k)
        ns.append(n)
        summary = summarize_group(p.label, counts, confidence)
        results.append(PointResult(p.label, p.x, [str(r.directory) for r in p.runs], summary,
                                   [(int(a), int(b)) for a, b in zip(k.sum(0), n.sum(0))]))
    xs = [p.x for p in points]
    scores, score_name = trend_scores(xs, log_x)
    ref = _reference_index(xs, reference)
    warnings = [f"{p.label}: no eligible answers" for p in results if p.summary.n_eligible == 0]
    if warnings:
        raise InputError("; ".join(warnings) + " (nothing to put on the curve)")
    trend = trend_test(ks, ns, scores)
    if trend.warning:
        warnings.append(trend.warning)
    difference = first_difference(ks, ns, xs, reference=ref, margin=margin, alpha=alpha)
    below = (first_below(ks, ns, xs, threshold=threshold, alpha=alpha)
             if threshold is not None else None)
    return Curve(x_name, [t.task for t in aligned], definition, confidence, results,
                 [c.probe_id for c in per_run[0]], trend, score_name, difference, below, warnings)


def _reference_index(xs: list[float], reference: float | None) -> int:
    if reference is None:
        return 0
    for i, x in enumerate(xs):
        if math.isclose(x, reference, rel_tol=1e-12, abs_tol=1e-12):
            return i
    raise InputError(f"--reference {reference:g} is not the x of any point "
                     f"({', '.join(f'{x:g}' for x in xs)})")


# --------------------------------------------------------------------------- tables and CSV


def x_text(x: float) -> str:
    return f"{x:g}"


def curve_rows(curve: Curve) -> list[dict]:
    """One record per point: rate, interval, n, and its comparison with the reference."""
    diffs = {d.x: d for d in curve.difference.points}
    upper = dict(zip(curve.below.x, curve.below.upper_bounds)) if curve.below else {}
    rows = []
    for p in curve.points:
        r, d = p.summary.rate, diffs.get(p.x)
        rows.append({
            curve.x_name: p.x, "label": p.label, "misalignment_rate": r.estimate,
            "ci_low": r.low, "ci_high": r.high, "confidence": r.confidence, "scope": r.scope,
            "n_misaligned": p.summary.n_misaligned, "n_eligible": p.summary.n_eligible,
            "n_questions": p.summary.n_questions, "n_runs": len(p.directories),
            "between_seed_sd": getattr(r, "between_seed_sd", None),
            "minus_reference": d.estimate if d else None,
            "minus_reference_ci_low": d.low if d else None,
            "minus_reference_ci_high": d.high if d else None,
            "p_value": d.p_value if d else None, "p_holm": d.p_holm if d else None,
            "differs_from_reference": None if d is None else d.differs,
            "upper_bound_one_sided": upper.get(p.x)})
    return rows


def question_records(curve: Curve) -> list[dict]:
    return [{"question": q, curve.x_name: p.x, "label": p.label, "n_misaligned": p.questions[i][0],
             "n_eligible": p.questions[i][1],
             "misalignment_rate": p.questions[i][0] / p.questions[i][1] if p.questions[i][1] else None}
            for i, q in enumerate(curve.question_ids) for p in curve.points]


def curve_markdown(curve: Curve) -> str:
    conf = f"{100 * curve.confidence:g}%"
    diffs = {d.x: d for d in curve.difference.points}
    body = []
    for p in curve.points:
        r, d = p.summary.rate, diffs.get(p.x)
        interval = "n/a" if r.low is None else f"[{pct(r.low)}, {pct(r.high)}]"
        vs = "reference" if d is None else (f"{pp(d.estimate)} [{pp(d.low)}, {pp(d.high)}], "
                                            f"Holm p {p_value(d.p_holm)}")
        runs = str(len(p.directories))
        body.append([x_text(p.x), p.label, pct(r.estimate), interval,
                     f"{p.summary.n_misaligned} / {p.summary.n_eligible}",
                     str(p.summary.n_questions), runs, vs])
    table = markdown_table([curve.x_name, "run", "rate", f"{conf} CI", "misaligned / n",
                            "questions", "runs", f"minus reference [{1 - curve.difference.alpha:.0%} CI]"],
                           body)
    notes = sorted({interval_note(p.summary.rate, False) for p in curve.points})
    lines = [f"## Misalignment by {curve.x_name}: {', '.join(curve.tasks)}", "", table, "",
             f"- rate: {curve.definition}",
             *[f"- intervals: {conf}, {n}" for n in notes],
             f"- trend: {trend_line(curve)}",
             f"- first difference: {difference_line(curve)}"]
    if curve.below is not None:
        lines.append(f"- stays below: {below_line(curve)}")
    lines += [f"- warning: {w}" for w in curve.warnings]
    return "\n".join(lines)


def trend_line(curve: Curve) -> str:
    t = curve.trend
    z = f", z = {t.z:+.2f} (normal p {p_value(t.p_asymptotic)})" if t.p_asymptotic is not None else ""
    return (f"{t.direction}, {p_is(t.p_value)} (two-sided){z}; scores {curve.trend_scores}; "
            f"{t.method}; on these {t.n_questions} questions, {t.n_points} points, n = {t.n}")


def p_is(p) -> str:
    """'p = 0.012' or 'p < 0.001'."""
    text = p_value(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def difference_line(curve: Curve) -> str:
    d = curve.difference
    band = f"by more than {100 * d.margin:g} pp" if d.margin else "at all"
    found = (f"{curve.x_name} = {x_text(d.first_x)}" if d.first_x is not None
             else "none")
    return (f"{found} (first {curve.x_name} whose rate differs from the reference "
            f"{curve.x_name} = {x_text(d.reference_x)} {band}, family-wise alpha {d.alpha:g}; "
            f"{d.method})")


def below_line(curve: Curve) -> str:
    b = curve.below
    found = f"from {curve.x_name} = {x_text(b.first_x)} on" if b.first_x is not None else "not shown"
    return (f"{found} (rate below {pct(b.threshold)} at that point and every later one, "
            f"confidence {1 - b.alpha:.0%}; {b.method})")
