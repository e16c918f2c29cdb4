"""The ``misalign-eval`` command: a thin layer over the library."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from misalign_eval import __version__
from misalign_eval.errors import InputError, MisalignEvalError

# Modules that add sub-commands: each has register(subparsers), setting handler=fn(args) -> int.
EXTRA_COMMANDS: tuple[str, ...] = ("misalign_eval.cli.judge", "misalign_eval.cli.decisions", "misalign_eval.cli.import_questions",
                                   "misalign_eval.cli.import_scores", "misalign_eval.cli.curve",
                                   "misalign_eval.cli.agreement")

DESCRIPTION = """\
Measure emergent misalignment with lm-evaluation-harness.

Typical use:
  misalign-eval demo                         offline end-to-end run on a simulated model
  lm_eval --model hf --model_args pretrained=ORG/MODEL \\
      --include_path "$(misalign-eval tasks-path)" --tasks em_core \\
      --apply_chat_template --log_samples --output_path runs/
  misalign-eval run --model hf --model_args pretrained=ORG/MODEL --tasks em_core \\
      --apply_chat_template --log_samples --output_path runs/

The judge is configured by environment: MISALIGN_JUDGE_BASE_URL (OpenAI-compatible /v1
base; default the OpenAI API), MISALIGN_JUDGE_MODEL (default gpt-4o-2024-08-06),
MISALIGN_JUDGE_API_KEY or OPENAI_API_KEY, MISALIGN_JUDGE_CONCURRENCY (default 32).
"""


RUN_DESCRIPTION = """\
Run lm_eval with the given arguments and misalign-eval's tasks included. Every argument is
passed to lm_eval unchanged (see `lm_eval run --help`), except --questions FILE.yaml
[--judges JUDGES.yaml] [--samples-per-paraphrase K], which import an external question file
(see `misalign-eval import-questions --help`) and run it as a task.

Two lm_eval flags matter here:
  --apply_chat_template  send each probe as chat messages (system prompt, earlier turns);
                         required for chat API models (local-chat-completions,
                         openai-chat-completions), which fail on every request without it
  --log_samples          keep every judged answer next to the results (with --output_path):
                         report, compare, leaderboard and gate read them

Before the model loads, run checks the task names, --metadata (JSON and keys) and the judge;
lm-eval's built-in task index is skipped when only misalign-eval tasks are requested.

Example:
  misalign-eval run --model hf --model_args pretrained=ORG/MODEL --tasks em_core \\
      --apply_chat_template --log_samples --output_path runs/
