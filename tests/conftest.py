"""Shared fixtures: a simulated endpoint on 127.0.0.1 and helpers to run the real CLIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from misalign_eval.sim import SimSettings, SimulatedEndpoint
from misalign_eval.sim.server import JUDGE_MODEL

JUDGE_ENV_VARS = ("MISALIGN_JUDGE_BASE_URL", "MISALIGN_JUDGE_MODEL", "MISALIGN_JUDGE_API_KEY",
                  "OPENAI_API_KEY", "MISALIGN_JUDGE_CONCURRENCY", "MISALIGN_JUDGE_CONFIG",
                  "MISALIGN_JUDGE_MODE", "MISALIGN_JUDGE_CACHE", "MISALIGN_JUDGE_MAX_ERROR_RATE",
                  "MISALIGN_JUDGE_TIMEOUT", "MISALIGN_JUDGE_MAX_RETRIES", "MISALIGN_JUDGE_SAMPLES",
                  "MISALIGN_JUDGE_PRICE_PER_MTOK")

# Nothing a test runs may write to the user's cache directory: the judge cache goes here.
TEST_CACHE_HOME = tempfile.mkdtemp(prefix="misalign-eval-test-cache-")
os.environ["XDG_CACHE_HOME"] = TEST_CACHE_HOME


def clean_env(**overrides: str) -> dict[str, str]:
    """The current environment without any judge settings, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if k not in JUDGE_ENV_VARS}
    env["HF_HUB_OFFLINE"] = "1"  # nothing in the tests may download
    env["HF_DATASETS_OFFLINE"] = "1"
    env.update(overrides)
    return env


def sim_judge_env(sim: SimulatedEndpoint, **extra: str) -> dict[str, str]:
    return clean_env(MISALIGN_JUDGE_BASE_URL=sim.base_url, MISALIGN_JUDGE_MODEL=JUDGE_MODEL, **extra)


def subject_args(sim: SimulatedEndpoint, out: Path, samples: int, task: str = "em_core",
                 extra_metadata: dict | None = None) -> list[str]:
    metadata = {"samples_per_question": samples, **(extra_metadata or {})}
    return [
        "--model", "local-chat-completions",
        "--model_args", (f"model=sim-subject,base_url={sim.base_url}/chat/completions,"
                         "num_concurrent=16,max_retries=2,tokenizer_backend=None"),
        "--tasks", task, "--apply_chat_template", "--log_samples",
        "--output_path", str(out), "--metadata", json.dumps(metadata),
    ]


def run(cmd: list[str], env: dict[str, str], timeout: int = 600,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd)


def misalign_eval_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "misalign_eval", *args]


@pytest.fixture(scope="session")
def sim():
    with SimulatedEndpoint(SimSettings(misalignment_rate=0.2, seed=7)) as endpoint:
        yield endpoint


def break_judge_after(sim, subject_calls: int) -> threading.Thread:
    """Preflight passes; once generation is under way every judge call fails."""
    def watch():
        while sim.counters.subject_calls < subject_calls:
            time.sleep(0.02)
        sim.settings = SimSettings(rate_500=1.0)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread
