"""The decision commands: report, compare, leaderboard, gate, plan.

Each reads lm-eval output directories (``results_*.json`` with ``samples_*.jsonl`` from
``--log_samples``, found recursively) and prints every number with its definition,
interval and sample size. The logic lives in decisions.py, gate.py and report.py.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from pathlib import Path

from misalign_eval.errors import InputError, warn

RUN_DIR_HELP = ("an lm-eval --output_path (or one model's directory below it) written with "
                "--log_samples; searched recursively for results_*.json and samples_*.jsonl")


def _fraction(low_open: bool = True, high_open: bool = True):
    """argparse type: a number in (0, 1), with open or closed ends."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if (value < 0 or value > 1 or (low_open and value == 0) or (high_open and value == 1)):
            ends = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
            raise argparse.ArgumentTypeError(f"{text} is not in {ends}")
        return value
    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _describe(text: str) -> str:
    """Help text wrapped at 88 columns, keeping the paragraph breaks written as newlines."""
    return "\n".join(textwrap.fill(paragraph, 88) for paragraph in text.split("\n"))


def register(subparsers) -> None:
    """Add report, compare, leaderboard, gate and plan to the misalign-eval parser."""
    fmt = argparse.RawDescriptionHelpFormatter

    report = subparsers.add_parser(
        "report", help="tables, chart, HTML and JSON for one run", formatter_class=fmt,
        description=_describe(
            "Per-task and per-question misalignment rates of one run, with intervals, "
            "sample sizes, coherence, refusal, unscored and judge-error shares.\n"
            "Writes report.json, questions.csv, questions_<task>.png (one chart per "
            "task) and a self-contained report.html to --out; prints Markdown tables."))
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help=RUN_DIR_HELP)
    report.add_argument("--out", type=Path, default=None,
                        help="directory for the report files (default: RUN_DIR/misalign-report); "
                             "files of the same name are replaced, others are left alone")
    _confidence(report)
    _scope(report)
    report.add_argument("--labels", type=Path, default=None, metavar="FILE",
                        help="human labels of some answers (from `misalign-eval label-sample`): "
                             "also show the rate corrected for judge error next to the raw one "
                             "(see `misalign-eval calibrate`)")
    report.set_defaults(handler=_report)

    compare = subparsers.add_parser(
        "compare", help="difference between two runs on the same probes, per task and pooled",
        formatter_class=fmt,
        description=_describe(
            "Difference of misalignment rates, RUN_B minus RUN_A, per shared task and "
            "over all shared tasks pooled, question by question. Default scope: the "
            "difference on these questions (the runs are independent given the questions; "
            "MOVER interval of the two stratified Wilson rates). Refuses runs that used "
            "different probes, probe-set versions, rubric versions, judge models or "
            "definitions."))
    compare.add_argument("run_a", type=Path, metavar="RUN_A", nargs="?",
                         help="the reference run; " + RUN_DIR_HELP)
    compare.add_argument("run_b", type=Path, metavar="RUN_B", nargs="?",
                         help="the run compared with RUN_A")
    from misalign_eval.cli.curve import add_group_option

    add_group_option(compare)  # instead of RUN_A RUN_B: two groups of seeds, B minus A
    _confidence(compare)
    _scope(compare)
    compare.add_argument("--json", type=Path, default=None, metavar="PATH",
                         help="also write the comparison as JSON to PATH")
    _allow_judge_change(compare)
    compare.set_defaults(handler=_compare)

    board = subparsers.add_parser(
        "leaderboard", help="one row per model with intervals, rank ranges and Holm tests",
        formatter_class=fmt,
        description=_describe(
            "Rank models by misalignment rate over the tasks they all share. Each row: "
            "rate with interval, n, coherence, the ranks the model could hold given the "
            "intervals, and whether it differs from the least misaligned model (test of no "
            "difference, Holm-adjusted). Writes leaderboard.md/.csv/.json/.png/.html."))
    board.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR",
                       help="one or more run directories; each model directory found below "
                            "them is one row")
    board.add_argument("--out", type=Path, default=Path("misalign-leaderboard"),
                       help="directory for the leaderboard files (default: %(default)s)")
    _confidence(board)
    _scope(board)
    board.add_argument("--rate", default=None,
                       help="the rate to rank: misalignment_rate (default when the runs share an "
                            "alignment suite), lie_rate (em_deception), claims_human "
                            "(em_identity)")
    board.add_argument("--alpha", type=_fraction(), default=0.05,
                       help="family-wise error rate for 'differs from best' (default: %(default)s)")
    _allow_judge_change(board)
    board.set_defaults(handler=_leaderboard)

    gate = subparsers.add_parser(
        "gate", help="release gate: exit 0 only if the candidate is non-inferior",
        formatter_class=fmt,
        description=_describe(
            "Non-inferiority check for release pipelines. Passes (exit 0) only when "
            "the one-sided upper (1-alpha) confidence bound of candidate minus "
            "baseline misalignment rate is at most --margin: 'no regression on this probe "
            "set of G questions' (--scope population: for new questions like these, "
            "refused with fewer than 28 question clusters). Otherwise exit 1, saying "
            "whether a regression was measured or the data are too few to prove "
            "safety (with the samples per question that would settle it). Exit 2: "
            "unusable input. A JSON verdict is written for CI systems (--json).\n"
            "All shared tasks are pooled unless --task picks one."))
    gate.add_argument("--baseline", type=Path, required=True, metavar="RUN_DIR",
                      help="the released model's run; " + RUN_DIR_HELP)
    gate.add_argument("--candidate", type=Path, required=True, metavar="RUN_DIR",
                      help="the candidate model's run, on the same probes and judge")
    gate.add_argument("--margin", type=_fraction(low_open=False), required=True,
                      help="largest tolerated increase of the rate, absolute (0.02 = 2 "
                           "percentage points)")
    gate.add_argument("--alpha", type=_fraction(), default=0.05,
                      help="one-sided error rate: the bound has confidence 1-alpha "
                           "(default: %(default)s)")
    gate.add_argument("--power", type=_fraction(), default=0.8,
                      help="power assumed when saying how many samples would settle an "
                           "undecided gate (default: %(default)s)")
    gate.add_argument("--task", default=None,
                      help="gate on this task only (default: all shared tasks pooled)")
    gate.add_argument("--json", type=Path, default=Path("misalign-gate.json"), metavar="PATH",
                      help="where to write the JSON verdict, also on errors "
                           "(default: %(default)s)")
    gate.add_argument("--junit", type=Path, default=None, metavar="PATH",
                      help="also write the verdict as a JUnit XML report (one test case: "
                           "passed, failure on exit 1, error on exit 2), also on errors")
    gate.add_argument("--allow-missing-tasks", action="store_true",
                      help="gate on the shared tasks even if the candidate lacks some the "
                           "baseline ran (default: that is unusable input, exit 2)")
    _scope(gate)
    _allow_judge_change(gate)
    gate.set_defaults(handler=_gate)

    plan = subparsers.add_parser(
        "plan", help="answers per question the release gate needs", formatter_class=fmt,
        description=_describe(
            "Answers per question and run with which `misalign-eval gate` passes a "
            "candidate with the given power when its true misalignment rate exceeds the "
            "baseline's by --true-difference (default 0: exactly as misaligned), on "
            "--questions questions. The power is computed exactly for the gate's own "
            "bound (one-sided, questions scope) with every question at the baseline rate; "
            "questions that differ from each other give the gate more power on its probe "
            "set, so the plan is on the safe side. With --scope population (a claim about "
            "new questions, at least 28 questions) the power depends on how misalignment "
            "spreads over questions: it is simulated with the gate's own bound on question "
            "rates drawn from a logit-normal with sd --question-sd (2000 replicates; `gate "
            "--scope population` re-plans from the baseline's observed question rates)."))
    plan.add_argument("--baseline-rate", type=_fraction(low_open=False), required=True,
                      help="misalignment rate of the released model, e.g. 0.02")
    plan.add_argument("--margin", type=_fraction(), required=True,
                      help="the gate's margin, absolute (0.02 = 2 percentage points)")
    plan.add_argument("--questions", type=_positive_int, required=True,
                      help="number of probe questions, e.g. 10 for em_core (at least 2)")
    plan.add_argument("--true-difference", type=float, default=0.0,
                      help="candidate minus baseline rate to plan for (default: %(default)s)")
    plan.add_argument("--alpha", type=_fraction(), default=0.05,
                      help="the gate's one-sided error rate (default: %(default)s)")
    plan.add_argument("--power", type=_fraction(), default=0.8,
                      help="probability that the gate passes (default: %(default)s)")
    plan.add_argument("--eligible-share", type=_fraction(), default=0.8,
                      help="share of answers in the rate's denominator (not refused, scored "
                           "and, for the betley definition, coherent; default: %(default)s)")
    _scope(plan)
    plan.add_argument("--question-sd", type=float, default=1.0,
                      help="--scope population: spread of the question rates on the logit "
                           "scale: 0.5 light, 1 moderate, 2 heavy (a few questions carry most "
                           "of the misalignment) (default: %(default)s)")
    from misalign_eval.cli.judge import add_plan_cost_arguments

    add_plan_cost_arguments(plan)
    plan.set_defaults(handler=_plan)


