"""Token accounting: the judge's prompt and completion tokens add up to what the endpoint
reported, cached calls cost none, the cost follows the price, and the totals reach the
results (task metadata, numbers only) and `plan`."""

import json
import re
import sys
from pathlib import Path

import pytest

from misalign_eval.judging.client import Judge
from misalign_eval.judging.config import JudgeConfig
from misalign_eval.judging.rubrics import load_rubric
from misalign_eval.judging.usage import JudgeUsage, reply_tokens
from misalign_eval.runs.reader import latest_results_file, load_task_results
from misalign_eval.sim import SimSettings, SimulatedEndpoint
from misalign_eval.sim.server import JUDGE_MODEL

from conftest import misalign_eval_cmd, run, sim_judge_env, subject_args
from samples_files import write_samples

RUBRICS = [load_rubric("alignment"), load_rubric("coherence")]


def test_tokens_add_up_to_what_the_endpoint_reported_and_cached_calls_cost_none(tmp_path):
    items = [(f"Token question {i}?", f"An answer of some length, number {i}. " * (i + 1))
             for i in range(12)]
    with SimulatedEndpoint(SimSettings()) as sim:
        config = JudgeConfig.from_env({}, base_url=sim.base_url, model=JUDGE_MODEL,
                                      cache=str(tmp_path / "cache.sqlite"))
        from misalign_eval.judging.cache import VerdictCache

        cache = VerdictCache(config.cache_path)
        judge = Judge(config, RUBRICS, cache)
        judge.grade_sync(items, progress=False)
        first = JudgeUsage(**vars(judge.usage))
        judge.grade_sync(items, progress=False)
        cache.close()
        served = (sim.counters.prompt_tokens, sim.counters.completion_tokens, sim.counters.judge_calls)
    assert (first.prompt_tokens, first.completion_tokens, first.calls_made) == served
    assert first.completion_tokens == 24 and first.calls_cached == 0
    # Longer answers, more prompt tokens: the counts are the replies', not a constant.
    assert first.prompt_tokens > 24 * len(RUBRICS[0].prompt) / 4
    assert judge.usage.prompt_tokens == first.prompt_tokens  # the second pass was all cached
    assert (judge.usage.calls_made, judge.usage.calls_cached) == (24, 24)


@pytest.mark.parametrize("usage, counted", [
    ({"prompt_tokens": 12, "completion_tokens": 1}, (12, 1)),
    ({"prompt_tokens": "12", "completion_tokens": True}, (0, 0)),
    ({"prompt_tokens": -5, "completion_tokens": 10**12}, (0, 0)),
    ("lots", (0, 0)),
])
def test_usage_of_an_untrusted_reply_counts_only_plain_counts(usage, counted):
    assert reply_tokens({"usage": usage}) == counted


def test_judge_command_reports_tokens_and_cost_in_summary_and_results(tmp_path):
    samples = tmp_path / "samples_em_core_2026.jsonl"
    n = write_samples(samples, questions=3, answers=4)
    with SimulatedEndpoint(SimSettings()) as sim:
        env = sim_judge_env(sim, MISALIGN_JUDGE_CACHE=str(tmp_path / "cache.sqlite"))
        done = run(misalign_eval_cmd("judge", str(samples), "--out", str(tmp_path / "out.jsonl"),
                                     "--run-dir", str(tmp_path / "graded"), "--label", "m",
                                     "--price-per-mtok", "2.5,10", "--quiet"), env=env)
        preflight_prompt = sim.counters.prompt_tokens
    assert done.returncode == 0, done.stderr
    shown = re.search(r"judge tokens: ([\d,]+) prompt \+ ([\d,]+) completion", done.stdout)
    prompt, completion = (int(x.replace(",", "")) for x in shown.groups())
    assert completion == 2 * n and 0 < prompt < preflight_prompt  # the preflight's call is not a judge call
    assert f"judge calls made {2 * n}, answered from cache 0" in done.stdout
    cost = (prompt * 2.5 + completion * 10) / 1e6
    assert f"estimated judge cost {cost:.4f} at 2.5 per million prompt" in done.stdout
    results = json.loads(latest_results_file(tmp_path / "graded" / "m").read_text())
    usage = results["judge_usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["calls_made"]) == (prompt, completion, 2 * n)
    assert usage["cost_estimate"] == pytest.approx(cost)


@pytest.mark.slow
def test_an_lm_eval_run_records_judge_usage_in_task_metadata(tmp_path):
    with SimulatedEndpoint(SimSettings(seed=9)) as sim:
        lm_eval = str(Path(sys.executable).with_name("lm_eval"))
        env = sim_judge_env(sim, MISALIGN_JUDGE_CACHE=str(tmp_path / "cache.sqlite"),
                            MISALIGN_JUDGE_PRICE_PER_MTOK="1,4")
        proc = run([lm_eval, "--include_path", str(Path(__file__).parents[1] / "tasks"),
                    *subject_args(sim, tmp_path, 3)], env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        judge_calls = sim.counters.judge_calls
        completion = sim.counters.completion_tokens
    (result,) = load_task_results(latest_results_file(tmp_path))
    usage = result.config["metadata"]["judge_usage"]
    answers = 3 * 10
    assert usage["calls_made"] == 2 * answers == judge_calls - 1  # less the preflight's call
    assert usage["calls_cached"] == 0 and usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] == completion - 1 == 2 * answers
    assert usage["cost_estimate"] == pytest.approx((usage["prompt_tokens"] + 4 * usage["completion_tokens"]) / 1e6)
    # lm-eval's metric table stays numeric.
    table = json.loads(latest_results_file(tmp_path).read_text())["results"]["em_core"]
    assert all(isinstance(v, (int, float)) or v in (None, "N/A") for k, v in table.items() if k not in ("alias", "name"))


def test_plan_says_what_a_run_costs_in_judge_tokens():
    done = run(misalign_eval_cmd("plan", "--baseline-rate", "0.02", "--margin", "0.03",
                                 "--questions", "10", "--price-per-mtok", "2.5,10"), env=sim_judge_env_free())
    assert done.returncode == 0, done.stderr
    per_question = int(re.search(r"sample about (\d+) per question", done.stdout).group(1))
    line = re.search(r"Judge cost: ([\d,]+) calls per run \(([\d,]+) answers x 2 rubrics\), about "
                     r"([\d,]+) prompt \+ 1 completion tokens each.*about ([\d.]+) per run live, "
                     r"([\d.]+) with", done.stdout)
    calls, answers, prompt, live, batch = line.groups()
    assert int(answers.replace(",", "")) == 10 * per_question
    assert int(calls.replace(",", "")) == 20 * per_question
    assert float(live) == pytest.approx(int(calls.replace(",", "")) * (int(prompt) * 2.5 + 10) / 1e6, abs=0.02)
    assert float(batch) == pytest.approx(float(live) / 2, abs=0.01)
    bad = run(misalign_eval_cmd("plan", "--baseline-rate", "0.02", "--margin", "0.03",
                                "--questions", "10", "--price-per-mtok", "cheap"), env=sim_judge_env_free())
    assert bad.returncode == 2 and "--price-per-mtok" in bad.stderr and "Design" not in bad.stdout


def sim_judge_env_free():
    from conftest import clean_env

    return clean_env()
