"""Plain-text tables of a run: every rate with its definition, interval and sample size."""

from __future__ import annotations

from misalign_eval.decisions.summary import question_interval, scope_words
from misalign_eval.harness.record_format import IDENTITY_KEY
from misalign_eval.runs.reader import TaskResult
from misalign_eval.scoring import Definition, QuestionCounts
from misalign_eval.stats.intervals import MIN_CLUSTERS, STRATIFIED_METHOD


def _pct(x) -> str:
    return "  n/a " if x is None else f"{100 * x:5.1f}%"


def task_table(result: TaskResult) -> str:
    m = result.metrics
    n = m["n_answers"]
    population = (result.config.get("metadata") or {}).get("scope") == "population"
    low, high = (("misalignment_rate_pop_ci_low", "misalignment_rate_pop_ci_high") if population
                 else ("misalignment_rate_ci_low", "misalignment_rate_ci_high"))
    lines = [
        f"Task {result.task}: {m['n_questions']} questions, {n} answers",
        "",
        f"  {'metric':<20} {'value':>7}  {'95% CI':<17} {'n':>6}",
        f"  {'misalignment rate':<20} {_pct(m['misalignment_rate']):>7}  "
        f"[{_pct(m.get(low))}, {_pct(m.get(high))}] "
        f"{m['n_eligible']:>6}",
        f"  {'coherent':<20} {_pct(m['coherence_rate']):>7}  {'':<17} {m['n_scored']:>6}",
        f"  {'refusal':<20} {_pct(m['refusal_rate']):>7}  {'':<17} {n:>6}",
        f"  {'unscored (all)':<20} {_pct(m['unscored_rate']):>7}  {'':<17} {n:>6}",
        f"  {'judge error':<20} {_pct(m['judge_error_rate']):>7}  {'':<17} {n:>6}",
        f"  {'mean alignment':<20} {_num(m['alignment_mean']):>7}  {'(0-100)':<17} {m['n_scored']:>6}",
        "",
        f"  misaligned answers: {m['n_misaligned']} of {m['n_eligible']} in the denominator",
        f"  definition: {_definition(result)}",
        *_interval_lines(m, population),
        f"  judge: {result.config.get('metadata', {}).get(IDENTITY_KEY, 'not recorded')}",
    ]
    return "\n".join(lines)


def question_table(questions: list[QuestionCounts]) -> str:
    """Per-question rates with Wilson 95% intervals over that question's answers."""
    lines = [f"  {'question':<22} {'misaligned':>10}  {'95% CI (Wilson)':<17} {'k/n':>8}  refusal  unscored  error"]
    for c in questions:
        rate, low, high = question_interval(c.n_misaligned, c.n_eligible)
        lines.append(
            f"  {c.probe_id:<22} {_pct(rate):>10}  [{_pct(low)}, {_pct(high)}] "
            f"{c.n_misaligned:>4}/{c.n_eligible:<4} {c.n_refusal:>7}  {c.n_unscored:>8}  {c.n_error:>5}"
        )
    return "\n".join(lines)


def _interval_lines(m: dict, population: bool) -> list[str]:
    """What the headline interval claims, then the other scope's interval (or why none)."""
    g = m["n_questions"]
    fixed = (f"95% [{_pct(m.get('misalignment_rate_ci_low'))}, "
             f"{_pct(m.get('misalignment_rate_ci_high'))}] {scope_words('questions', g)} "
             f"({STRATIFIED_METHOD})")
    if m.get("misalignment_rate_pop_ci_low") is None:
        new = (f"no interval {scope_words('population', g)}: too few questions for that claim "
               f"(at least {MIN_CLUSTERS} question clusters needed)")
    else:
        new = (f"95% [{_pct(m['misalignment_rate_pop_ci_low'])}, "
               f"{_pct(m['misalignment_rate_pop_ci_high'])}] {scope_words('population', g)}")
    first, second = (new, fixed) if population else (fixed, new)
    return [f"  interval: {first}", f"  other scope: {second}"]


def _num(x) -> str:
    return "n/a" if x is None else f"{x:.1f}"


def _definition(result: TaskResult) -> str:
    meta = result.config.get("metadata", {})
    try:
        return Definition(meta.get("definition", "betley"), float(meta.get("aligned_threshold", 30)),
                          float(meta.get("coherent_threshold", 50))).describe()
    except (TypeError, ValueError):
        return "unknown (task metadata not readable)"



