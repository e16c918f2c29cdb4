"""Batch grading through the real `misalign-eval judge` against the simulated Batch API:
the same records as live grading, a request file plus results made elsewhere, resume of a
killed command, failed lines graded live, and bad results files refused."""

import json
import signal
import subprocess
import time
import urllib.request

import pytest

from misalign_eval.sim import SimSettings, SimulatedEndpoint

from conftest import misalign_eval_cmd, run, sim_judge_env
from samples_files import write_samples


@pytest.fixture
def batch_sim():
    with SimulatedEndpoint(SimSettings(batch_delay_s=0.6, seed=3)) as endpoint:
        yield endpoint


def judge(sim, tmp_path, samples, out, cache: str, *extra: str):
    env = sim_judge_env(sim, MISALIGN_JUDGE_CACHE=str(tmp_path / cache))
    return run(misalign_eval_cmd("judge", str(samples), "--out", str(out), "--quiet", *extra), env=env)


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_batch_round_trip_gives_the_records_of_live_grading(batch_sim, tmp_path):
    samples = tmp_path / "samples_em_core_2026.jsonl"
    n = write_samples(samples, questions=4, answers=6)
    live = judge(batch_sim, tmp_path, samples, tmp_path / "live.jsonl", "live.sqlite")
    assert live.returncode == 0, live.stderr
    live_calls = batch_sim.counters.judge_calls
    done = judge(batch_sim, tmp_path, samples, tmp_path / "batch.jsonl", "batch.sqlite",
                 "--batch", "--batch-poll", "0.1")
    assert done.returncode == 0, done.stderr
    assert records(tmp_path / "batch.jsonl") == records(tmp_path / "live.jsonl")
    assert len(batch_sim.batches.batches) == 1
    assert batch_sim.batches.lines_answered == 2 * n
    # Only the preflight's test request went to the live endpoint.
    assert batch_sim.counters.judge_calls - live_calls == 2 * n + 1
    assert f"{2 * n} verdicts from the batch" in done.stdout
    assert "judge calls made 0, answered from cache 0, from a batch 48" in done.stdout
    # Everything is now in the cache: a second run sends no batch and no call.
    again = judge(batch_sim, tmp_path, samples, tmp_path / "again.jsonl", "batch.sqlite", "--batch")
    assert again.returncode == 0, again.stderr
    assert "every judge call is answered by the cache" in again.stdout
    assert len(batch_sim.batches.batches) == 1


def run_requests_elsewhere(sim, requests, results):
    """What `vllm run-batch -i requests -o results` does, one request at a time."""
    lines = []
    for line in requests.read_text().splitlines():
        request = json.loads(line)
        assert request["method"] == "POST" and request["url"] == "/v1/chat/completions"
        http = urllib.request.Request(f"{sim.base_url}/chat/completions",
                                      json.dumps(request["body"]).encode(),
                                      {"Content-Type": "application/json"})
        with urllib.request.urlopen(http) as reply:
            body = json.loads(reply.read())
        lines.append({"id": "vllm-1", "custom_id": request["custom_id"],
                      "response": {"status_code": 200, "request_id": "r", "body": body}, "error": None})
    results.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_request_file_and_results_made_elsewhere(batch_sim, tmp_path):
    samples = tmp_path / "samples_em_core_2026.jsonl"
    n = write_samples(samples, questions=3, answers=4, seed=1)
    live = judge(batch_sim, tmp_path, samples, tmp_path / "live.jsonl", "live.sqlite")
    assert live.returncode == 0, live.stderr
    requests = tmp_path / "requests.jsonl"
    env = sim_judge_env(batch_sim, MISALIGN_JUDGE_CACHE=str(tmp_path / "offline.sqlite"))
    written = run(misalign_eval_cmd("judge", str(samples), "--batch-file", str(requests)), env=env)
    assert written.returncode == 0, written.stderr
    assert f"wrote {2 * n} batch requests" in written.stdout and "vllm run-batch -i" in written.stdout
    results = tmp_path / "results.jsonl"
    run_requests_elsewhere(batch_sim, requests, results)
    calls_before = batch_sim.counters.judge_calls
    graded = judge(batch_sim, tmp_path, samples, tmp_path / "offline.jsonl", "offline.sqlite",
                   "--batch-results", str(results))
    assert graded.returncode == 0, graded.stderr
    assert records(tmp_path / "offline.jsonl") == records(tmp_path / "live.jsonl")
    assert batch_sim.counters.judge_calls == calls_before  # no preflight, no live call
    assert "judge calls made 0" in graded.stdout


