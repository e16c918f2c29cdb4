"""`misalign-eval curve`: misalignment along checkpoints, steering coefficients or data sizes;
and the --group NAME=DIR [DIR ...] option (seeds of one condition) shared with `compare`."""

from __future__ import annotations

import argparse
import glob
from pathlib import Path

from misalign_eval.errors import InputError

CURVE_DESCRIPTION = """\
Misalignment rate at each point of a curve: checkpoints of a fine-tune, steering coefficients,
dataset sizes. Each RUN_DIR (an lm-eval --output_path, or one model directory; every model
directory below it is a point) or --group of seed runs is one point; its x comes from:
  --point DIR=VALUE          given explicitly (DIR a RUN_DIR or a --group NAME)
  --x-pattern REGEX          searched in the run's directory path (first group), e.g. 'step-(\\d+)';
                             for a group, in its NAME (else NAME itself if it is a number)
  the recorded key --x NAME  (or --x-key KEY): the run's task metadata or model_args as lm-eval
                             recorded them; with --x-pattern, the pattern applies to the value
All runs must have used the same probes, rubrics, definition and judge.

Statistics, all on these questions (questions scope): a test for a monotone trend stratified by
question (Mantel extension test, exact conditional p-value; runs permuted when points are seed
groups); the first x whose rate differs from the reference point (--reference, default the
smallest x) by more than --margin, Holm-corrected over the points; with --below T, the first x
from which the rate stays below T (one-sided bounds, fixed-sequence testing).
Writes curve.md/.csv/.json, curve.png (rate and intervals against x) and curve_questions.png
(question by x heatmap) to --out.

Example (checkpoints):
  misalign-eval curve runs/step-*/ --x step --x-pattern 'step-(\\d+)' --log-x
Example (steering sweep, one --output_path per coefficient):
  misalign-eval curve runs/coef_-4 runs/coef_0 runs/coef_4 --x coefficient \\
      --x-pattern 'coef_(-?[0-9.]+)'"""


def add_group_option(parser) -> None:
    parser.add_argument(
        "--group", nargs="+", action="append", default=None, metavar=("NAME=DIR", "DIR"),
        help="a condition measured by several fine-tuning seeds: NAME=DIR [DIR ...] (globs "
             "such as 'runs/ft-seed*' are expanded); its rate pools the seeds and its interval "
             "adds the between-seed variation (seed as a random effect); repeat for each group")


def parse_groups(values) -> list[tuple[str, list[Path]]]:
    """[(name, [dir, ...]), ...] from repeated --group NAME=DIR [DIR ...]; globs expanded."""
    groups, names = [], set()
    for tokens in values or []:
        name, sep, first = tokens[0].partition("=")
        if not sep or not name or not first:
            raise InputError(f"--group {' '.join(tokens)}: expected NAME=DIR [DIR ...]")
        if name in names:
            raise InputError(f"--group {name}: given twice")
        names.add(name)
        dirs: list[Path] = []
        for pattern in [first, *tokens[1:]]:
            found = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            if not found:
                raise InputError(f"--group {name}: {pattern} matches no directory")
            dirs += [Path(p) for p in found]
        if len({d.resolve() for d in dirs}) != len(dirs):
            raise InputError(f"--group {name}: the same run directory is listed twice")
        groups.append((name, dirs))
    return groups


def load_group_runs(groups: list[tuple[str, list[Path]]]):
    """[(name, [ModelRun, ...])]: each directory one run (one model directory below it)."""
    from misalign_eval.runs.reader import load_single_run

    loaded = []
    for name, dirs in groups:
        runs = []
        for d in dirs:
            try:
                runs.append(load_single_run(d))
            except InputError as exc:
                raise InputError(f"--group {name}: {exc}") from None
        loaded.append((name, runs))
    return loaded


def _points(text: str) -> tuple[str, str]:
    label, sep, value = text.rpartition("=")
    if not sep or not label or not value:
        raise argparse.ArgumentTypeError(f"{text!r}: expected DIR=VALUE")
    return label, value


def register(subparsers) -> None:
    from misalign_eval.cli.decisions import (
        _allow_judge_change, _confidence, _fraction, RUN_DIR_HELP,
    )

    curve = subparsers.add_parser(
        "curve", help="misalignment along checkpoints, steering coefficients or seeds",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=CURVE_DESCRIPTION)
    curve.add_argument("run_dirs", type=Path, nargs="*", metavar="RUN_DIR", help=RUN_DIR_HELP)
    curve.add_argument("--x", required=True, metavar="NAME",
                       help="name of the x axis (and the recorded key to read it from, unless "
                            "--x-key or --x-pattern say otherwise)")
    curve.add_argument("--x-pattern", default=None, metavar="REGEX",
                       help="regular expression whose first group is x, searched in each run's "
                            "directory path (or in a group's NAME)")
    curve.add_argument("--x-key", default=None, metavar="KEY",
                       help="read x from this recorded key (task metadata or model_args)")
    curve.add_argument("--point", type=_points, action="append", default=[],
                       metavar="DIR=VALUE", help="explicit x of a run directory or group; "
                                                 "a directory not among RUN_DIR is added")
    add_group_option(curve)
    curve.add_argument("--reference", type=float, default=None, metavar="X",
                       help="x of the reference point (default: the smallest x)")
    curve.add_argument("--margin", type=_fraction(low_open=False), default=0.0,
                       help="first difference means |rate - reference| > margin (absolute, "
                            "default: %(default)s)")
    curve.add_argument("--alpha", type=_fraction(), default=0.05,
                       help="family-wise error rate of the tests (default: %(default)s)")
    curve.add_argument("--below", type=_fraction(), default=None, metavar="THRESHOLD",
                       help="also report the first x from which the rate stays below THRESHOLD "
                            "with confidence 1 - alpha (a re-alignment curve)")
    curve.add_argument("--log-x", action="store_true",
                       help="log x axis (symlog when some x <= 0); the trend test then scores "
                            "log10 x (ranks when some x <= 0)")
    curve.add_argument("--out", type=Path, default=Path("misalign-curve"),
                       help="directory for the curve files (default: %(default)s)")
    _confidence(curve)
    _allow_judge_change(curve)
    curve.set_defaults(handler=_curve)


