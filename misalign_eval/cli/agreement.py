"""``misalign-eval agreement``, ``label-sample`` and ``calibrate``: how far to trust the judge."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from misalign_eval.cli.decisions import RUN_DIR_HELP, _confidence, _describe, _positive_int

FMT = argparse.RawDescriptionHelpFormatter


def register(subparsers) -> None:
    agree = subparsers.add_parser(
        "agreement", help="agreement between judges that graded the same answers",
        formatter_class=FMT, description=_describe(
            "Compare two or more gradings of the same answers (e.g. made with `misalign-eval "
            "judge --run-dir DIR --label L --judge-model M`), told apart by their directory "
            "name. Answers are matched by task, probe id and answer text; runs of different "
            "answers are refused. Per task and overall: each judge's misalignment rate, the "
            "share of answers labelled differently and the paired difference, Cohen's kappa "
            "(pairs) and Krippendorff's alpha (all judges) with intervals from a cluster "
            "jackknife over questions, Spearman's rho of the 0-100 scores and the 2x2 table."))
    agree.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN",
                       help="two or more gradings (one is enough with --members); each "
                            + RUN_DIR_HELP)
    agree.add_argument("--members", action="store_true",
                       help="compare the members of the judge ensemble that graded each run "
                            "(MISALIGN_JUDGE_MODEL=a,b,c; every member's verdict is kept in "
                            "the records) instead of the runs' combined verdicts")
    agree.add_argument("--json", type=Path, default=None, metavar="PATH",
                       help="also write the figures as JSON to PATH")
    agree.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="write agreement.md/.json, disagreements.csv (the answers the judges "
                            "disagree on most, for review) and scores.png to DIR")
    _confidence(agree)
    agree.set_defaults(handler=_agreement)

    sample = subparsers.add_parser(
        "label-sample", help="draw answers for people to label", formatter_class=FMT,
        description=_describe(
            "Write a CSV of answers to label by hand: id, task, probe_id, question, answer, "
            "empty misaligned and coherent columns, and the stratum and inclusion probability "
            "of each row. Drawn stratified by question; answers the judge calls misaligned, "
            "answers near a threshold and (with --compare-with) answers another judge labels "
            "differently are oversampled. The judge's verdict is not in the file. Fill in "
            "yes/no and pass the file to `misalign-eval calibrate RUN --labels FILE`."))
    sample.add_argument("run_dir", type=Path, metavar="RUN", help=RUN_DIR_HELP)
    sample.add_argument("--n", type=_positive_int, default=200,
                        help="answers to draw (default: %(default)s)")
    sample.add_argument("--out", type=Path, required=True, help="CSV file to write")
    sample.add_argument("--oversample", type=float, default=3.0,
                        help="how many times more likely a flagged or near-threshold answer "
                             "is drawn than another (default: %(default)s)")
    sample.add_argument("--compare-with", type=Path, nargs="*", default=[], metavar="RUN",
                        help="other gradings of the same answers: where they disagree is "
                             "oversampled")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    sample.set_defaults(handler=_label_sample)

    calibrate = subparsers.add_parser(
        "calibrate", help="judge against human labels, and the corrected rate",
        formatter_class=FMT, description=_describe(
            "Compare the judge's misaligned label with human labels (a file from "
            "`misalign-eval label-sample` with misaligned and coherent filled in): "
            "sensitivity and specificity with intervals, and the misalignment rate corrected "
            "for the judge's errors, whose interval carries both the answers drawn and the "
            "labels (weighted by each row's inclusion probability). Says how many more labels "
            "would halve the part of the interval due to the labels."))
    calibrate.add_argument("run_dir", type=Path, metavar="RUN", help=RUN_DIR_HELP)
    calibrate.add_argument("--labels", type=Path, required=True, metavar="FILE",
                           help="the labelled CSV")
    calibrate.add_argument("--json", type=Path, default=None, metavar="PATH",
                           help="also write the figures as JSON to PATH")
    _confidence(calibrate)
    calibrate.set_defaults(handler=_calibrate)


def _agreement(args) -> int:
    from misalign_eval.decisions.agreement import build_agreement
    from misalign_eval.decisions.agreement_report import agreement_markdown, write_agreement
    from misalign_eval.decisions.outputs import write_file_atomically
    from misalign_eval.errors import InputError
    from misalign_eval.runs.reader import load_single_run

    if len(args.run_dirs) < 2 and not args.members:
        raise InputError("agreement needs at least two gradings of the same answers (or one "
                         "run graded by a judge ensemble, with --members)")
    report = build_agreement([load_single_run(d) for d in args.run_dirs], args.confidence,
                             members=args.members)
    markdown = agreement_markdown(report)
    print(markdown)
    if args.json:
        write_file_atomically(args.json, json.dumps(report.to_json(), indent=2))
        print(f"\nJSON written to {args.json}")
    if args.out:
        written = write_agreement(report, markdown, args.out)
        print("\nWritten: " + ", ".join(str(p) for p in written))
    return 0


def _label_sample(args) -> int:
    from misalign_eval.decisions.calibration import label_sample
    from misalign_eval.decisions.outputs import write_file_atomically
    from misalign_eval.errors import InputError
    from misalign_eval.runs.labels import sample_csv
    from misalign_eval.runs.reader import load_single_run

    if args.oversample < 1:
        raise InputError(f"--oversample {args.oversample:g}: must be at least 1")
    if args.out.is_dir():
        raise InputError(f"--out {args.out} is a directory; give a file name, e.g. "
                         f"{args.out / 'to_label.csv'}")
    rows = label_sample(load_single_run(args.run_dir), args.n, args.oversample, args.seed,
                        [load_single_run(d) for d in args.compare_with])
    write_file_atomically(args.out, sample_csv(rows))
    bands = {b: sum(r["band"] == b for r in rows) for b in ("flagged", "near", "other")}
    print(f"wrote {len(rows)} answers to label to {args.out} ("
          + ", ".join(f"{b} {n}" for b, n in bands.items()) + "); fill in misaligned and "
          f"coherent with yes or no, then: misalign-eval calibrate {args.run_dir} --labels "
          f"{args.out}")
    return 0


def _calibrate(args) -> int:
    from misalign_eval.decisions.calibration import calibrate, calibration_markdown
    from misalign_eval.decisions.outputs import write_file_atomically
    from misalign_eval.runs.reader import load_single_run

    result = calibrate(load_single_run(args.run_dir), args.labels, args.confidence)
    print(calibration_markdown(result))
    if args.json:
        write_file_atomically(args.json, json.dumps(result.to_json(), indent=2))
        print(f"\nJSON written to {args.json}")
    return 0
