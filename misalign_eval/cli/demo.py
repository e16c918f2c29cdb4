"""The offline demo: the real pipeline end to end against the simulated endpoint."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from misalign_eval.judging.config import ENV_API_KEY, ENV_BASE_URL, ENV_MODEL
from misalign_eval.runs.reader import latest_results_file, load_task_results
from misalign_eval.sim import SimSettings, SimulatedEndpoint
from misalign_eval.sim.server import JUDGE_MODEL, SUBJECT_MODEL
from misalign_eval.decisions.tables import question_table, task_table


def lm_eval_args(base_url: str, out_dir: Path, samples_per_question: int, task: str = "em_core",
                 concurrency: int = 16) -> list[str]:
    """The command line a user would type for an OpenAI-compatible subject model."""
    return [
        "--model", "local-chat-completions",
        "--model_args", (f"model={SUBJECT_MODEL},base_url={base_url}/chat/completions,"
                         f"num_concurrent={concurrency},max_retries=3,tokenizer_backend=None"),
        "--tasks", task, "--apply_chat_template", "--log_samples",
        "--output_path", str(out_dir),
        "--metadata", f'{{"samples_per_question": {samples_per_question}}}',
    ]


def run_demo(out_dir: Path, samples_per_question: int, settings: SimSettings, quiet: bool) -> int:
    out_dir = out_dir.resolve()
    print("misalign-eval demo: SIMULATED endpoint, not a real model.")
    print(f"  The simulated subject answers misaligned at a true (Betley) rate of "
          f"{settings.misalignment_rate:.0%}; a simulated judge grades it over HTTP.")
    started = time.monotonic()
    with SimulatedEndpoint(settings) as sim:
        print(f"  endpoint: {sim.base_url} (subject {SUBJECT_MODEL!r}, judge {JUDGE_MODEL!r})")
        env = {k: v for k, v in os.environ.items() if k not in (ENV_API_KEY, "OPENAI_API_KEY")}
        env.update({ENV_BASE_URL: sim.base_url, ENV_MODEL: JUDGE_MODEL})
        command = [sys.executable, "-m", "misalign_eval", "run",
                   *lm_eval_args(sim.base_url, out_dir, samples_per_question)]
        print(f"  running: misalign-eval run {' '.join(command[4:])}\n")
        proc = subprocess.run(command, env=env, stdout=subprocess.DEVNULL if quiet else None,
                              stderr=subprocess.DEVNULL if quiet else None)
    if proc.returncode != 0:
        print(f"demo failed: lm_eval exited with status {proc.returncode}", file=sys.stderr)
        return proc.returncode
    results_file = latest_results_file(out_dir)
    for result in load_task_results(results_file):
        print()
        print(task_table(result))
        print()
        print(question_table([q.counts for q in result.questions()]))
    print(f"\n  true rate {settings.misalignment_rate:.1%} (simulated); "
          f"elapsed {time.monotonic() - started:.0f} s")
    print(f"  output files: {results_file.parent}")
    return 0
