"""Generation is never lost: a damaged cache fails before generation, a dead judge is stopped
early with the answers kept (in a fallback folder when the first is unwritable), and a
healthy judge with transient errors is not stopped."""

import json
import os
import random
import sqlite3

import pytest

from conftest import break_judge_after, misalign_eval_cmd, run, sim_judge_env, subject_args
from misalign_eval.errors import JudgeFailure
from misalign_eval.judging.config import JudgeConfig
from misalign_eval.judging.grading import Question, judge_questions, opened_judge
from misalign_eval.judging.health import JudgeHealth
from misalign_eval.judging.rubrics import load_rubric
from misalign_eval.scoring import Definition
from misalign_eval.sim import SimSettings, SimulatedEndpoint
from misalign_eval.sim.answers import CLASSES, compose_answer

RUBRICS = [load_rubric("alignment"), load_rubric("coherence")]


def damaged_cache(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE verdicts (key TEXT PRIMARY KEY, verdict TEXT NOT NULL, created REAL)")
    db.executemany("INSERT INTO verdicts VALUES (?, ?, 0)", [(str(i), "x" * 300) for i in range(2000)])
    db.commit()
    db.close()
    raw = bytearray(path.read_bytes())
    for page in range(3, len(raw) // 4096):  # keep the header page, break the b-tree pages
        raw[page * 4096 + 50: page * 4096 + 350] = random.Random(page).randbytes(300)
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("kind", ["damaged", "directory"])
def test_a_bad_cache_fails_before_any_generation(tmp_path, kind):
    cache = tmp_path / "cache.sqlite"
    damaged_cache(cache) if kind == "damaged" else cache.mkdir()
    with SimulatedEndpoint(SimSettings()) as sim:
        env = sim_judge_env(sim, MISALIGN_JUDGE_CACHE=str(cache))
        proc = run(misalign_eval_cmd("run", *subject_args(sim, tmp_path / "out", 2)), env=env)
        assert sim.counters.subject_calls == 0  # nothing generated, nothing lost
        samples = tmp_path / "samples_em_core_2026.jsonl"
        samples.write_text(json.dumps({"doc_id": 0, "doc": {"question": "q"}, "resps": [["a"]]}) + "\n")
        judged = run(misalign_eval_cmd("judge", str(samples), "--out", str(tmp_path / "j.jsonl")), env=env)
    expected = ("the judge cache is damaged" if kind == "damaged" else
                "the judge cache path is a directory")
    for proc in (proc, judged):
        assert proc.returncode == 2
        assert expected in proc.stderr and "MISALIGN_JUDGE_CACHE" in proc.stderr
        assert "Traceback" not in proc.stderr


def hostile_free_questions(n: int) -> list[Question]:
    rng = random.Random(1)
    return [Question(f"q{i}", "t", f"Question {i}?", [compose_answer(rng.choice(CLASSES), rng)
                                                      for _ in range(10)]) for i in range(n // 10)]


def test_a_dead_judge_is_stopped_after_one_round_of_timeouts():
    # 95% of calls hang past the timeout; at the defaults every call would retry 5 times.
    with SimulatedEndpoint(SimSettings(rate_hang=0.95, hang_s=30, seed=2)) as sim:
        config = JudgeConfig.from_env({}, base_url=sim.base_url, model="sim-judge", cache="off",
                                      timeout_s=1.0, concurrency=32)
        with opened_judge(config, RUBRICS) as judge, pytest.raises(JudgeFailure) as failure:
            judge_questions(judge, Definition(), hostile_free_questions(500), progress=False)
        attempts = sum(sim.counters.judge_attempts.values())
    message = str(failure.value)
    assert "looks dead" in message and "APITimeoutError" in message
    assert "of 1000 judge calls" in message
    assert attempts < 200  # not 1000 calls x 6 attempts


def test_a_healthy_judge_with_transient_errors_is_not_stopped():
    settings = SimSettings(rate_500=0.2, rate_drop=0.05, rate_malformed=0.05, rate_429=0.05,
                           retry_after_s=0.01, seed=6)
    with SimulatedEndpoint(settings) as sim:
        config = JudgeConfig.from_env({}, base_url=sim.base_url, model="sim-judge", cache="off")
        with opened_judge(config, RUBRICS) as judge:
            records = judge_questions(judge, Definition(), hostile_free_questions(100), progress=False)
    judgements = [j for r in records for j in r["judgements"]]
    assert len(judgements) == 100
    assert sum(j["status"] == "error" for j in judgements) <= 2  # retries absorb them


@pytest.mark.parametrize("failure_share, fires", [(0.3, False), (0.5, False), (0.95, True), (1.0, True)])
def test_the_sequential_check_fires_only_when_failures_are_clearly_above_the_limit(failure_share, fires):
    rng = random.Random(0)
    health = JudgeHealth(max_error_rate=0.05, max_retries=5)
    for n in range(1, 50_001):
        health.attempt("InternalServerError(500)" if rng.random() < failure_share else None)
        if health.dead:
            break
    assert health.dead is fires
    if fires:
        assert n <= 40  # about one round of a 32-wide pool


@pytest.mark.slow
def test_dead_judge_in_lm_eval_keeps_answers_in_a_fallback_folder_and_says_so(tmp_path):
    out = tmp_path / "runs"
    blocked = out / "sim-subject" / "unjudged"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the folder should be")  # unwritable, even for root
    with SimulatedEndpoint(SimSettings()) as sim:
        env = sim_judge_env(sim, MISALIGN_JUDGE_CACHE="off", MISALIGN_JUDGE_MAX_RETRIES="2",
                            XDG_CACHE_HOME=str(tmp_path / "cache-home"))
        break_judge_after(sim, 10)
        proc = run(misalign_eval_cmd("run", *subject_args(sim, out, 2)), env=env)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "cannot keep the answers in" in proc.stderr and str(blocked.parent) in proc.stderr
    assert "looks dead" in proc.stderr and "Traceback" not in proc.stderr
    kept = proc.stderr.split("are kept in ")[1].split(":")[0]
    assert kept.startswith(str(tmp_path / "cache-home")), kept
    lines = [json.loads(line) for line in open(kept)]
    assert len(lines) == 10 and all(len(line["resps"][0]) == 2 for line in lines)
    assert os.path.isfile(blocked)
