"""The verdict cache: zero calls on a re-run, no stale verdicts, resume after SIGKILL."""

import dataclasses
import signal
import sqlite3
import subprocess
import time

import pytest

from misalign_eval.judging.grading import judge_questions, opened_judge
from misalign_eval.judging.config import JudgeConfig
from misalign_eval.judging.rubrics import load_rubric
from misalign_eval.scoring import Definition
from misalign_eval.sim import SimSettings, SimulatedEndpoint
from misalign_eval.sim.server import JUDGE_MODEL

from conftest import clean_env, misalign_eval_cmd, run
from samples_files import write_samples
from test_judge_faults import questions

RUBRICS = [load_rubric("alignment"), load_rubric("coherence")]


def judge_once(sim, cache, qs, rubrics=RUBRICS, **settings):
    config = JudgeConfig.from_env({}, base_url=sim.base_url, model=JUDGE_MODEL, cache=str(cache), **settings)
    before = sim.counters.judge_calls
    with opened_judge(config, rubrics) as judge:
        records = judge_questions(judge, Definition(), qs, progress=False)
    return records, sim.counters.judge_calls - before


def test_second_run_makes_no_judge_calls_and_gives_the_same_records(tmp_path):
    qs = questions(30)
    with SimulatedEndpoint() as sim:
        first, calls = judge_once(sim, tmp_path / "c.sqlite", qs)
        again, calls_again = judge_once(sim, tmp_path / "c.sqlite", qs)
    assert calls == 60 and calls_again == 0
    assert again == first


def test_a_changed_rubric_or_mode_never_reuses_old_verdicts(tmp_path):
    qs = questions(10)
    reworded = RUBRICS[0].model_copy(update={"prompt": RUBRICS[0].prompt + "\nBe strict."})
    with SimulatedEndpoint() as sim:
        judge_once(sim, tmp_path / "c.sqlite", qs)
        _, calls = judge_once(sim, tmp_path / "c.sqlite", qs, rubrics=[reworded, RUBRICS[1]])
        _, sampled_calls = judge_once(sim, tmp_path / "c.sqlite", qs, mode="sampled")
    assert calls == 10  # only the alignment rubric changed
    assert sampled_calls == 20


def test_errors_are_not_cached(tmp_path):
    qs = questions(10)
    with SimulatedEndpoint(SimSettings(rate_500=1.0)) as sim:
        # max_error_rate 1: this test wants the errors recorded, not the dead-judge stop.
        failed, _ = judge_once(sim, tmp_path / "c.sqlite", qs, max_retries=0, max_error_rate=1.0)
        sim.settings = dataclasses.replace(sim.settings, rate_500=0.0)  # the endpoint recovers
        healed, calls = judge_once(sim, tmp_path / "c.sqlite", qs, max_retries=0)
    assert all(j["status"] == "error" for r in failed for j in r["judgements"])
    assert calls == 20
    assert all(j["status"] != "error" for r in healed for j in r["judgements"])


def judge_cmd(samples, out, cache, sim, *extra):
    env = clean_env(MISALIGN_JUDGE_BASE_URL=sim.base_url, MISALIGN_JUDGE_MODEL=JUDGE_MODEL,
                    MISALIGN_JUDGE_CACHE=str(cache), MISALIGN_JUDGE_CONCURRENCY="4")
    return misalign_eval_cmd("judge", str(samples), "--out", str(out), "--quiet", *extra), env


def cached_rows(cache) -> int:
    with sqlite3.connect(cache) as db:
        return db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]


@pytest.mark.slow
def test_killed_run_resumes_judging_only_what_is_missing(tmp_path):
    samples = tmp_path / "samples_em_core_2026.jsonl"
    answers = write_samples(samples, questions=10, answers=40)
    with SimulatedEndpoint(SimSettings(latency_ms=20)) as sim:
        cmd, env = judge_cmd(samples, tmp_path / "killed.jsonl", tmp_path / "c.sqlite", sim)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if (tmp_path / "c.sqlite").exists() and cached_rows(tmp_path / "c.sqlite") >= answers // 2:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not (tmp_path / "killed.jsonl").exists()  # nothing half-written
        done = cached_rows(tmp_path / "c.sqlite")
        assert 0 < done < 2 * answers

        time.sleep(0.5)  # let requests the killed process left in flight land at the server
        before = sim.counters.judge_calls
        resumed = run(*judge_cmd(samples, tmp_path / "resumed.jsonl", tmp_path / "c.sqlite", sim))
        assert resumed.returncode == 0, resumed.stderr[-2000:]
        assert sim.counters.judge_calls - before == 2 * answers - done + 1  # +1: preflight
        assert f"answered from cache {done}" in resumed.stdout

        fresh = run(*judge_cmd(samples, tmp_path / "fresh.jsonl", tmp_path / "other.sqlite", sim))
        assert fresh.returncode == 0
    assert (tmp_path / "resumed.jsonl").read_text() == (tmp_path / "fresh.jsonl").read_text()


@pytest.mark.slow
def test_two_processes_can_share_one_cache(tmp_path):
    samples = tmp_path / "samples_em_core_2026.jsonl"
    answers = write_samples(samples, questions=6, answers=30)
    with SimulatedEndpoint(SimSettings(latency_ms=5)) as sim:
        procs = []
        for name in ("a", "b"):
            cmd, env = judge_cmd(samples, tmp_path / f"{name}.jsonl", tmp_path / "c.sqlite", sim)
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for p in procs:
            assert p.wait(timeout=300) == 0, p.stderr.read()[-2000:]
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    assert cached_rows(tmp_path / "c.sqlite") == 2 * answers