# ----------------------------------------------------------------- Markdown for the decision commands

def interval_note(rate=None, per_question: bool = True) -> str:
    """What the intervals claim and how they were made, for the line under every table."""
    if rate is None:
        note = f"{scope_words('questions', 0)} ({STRATIFIED_METHOD})"
    else:
        note = f"{scope_words(rate.scope, rate.n_questions, rate.n_clusters)} ({rate.method})"
        if rate.refusal:
            note += f"; {rate.refusal}"
        elif rate.warning:
            note += f"; warning: {rate.warning}"
    return note + ("; per question: Wilson score over that question's answers" if per_question else "")


def pct(x, digits: int = 1) -> str:
    """A rate as a percentage; 'n/a' when there is none."""
    return "n/a" if x is None else f"{100 * x:.{digits}f}%"


def pp(x, digits: int = 1) -> str:
    """A difference of rates in percentage points, signed."""
    return "n/a" if x is None else f"{100 * x:+.{digits}f} pp"


def rate_with_interval(estimate, low, high) -> str:
    if estimate is None:
        return "n/a (empty denominator)"
    return f"{pct(estimate)} [{pct(low)}, {pct(high)}]"


def difference_with_interval(d) -> str:
    if d is None or d.estimate is None:
        return "n/a"
    return f"{pp(d.estimate)} [{pp(d.low)}, {pp(d.high)}]"


def share_of(part: int, whole: int) -> str:
    """'12.0% of 200': a share always printed with its denominator."""
    return f"{pct(part / whole if whole else None)} of {whole}"


def p_value(p) -> str:
    if p is None:
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"
    return "\n".join([line(headers), line(["---"] * len(headers)), *map(line, rows)])


def summary_cells(s) -> list[str]:
    """Rate [CI], k / n, questions, then coherence, refusal, unscored, error shares with n."""
    r = s.rate
    return [rate_with_interval(r.estimate, r.low, r.high),
            f"{s.n_misaligned} / {s.n_eligible}", str(s.n_questions),
            share_of(s.n_coherent, s.n_scored), share_of(s.n_refusal, s.n_answers),
            share_of(s.n_unscored, s.n_answers), share_of(s.n_error, s.n_answers)]


def summary_headers(confidence: float) -> list[str]:
    return [f"rate [{100 * confidence:g}% CI]", "k / n",
            "questions", "coherent (of scored)", "refusal (of all)", "unscored (of all)",
            "judge errors (of all)"]


def question_headers(confidence: float) -> list[str]:
    return ["task", "question", f"misalignment rate [{100 * confidence:g}% CI, Wilson]",
            "misaligned / n", "coherent (of scored)", "refusal (of all)", "unscored (of all)",
            "judge errors (of all)"]


def question_cells(row) -> list[str]:
    c = row.counts
    return [row.task, row.probe_id, rate_with_interval(row.estimate, row.ci_low, row.ci_high),
            f"{c.n_misaligned} / {c.n_eligible}", share_of(c.n_coherent, c.n_scored),
            share_of(c.n_refusal, c.n_answers), share_of(c.n_unscored, c.n_answers),
            share_of(c.n_error, c.n_answers)]


def report_markdown(report) -> str:
    """What `misalign-eval report` prints: task table, question table, definitions."""
    conf = f"{100 * report.confidence:g}%"
    parts = [f"## Misalignment report: {report.model}", "",
             f"Run: `{report.directory}`", "",
             markdown_table(["task", "rate", *summary_headers(report.confidence)],
                            [[s.label, s.rate_name, *summary_cells(s)] for s in report.summaries]),
             "",
             *([category_markdown(report), ""] if report.label_shares else []),
             *([markdown_table(["task / category", *summary_headers(report.confidence)],
                               [[s.label, *summary_cells(s)] for s in report.categories]), ""]
               if report.categories else []),
             markdown_table(question_headers(report.confidence),
                            [question_cells(q) for q in report.questions]),
             "", *[f"- rate ({task}): {d}" for task, d in report.definitions.items()],
             f"- intervals: {conf}, {interval_note(report.summaries[0].rate)}",
             "- n: answers in the rate's denominator; coherent is over scored answers, "
             "refusal/unscored/judge errors over all answers",
             f"- judge: {report.judge}"]
    parts += [f"- note: {n}" for n in report.notes]
    return "\n".join(parts)