def _scope(parser) -> None:
    parser.add_argument(
        "--scope", choices=("questions", "population"), default="questions",
        help="what the intervals claim: 'questions' (default), the rate on these probe "
             "questions, which is what comparing models on one probe set asks; 'population', "
             "the rate for new questions like these (refused with fewer than 28 question "
             "clusters)")


def _confidence(parser) -> None:
    parser.add_argument("--confidence", type=_fraction(), default=0.95,
                        help="confidence level of every interval (default: %(default)s)")


def _allow_judge_change(parser) -> None:
    parser.add_argument("--allow-judge-change", action="store_true",
                        help="compare runs graded by different judge models (rubrics, probes "
                             "and definition must still match)")


# ---------------------------------------------------------------------------------- handlers


def _report(args) -> int:
    from misalign_eval.decisions.report import build_report, write_report
    from misalign_eval.runs.reader import load_single_run
    from misalign_eval.decisions.tables import report_markdown

    run = load_single_run(args.run_dir)
    report = build_report(run, args.confidence, args.scope)
    written = write_report(report, args.out or args.run_dir / "misalign-report")
    print(report_markdown(report))
    if args.labels:
        from misalign_eval.decisions.calibration import corrected_section

        print("\n" + corrected_section(run, args.labels, args.confidence))
    print("\nWritten: " + ", ".join(str(p) for p in written))
    return 0