def _curve(args) -> int:
    from misalign_eval.decisions.curve import CurvePoint, build_curve, curve_markdown
    from misalign_eval.decisions.curve_output import write_curve
    from misalign_eval.decisions.curve_x import XRule, group_x, number, run_x
    from misalign_eval.runs.pairing import run_labels
    from misalign_eval.runs.reader import load_runs, load_single_run

    rule = XRule(args.x, args.x_pattern, args.x_key)
    rule.compiled()
    explicit = {}
    for label, value in args.point:
        explicit[label] = number(value, f"--point {label}")
    groups = load_group_runs(parse_groups(args.group))
    group_names = {name for name, _ in groups}
    points = []
    for name, runs in groups:
        x = explicit.pop(name) if name in explicit else group_x(name, runs, rule)
        points.append(CurvePoint(name, x, runs))
    given = {str(d): d for d in args.run_dirs}
    for label in list(explicit):
        if label not in given and label not in group_names:
            given[label] = Path(label)
    if not points and not given:
        raise InputError("curve: give RUN_DIRs, --point DIR=VALUE or --group NAME=DIR [DIR ...]")
    found = []
    for text, directory in given.items():
        if text in explicit:
            points.append(CurvePoint(text, explicit[text], [load_single_run(directory)]))
        else:
            found += load_runs(directory)
    for run, label in zip(found, run_labels(found) if found else []):
        points.append(CurvePoint(label, run_x(run, rule, str(run.directory)), [run]))
    curve = build_curve(points, args.x, confidence=args.confidence, reference=args.reference,
                        margin=args.margin, alpha=args.alpha, threshold=args.below,
                        log_x=args.log_x, allow_judge_change=args.allow_judge_change)
    written = write_curve(curve, args.out, args.log_x)
    print(curve_markdown(curve))
    print("\nWritten: " + ", ".join(str(p) for p in written))
    return 0


def compare_groups_command(args) -> int:
    """`compare --group A=... --group B=...`: condition B minus condition A over their seeds."""
    import json

    from misalign_eval.decisions.compare import compare_groups
    from misalign_eval.decisions.outputs import write_file_atomically
    from misalign_eval.decisions.tables import compare_markdown
    from misalign_eval.runs.pairing import align_runs, definitions_text

    if args.run_a is not None or args.run_b is not None or len(args.group or []) != 2:
        raise InputError("compare: give either RUN_A RUN_B, or exactly two --group NAME=DIR "
                         "[DIR ...] (A first, then B) and no RUN_A/RUN_B")
    (name_a, runs_a), (name_b, runs_b) = load_group_runs(parse_groups(args.group))
    labels = [f"{name} seed {i + 1} ({r.directory})" for name, runs in ((name_a, runs_a),
                                                                     (name_b, runs_b))
              for i, r in enumerate(runs)]
    if len({r.directory.resolve() for r in runs_a + runs_b}) != len(labels):
        raise InputError(f"compare: groups {name_a} and {name_b} share a run directory")
    aligned = align_runs(runs_a + runs_b, labels, args.allow_judge_change)
    definition = definitions_text(aligned)
    a_idx = list(range(len(runs_a)))
    b_idx = list(range(len(runs_a), len(labels)))
    rows = compare_groups(aligned, a_idx, b_idx, args.confidence, args.scope)
    describe = [f"{name} ({len(runs)} seed run{'s' if len(runs) > 1 else ''}: "
                f"{', '.join(str(r.directory) for r in runs)})"
                for name, runs in ((name_a, runs_a), (name_b, runs_b))]
    print(compare_markdown(rows, describe[0], describe[1], definition, args.confidence))
    for side, row in (("A", rows[-1].a), ("B", rows[-1].b)):
        sd = getattr(row.rate, "between_seed_sd", None)
        if sd is not None:
            print(f"- {side}: between-seed standard deviation {100 * sd:.2f} pp over "
                  f"{row.rate.n_runs} seeds ({rows[-1].task})")
        if row.rate.warning:
            print(f"- {side}: warning: {row.rate.warning}")
    if args.json:
        payload = {"a": describe[0], "b": describe[1], "definition": definition,
                   "rows": [r.to_json() for r in rows]}
        write_file_atomically(args.json, json.dumps(payload, indent=2))
        print(f"\nJSON written to {args.json}")
    return 0