def test_a_killed_batch_command_resumes_the_same_batch(tmp_path):
    samples = tmp_path / "samples_em_core_2026.jsonl"
    write_samples(samples, questions=3, answers=5, seed=2)
    cache = tmp_path / "cache.sqlite"
    state = tmp_path / "cache.sqlite.batches.json"
    with SimulatedEndpoint(SimSettings(batch_delay_s=300)) as sim:
        env = sim_judge_env(sim, MISALIGN_JUDGE_CACHE=str(cache))
        cmd = misalign_eval_cmd("judge", str(samples), "--out", str(tmp_path / "out.jsonl"),
                                "--batch", "--batch-poll", "0.1")
        first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (state.exists() and sim.batches.batches) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a few polls of the running batch
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        (batch_id,) = sim.batches.batches
        assert json.loads(state.read_text()) and not (tmp_path / "out.jsonl").exists()
        sim.batches.delay_s = 0.5  # the batch now finishes soon after the command comes back
        second = run(cmd, env=env)
        assert second.returncode == 0, second.stderr
        assert f"resuming batch {batch_id}" in second.stderr
        assert f"batch {batch_id}: completed, 30 of 30 done, 0 failed" in second.stderr
        assert list(sim.batches.batches) == [batch_id]  # nothing paid twice
        assert json.loads(state.read_text()) == {}
        assert len(records(tmp_path / "out.jsonl")) == 3


def test_failed_batch_lines_are_graded_live(tmp_path):
    samples = tmp_path / "samples_em_core_2026.jsonl"
    n = write_samples(samples, questions=4, answers=5, seed=4)
    with SimulatedEndpoint(SimSettings(batch_delay_s=0.3, batch_fail_rate=0.25, seed=5)) as sim:
        done = judge(sim, tmp_path, samples, tmp_path / "out.jsonl", "cache.sqlite", "--batch",
                     "--batch-poll", "0.1")
        (batch,) = sim.batches.batches.values()
    assert done.returncode == 0, done.stderr
    failed = batch["request_counts"]["failed"]
    assert 0 < failed < 2 * n
    assert f"{failed} lines failed (BatchLine(500) x{failed}); those calls are graded live" in done.stdout
    assert f"judge calls made {failed}, answered from cache 0, from a batch {2 * n - failed}" in done.stdout
    judgements = [j for r in records(tmp_path / "out.jsonl") for j in r["judgements"]]
    assert len(judgements) == n and not any(j["status"] == "error" for j in judgements)


def test_bad_batch_results_are_refused_with_the_line(batch_sim, tmp_path):
    samples = tmp_path / "samples_em_core_2026.jsonl"
    write_samples(samples, questions=1, answers=2)
    results = tmp_path / "results.jsonl"
    results.write_text('{"custom_id": "x", "response": null}\n{"custom_id": \n')
    bad = judge(batch_sim, tmp_path, samples, tmp_path / "out.jsonl", "c.sqlite",
                "--batch-results", str(results))
    assert bad.returncode == 2
    assert bad.stderr.strip() == (f"misalign-eval: error: {results}:2: not a JSON line of batch results")
    assert not (tmp_path / "out.jsonl").exists()
    off = judge(batch_sim, tmp_path, samples, tmp_path / "out.jsonl", "c.sqlite", "--batch", "--no-cache")
    assert off.returncode == 2 and "keeps its results in the verdict cache" in off.stderr
