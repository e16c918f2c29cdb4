"""Kill a real lm_eval run while it is judging (SIGINT and SIGKILL): the generated answers
survive as a samples file, and `misalign-eval judge` grades them, paying only for what the
killed run had not cached: no answer missing, nothing judged twice."""

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import misalign_eval_cmd, run, sim_judge_env, subject_args
from misalign_eval.sim import SimSettings, SimulatedEndpoint

SAMPLES = 8  # per question; em_core has 10 questions -> 80 answers, 160 judge calls


def cached(cache) -> int:
    try:
        with sqlite3.connect(cache) as db:
            return db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_killed_lm_eval_run_keeps_its_answers_and_judge_pays_only_for_the_rest(tmp_path, sig):
    cache = tmp_path / "cache.sqlite"
    out = tmp_path / "runs"
    with SimulatedEndpoint(SimSettings(latency_ms=40, seed=3)) as sim:
        env = sim_judge_env(sim, MISALIGN_JUDGE_CACHE=str(cache), MISALIGN_JUDGE_CONCURRENCY="4")
        cmd = [sys.executable, "-m", "lm_eval", *subject_args(sim, out, SAMPLES),
               "--include_path", str(_tasks_path())]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and cached(cache) < 40 and proc.poll() is None:
            time.sleep(0.1)
        if cached(cache) < 40:  # the run ended (or hung) before judging: say why, at once
            proc.kill()
            pytest.fail(f"the run never reached judging: {proc.communicate()[1][-3000:]}")
        proc.send_signal(sig)
        stderr = proc.communicate(timeout=120)[1]
        assert proc.returncode != 0
        assert not list(out.rglob("results_*.json"))
        done = cached(cache)
        assert 0 < done < 2 * 10 * SAMPLES

        kept = list(out.rglob("unjudged/samples_em_core_*.jsonl"))
        assert len(kept) == 1, stderr[-3000:]
        lines = [json.loads(line) for line in kept[0].read_text().splitlines()]
        assert len(lines) == 10 and all(len(line["resps"][0]) == SAMPLES for line in lines)
        if sig == signal.SIGINT:  # a killed run cannot speak; an interrupted one says where
            assert "judging stopped (KeyboardInterrupt); the generated answers are kept in" in stderr
            assert str(kept[0]) in stderr

        time.sleep(0.5)  # let calls the killed run left in flight land
        before = sim.counters.judge_calls
        judged = run(misalign_eval_cmd("judge", str(kept[0]), "--out", str(tmp_path / "j.jsonl"),
                                       "--quiet"), env=env)
        assert judged.returncode == 0, judged.stderr[-2000:]
        # Only what was missing is paid for (+1: preflight), and the rest comes from the cache.
        assert sim.counters.judge_calls - before == 2 * 10 * SAMPLES - done + 1
        assert f"answered from cache {done}" in judged.stdout
        assert f"answers {10 * SAMPLES}:" in judged.stdout
    records = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert sum(len(r["judgements"]) for r in records) == 10 * SAMPLES
    assert all(j["status"] != "error" for r in records for j in r["judgements"])


def _tasks_path():
    from misalign_eval.resources import tasks_dir

    return tasks_dir()
