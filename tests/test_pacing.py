"""Pacing to rate limits: announced x-ratelimit-* headers are honoured (no 429 at steady
state), and without headers the rate is learned from the 429s; against the simulated
endpoint's token-bucket limiter."""

import json
import urllib.request

import pytest

from misalign_eval.judging.client import Judge
from misalign_eval.judging.config import JudgeConfig
from misalign_eval.judging.ratelimit import announced, parse_duration
from misalign_eval.judging.rubrics import load_rubric
from misalign_eval.sim import SimSettings, SimulatedEndpoint
from misalign_eval.sim.answers import CLASSES, compose_answer
from misalign_eval.sim.server import JUDGE_MODEL

RUBRICS = [load_rubric("alignment"), load_rubric("coherence")]


def items(n_answers: int, seed: int) -> list[tuple]:
    import random

    rng = random.Random(seed)
    return [(f"Pacing question {i % 7} ({seed})?", compose_answer(rng.choice(CLASSES), rng))
            for i in range(n_answers)]


def grade(sim: SimulatedEndpoint, n_answers: int, seed: int, concurrency: int = 32) -> Judge:
    config = JudgeConfig.from_env({}, base_url=sim.base_url, model=JUDGE_MODEL, cache="off",
                                  concurrency=concurrency, max_retries=10)
    judge = Judge(config, RUBRICS)
    outcomes = judge.grade_sync(items(n_answers, seed), progress=False)
    assert all(o.error is None for answer in outcomes for o in answer.values())
    return judge


@pytest.mark.parametrize("text, seconds", [
    ("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0.5", 0.5),
    ("250us", 0.00025), ("0s", 0.0),
])
def test_reset_durations_parse_as_openai_writes_them(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "1x", "-1s", "1s2", "s", None, "9" * 50])
def test_unusable_reset_headers_are_ignored(text):
    assert parse_duration(text) is None


def test_a_limit_needs_all_three_headers():
    headers = {"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499",
               "x-ratelimit-reset-requests": "120ms"}
    seen = announced(headers, "requests")
    assert (seen.limit, seen.remaining, seen.reset_s) == (500, 499, pytest.approx(0.12))
    assert announced({**headers, "x-ratelimit-limit-requests": "lots"}, "requests") is None
    assert announced(headers, "tokens") is None


def test_the_simulated_endpoint_announces_its_limit():
    with SimulatedEndpoint(SimSettings(rate_limit_rps=50, rate_limit_headers=True)) as sim:
        body = {"model": JUDGE_MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
        request = urllib.request.Request(f"{sim.base_url}/chat/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as reply:
            headers = reply.headers
    assert headers["x-ratelimit-limit-requests"] == "50"
    assert headers["x-ratelimit-remaining-requests"] == "49"
    assert parse_duration(headers["x-ratelimit-reset-requests"]) == pytest.approx(0.02)


def test_announced_request_limit_is_honoured():
    # 100 requests/s, a bucket of 0.2 s: the pool of 32 (1,600/s at 20 ms) would overrun it
    # at once (unpaced, most requests are refused); paced to the headers, at most 1% may be,
    # when scheduling on a loaded machine lets a request reach the server a few ms early.
    settings = SimSettings(latency_ms=20, rate_limit_rps=100, rate_limit_burst_s=0.2,
                           rate_limit_headers=True)
    with SimulatedEndpoint(settings) as sim:
        judge = grade(sim, 150, seed=1)
        assert sim.limiter.rejected <= 3  # of 300 calls
    assert judge.usage.rate_limited == sim.limiter.rejected
    assert judge.usage.calls_made == 300
    assert judge.pacer.buckets["requests"].rate == pytest.approx(100, rel=0.1)


def test_announced_token_limit_is_honoured():
    # Each call counts ~500 tokens against 12,000 tokens/s: about 24 calls/s, far below what
    # the pool would send; only the token headers can keep it from a 429.
    settings = SimSettings(latency_ms=10, rate_limit_tps=12_000, rate_limit_burst_s=0.25,
                           rate_limit_headers=True)
    with SimulatedEndpoint(settings) as sim:
        judge = grade(sim, 30, seed=2)
        assert sim.limiter.rejected <= 1  # of 60 calls; unpaced, the pool overruns it at once
    assert judge.pacer.buckets["tokens"].capacity == 3000
    assert judge.pacer.buckets["requests"].capacity is None  # no request limit announced


def test_without_headers_the_rate_is_learned_from_429s():
    settings = SimSettings(latency_ms=20, rate_limit_rps=100, rate_limit_burst_s=0.2)
    with SimulatedEndpoint(settings) as sim:
        judge = grade(sim, 250, seed=3)
        rejected = sim.limiter.rejected
    assert rejected == judge.usage.rate_limited > 0  # it had to find the limit
    assert rejected < 0.1 * judge.usage.calls_made       # and did not keep bouncing off it
    assert judge.pacer.learned.rate == pytest.approx(100, rel=0.2)