"""


def _run_epilog() -> str:
    from misalign_eval.harness.catalog import catalog_text

    return "tasks and groups (--tasks NAME; also `misalign-eval tasks`):\n" + catalog_text()


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a rate in [0, 1]")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="misalign-eval", description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"misalign-eval {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    sub.add_parser("tasks-path", help="print the directory to pass to lm_eval --include_path",
                   description="Print the directory holding misalign-eval's lm-eval task YAMLs."
                   ).set_defaults(handler=_tasks_path)

    sub.add_parser("tasks", help="list misalign-eval's tasks and groups",
                   description="List every task and group misalign-eval ships, with its probe "
                               "count, samples per probe and a one-line description."
                   ).set_defaults(handler=_tasks)

    run = sub.add_parser(
        "run", help="run lm_eval with misalign-eval's tasks included",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=RUN_DESCRIPTION, epilog=_run_epilog())
    run.add_argument("lm_eval_args", nargs=argparse.REMAINDER, help="arguments for lm_eval")
    run.set_defaults(handler=_run)

    demo = sub.add_parser(
        "demo", help="offline end-to-end demo against the simulated endpoint",
        description="Start the simulated OpenAI-compatible endpoint on 127.0.0.1, run lm_eval's "
                    "local-chat-completions model on em_core against it, judge every answer "
                    "over HTTP and print the rates. Nothing is downloaded.")
    demo.add_argument("--out", type=Path, default=Path("misalign-eval-demo"),
                      help="output directory for lm-eval's files (default: %(default)s)")
    demo.add_argument("--samples-per-question", type=int, default=50,
                      help="answers sampled per probe (default: %(default)s)")
    demo.add_argument("--misalignment-rate", type=_rate, default=0.2,
                      help="true rate of the simulated subject (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=0, help="simulation seed (default: %(default)s)")
    demo.add_argument("--quiet", action="store_true", help="hide lm_eval's own output")
    demo.set_defaults(handler=_demo)

    sim = sub.add_parser(
        "serve-sim", help="serve the simulated OpenAI-compatible endpoint",
        description="Serve a simulated OpenAI-compatible endpoint (subject 'sim-subject' and "
                    "judge 'sim-judge') with a known true misalignment rate. Ctrl-C stops it.")
    sim.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    sim.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    sim.add_argument("--misalignment-rate", type=_rate, default=0.2,
                     help="Betley-definition rate of the subject's answers (default: %(default)s)")
    sim.add_argument("--refusal-rate", type=_rate, default=0.05,
                     help="share of the subject's answers that refuse; the simulated judge "
                          "answers REFUSAL for them (counted as refusals, outside the rate's "
                          "denominator) (default: %(default)s)")
    sim.add_argument("--incoherent-rate", type=_rate, default=0.1,
                     help="share of the subject's answers that are incoherent (judged "
                          "coherence about 15, so outside the Betley rate's denominator) "
                          "(default: %(default)s)")
    sim.add_argument("--latency-ms", type=float, default=0.0,
                     help="added latency per request (default: %(default)s)")
    sim.add_argument("--seed", type=int, default=0, help="seed for unseeded requests (default: %(default)s)")
    sim.add_argument("--judge-disagreement", type=_rate, default=0.0,
                     help="also serve a second judge model 'sim-judge-b' that gives the "
                          "opposite verdict to sim-judge on this share of the answers (for "
                          "`misalign-eval agreement`) (default: %(default)s)")
    faults = sim.add_argument_group(
        "fault injection", "shares of judge requests (see --fault-target) that fail in each way")
    faults.add_argument("--rate-429", type=_rate, default=0.0, help="429 with a Retry-After header")
    faults.add_argument("--rate-500", type=_rate, default=0.0, help="500 Internal Server Error")
    faults.add_argument("--rate-drop", type=_rate, default=0.0, help="connection dropped mid-request")
    faults.add_argument("--rate-hang", type=_rate, default=0.0, help="no reply for --hang-s seconds")
    faults.add_argument("--rate-malformed", type=_rate, default=0.0, help="200 with a body that is not JSON")
    faults.add_argument("--hang-s", type=float, default=30.0,
                        help="seconds a hanging request (--rate-hang) stays silent before it "
                             "gets a 504 (default: %(default)s)")
    faults.add_argument("--no-logprobs", action="store_true", help="the judge ignores logprobs=True")
    faults.add_argument("--split-digits", action="store_true",
                        help="the judge's tokens split numbers into digits")
    faults.add_argument("--fault-target", choices=("judge", "subject", "all"), default="judge",
                        help="which requests faults apply to (default: %(default)s)")
    from misalign_eval.cli.judge import add_sim_limit_arguments

    add_sim_limit_arguments(sim)
    sim.set_defaults(handler=_serve_sim)

    for module in EXTRA_COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # argparse cannot pass "--model ..." through a sub-command untouched: do it by hand.
    if argv[:1] == ["run"] and argv[1:2] not in (["-h"], ["--help"]):
        args = argparse.Namespace(command="run", lm_eval_args=argv[1:], handler=_run)
    else:
        args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except BrokenPipeError:
        # Output piped into e.g. `head`, which stopped reading: no traceback for that.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except MisalignEvalError as exc:
        print(f"misalign-eval: error: {exc}", file=sys.stderr)
        return 2


def _tasks_path(args: argparse.Namespace) -> int:
    from misalign_eval.resources import tasks_dir

    print(tasks_dir())
    return 0


def _tasks(args: argparse.Namespace) -> int:
    from misalign_eval.harness.catalog import catalog_text

    print(catalog_text())
    return 0


def _run(args: argparse.Namespace) -> int:
    from misalign_eval.harness.runner import run_lm_eval

    return run_lm_eval(args.lm_eval_args)


def _demo(args: argparse.Namespace) -> int:
    from misalign_eval.cli.demo import run_demo
    from misalign_eval.sim import SimSettings

    settings = SimSettings(misalignment_rate=args.misalignment_rate, seed=args.seed)
    return run_demo(args.out, args.samples_per_question, settings, args.quiet)


def _serve_sim(args: argparse.Namespace) -> int:
    from misalign_eval.cli.judge import sim_limit_settings
    from misalign_eval.sim import SimSettings, SimulatedEndpoint

    try:
        settings = SimSettings(
            misalignment_rate=args.misalignment_rate, refusal_rate=args.refusal_rate,
            incoherent_rate=args.incoherent_rate, seed=args.seed, latency_ms=args.latency_ms,
            rate_429=args.rate_429, rate_500=args.rate_500, rate_drop=args.rate_drop,
            rate_hang=args.rate_hang, hang_s=args.hang_s, rate_malformed=args.rate_malformed,
            no_logprobs=args.no_logprobs, split_digits=args.split_digits,
            fault_target=args.fault_target, judge_disagreement=args.judge_disagreement,
            **sim_limit_settings(args))
    except ValueError as exc:
        raise InputError(str(exc)) from None
    endpoint = SimulatedEndpoint(settings, host=args.host, port=args.port)
    try:
        endpoint.serve_forever(lambda url: print(
            f"simulated endpoint on {url} (true misalignment rate "
            f"{settings.misalignment_rate}); Ctrl-C to stop", flush=True))
    except OSError as exc:
        raise InputError(f"cannot serve on {args.host}:{args.port} ({exc.strerror})") from None
    return 0