def _compare(args) -> int:
    from misalign_eval.decisions.compare import compare_pair
    from misalign_eval.runs.pairing import align_runs, definitions_text
    from misalign_eval.decisions.outputs import write_file_atomically
    from misalign_eval.runs.reader import load_single_run
    from misalign_eval.decisions.tables import compare_markdown

    if args.group or args.run_a is None or args.run_b is None:
        from misalign_eval.cli.curve import compare_groups_command

        return compare_groups_command(args)
    runs = [load_single_run(args.run_a), load_single_run(args.run_b)]
    labels = [f"{r.model_name} ({r.directory})" for r in runs]
    aligned = align_runs(runs, [f"RUN_A ({args.run_a})", f"RUN_B ({args.run_b})"],
                         args.allow_judge_change)
    rows = compare_pair(aligned, 0, 1, args.confidence, args.scope)
    definition = definitions_text(aligned)
    print(compare_markdown(rows, labels[0], labels[1], definition, args.confidence))
    if args.json:
        payload = {"a": labels[0], "b": labels[1], "definition": definition,
                   "rows": [r.to_json() for r in rows]}
        write_file_atomically(args.json, json.dumps(payload, indent=2))
        print(f"\nJSON written to {args.json}")
    return 0


def _leaderboard(args) -> int:
    from misalign_eval.decisions.leaderboard import board_runs, leaderboard, skipped_markdown
    from misalign_eval.runs.pairing import common_definition, run_labels
    from misalign_eval.decisions.report import write_leaderboard
    from misalign_eval.decisions.tables import leaderboard_markdown

    runs, skipped = board_runs(args.run_dirs, args.rate)
    for directory, why in skipped:
        warn(f"skipped {directory}: {why}")
    labels = run_labels(runs)
    rows, aligned = leaderboard(runs, labels, args.confidence, args.alpha, args.allow_judge_change,
                                warn=warn, scope=args.scope, rate=args.rate)
    tasks, definition = [t.task for t in aligned], common_definition(aligned)
    markdown = (leaderboard_markdown(rows, tasks, definition, args.confidence, args.alpha)
                + skipped_markdown(skipped))
    written = write_leaderboard(rows, markdown, tasks, definition, args.confidence, args.out,
                                heatmap=(aligned, labels))
    print(markdown)
    print("\nWritten: " + ", ".join(str(p) for p in written))
    return 0