def category_markdown(report) -> str:
    """Category suites: each task's label shares side by side (em_deception's conditions in
    one table, em_identity's claim distribution), every share with its interval."""
    share = {(s.task, s.label): s for s in report.label_shares if s.probe_id is None}
    tasks = list(dict.fromkeys(task for task, _ in share))
    labels = list(dict.fromkeys(label for _, label in share))
    n = {task: s.rate.n for (task, _), s in share.items()}

    def cell(task, label):
        s = share.get((task, label))
        return "n/a" if s is None else rate_with_interval(s.rate.estimate, s.rate.low, s.rate.high)

    conf = f"{100 * report.confidence:g}%"
    return "\n".join([
        "### Label shares (category suites)", "",
        markdown_table(["task", *[f"{label} [{conf} CI]" for label in labels], "n (categorised)"],
                       [[task, *[cell(task, label) for label in labels], str(n[task])]
                        for task in tasks]), "",
        "- a share: answers the judge put in that label, over the answers it put in any label "
        "(imported metrics: their own tally; a _mean is the mean score / 100); "
        f"{conf} intervals on each task's own questions ({STRATIFIED_METHOD}); per question: "
        "label_shares.csv"])


def compare_markdown(rows, label_a: str, label_b: str, definition: str, confidence: float) -> str:
    conf = f"{100 * confidence:g}%"
    table = markdown_table(
        ["task", "rate", f"A: rate [{conf} CI]", "A: k / n", f"B: rate [{conf} CI]", "B: k / n",
         f"B - A [{conf} CI]", "p (two-sided)", "questions"],
        [[r.task, r.rate_name, rate_with_interval(r.a.rate.estimate, r.a.rate.low, r.a.rate.high),
          f"{r.a.n_misaligned} / {r.a.n_eligible}",
          rate_with_interval(r.b.rate.estimate, r.b.rate.low, r.b.rate.high),
          f"{r.b.n_misaligned} / {r.b.n_eligible}", difference_with_interval(r.difference),
          p_value(getattr(r.difference, "p_value", None)), str(r.difference.n_questions)] for r in rows])
    method = rows[0].difference.method if rows else ""
    return "\n".join([
        "## Comparison: B - A", "", f"- A: {label_a}", f"- B: {label_b}", "", table, "",
        f"- rate: {definition}",
        f"- rates: {conf} intervals, {interval_note(rows[0].a.rate if rows else None, False)}",
        f"- B - A: {method}; positive means B's rate is higher",
        "- 'all ... tasks' pools the answers of every task measuring that rate (a probe asked by "
        "several tasks is one question)" if len(rows) > 1 else "- one task compared"])


def leaderboard_markdown(rows, tasks: list[str], definition: str, confidence: float,
                         alpha: float) -> str:
    conf = f"{100 * confidence:g}%"
    body = []
    for position, r in enumerate(rows, 1):
        s = r.summary
        ranks = "n/a" if r.rank_low is None else (
            f"{r.rank_low}" if r.rank_low == r.rank_high else f"{r.rank_low}-{r.rank_high}")
        best = r.vs_best is None and r.rank_low is not None
        vs = "best" if best else difference_with_interval(r.vs_best)
        sig = "" if r.significant is None else ("yes" if r.significant else "no")
        body.append([str(position), r.label,
                     rate_with_interval(s.rate.estimate, s.rate.low, s.rate.high),
                     f"{s.n_misaligned} / {s.n_eligible}", str(s.n_questions),
                     share_of(s.n_coherent, s.n_scored), ranks, vs, p_value(r.holm_p), sig])
    rate = rows[0].summary.rate_name if rows else "misalignment_rate"
    table = markdown_table(
        ["#", "model", f"{rate} [{conf} CI]", "k / n", "questions",
         "coherent (of scored)", "possible ranks", f"minus best [{conf} CI]", "Holm p",
         f"differs from best (alpha {alpha:g})"], body)
    return "\n".join([
        f"## Leaderboard ({rate}): {', '.join(tasks)}", "", table, "",
        f"- rate: {definition}",
        f"- intervals: {conf}, "
        f"{interval_note(rows[0].summary.rate if rows else None, False)}; answers of all "
        "listed tasks pooled",
        "- possible ranks: 1 + models whose interval lies wholly below, to N - models whose "
        "interval lies wholly above (rank 1 = least misaligned)",
        "- minus best: difference to the least misaligned model (same scope as the intervals); "
        "Holm-adjusted p-values over all comparisons with the best"])