def _gate(args) -> int:
    from misalign_eval.decisions.gate import run_gate
    from misalign_eval.runs.reader import load_single_run

    try:
        verdict = run_gate(load_single_run(args.baseline), load_single_run(args.candidate),
                           args.margin, args.alpha, args.power, args.task,
                           args.allow_judge_change, args.allow_missing_tasks, args.scope)
    except InputError as exc:
        payload = {"verdict": "error", "outcome": "unusable_input", "exit_code": 2,
                   "message": str(exc), "baseline": str(args.baseline),
                   "candidate": str(args.candidate), "margin": args.margin, "alpha": args.alpha}
        _write_verdict(args, payload)
        print(f"misalign-eval: JSON verdict written to {args.json}", file=sys.stderr)
        raise
    for warning in verdict.warnings:
        warn(warning)
    payload = {**verdict.to_json(), "baseline_dir": str(args.baseline),
               "candidate_dir": str(args.candidate)}
    _write_verdict(args, payload)
    print(verdict.message)
    print(f"\nJSON verdict written to {args.json}")
    return verdict.exit_code


def _write_verdict(args, payload: dict) -> None:
    """The JSON verdict, and with --junit the same verdict as JUnit XML for CI."""
    from misalign_eval.decisions.junit import junit_xml
    from misalign_eval.decisions.outputs import write_file_atomically

    write_file_atomically(args.json, json.dumps(payload, indent=2))
    if args.junit:
        write_file_atomically(args.junit, junit_xml(payload))
        print(f"misalign-eval: JUnit report written to {args.junit}", file=sys.stderr)


def _plan(args) -> int:
    from misalign_eval.stats import (
        gate_power, gate_samples_per_question, logit_normal_rates, population_gate_power,
    )

    g, p0, margin = args.questions, args.baseline_rate, args.margin
    population = args.scope == "population"
    if g < 2:
        raise InputError("plan --questions 1: one question measures that question only; "
                         "misalignment sits on few questions, so plan a probe set of at least "
                         "2 (em_core has 10, em_broad 50)")
    if population and not (p0 > 0 and 0 <= args.question_sd <= 5):
        raise InputError("plan --scope population needs --baseline-rate above 0 and "
                         "--question-sd between 0 and 5")
    try:
        m = gate_samples_per_question(p0, margin, g, alpha=args.alpha, power=args.power,
                                      true_difference=args.true_difference, scope=args.scope,
                                      question_sd=args.question_sd)
    except ValueError as exc:
        raise InputError(f"plan: {exc}") from None
    claim = ("for new questions like these (population scope)" if population
             else f"on these {g} questions")
    print(f"Design: `misalign-eval gate{' --scope population' if population else ''}` on {g} "
          f"questions; it passes when the one-sided {100 * (1 - args.alpha):g}% upper bound "
          f"of candidate - baseline {claim} is at most the margin {100 * margin:+.1f} pp.")
    print(f"Goal: pass with {100 * args.power:g}% power when the baseline rate is "
          f"{100 * p0:.1f}% and the candidate's is {100 * (p0 + args.true_difference):.1f}% "
          f"(true difference {100 * args.true_difference:+.1f} pp).")
    if m is None:
        print("\nNot attainable: no number of answers per question passes this gate with "
              "that power; use a larger margin.")
        return 0
    answers = math.ceil(m / args.eligible_share)
    print(f"\nAnswers per question and run: {m} in the rate's denominator ({m * g} per run); "
          f"with {100 * args.eligible_share:g}% of answers in the denominator, sample about "
          f"{answers} per question (samples_per_question).")
    if population:
        check = population_gate_power(logit_normal_rates(p0, args.question_sd), margin, g, m,
                                      alpha=args.alpha, true_difference=args.true_difference,
                                      seed=1)
        print(f"Check: the gate's simulated power at {m} per question is {100 * check:.1f}% "
              f"(2000 new replicates, Monte Carlo SE about 1 pp; question rates logit-normal "
              f"with mean {100 * p0:.1f}% and sd {args.question_sd:g}, independent questions; "
              "a spread wider than assumed needs more answers).")
    else:
        print(f"Check: the gate's exact power at {m} per question is "
              f"{100 * gate_power(p0, margin, g, m, alpha=args.alpha, true_difference=args.true_difference):.1f}% "
              "(every question at the baseline rate; heterogeneous questions give more).")
    from misalign_eval.cli.judge import plan_cost_lines

    for line in plan_cost_lines(args, answers * g):
        print(line)
    return 0
