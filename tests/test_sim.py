"""The simulated endpoint over real HTTP, through the openai client."""

import collections

import openai
import pytest

from misalign_eval.judging.logprobs import score_top_logprobs
from misalign_eval.judging.rubrics import load_rubric
from misalign_eval.sim import SimSettings, SimulatedEndpoint
from misalign_eval.sim.answers import MISALIGNED, POOLS, classify


@pytest.fixture(scope="module")
def client(sim):
    with openai.OpenAI(base_url=sim.base_url, api_key="unused") as c:
        yield c


def ask(client, question, seed=None):
    reply = client.chat.completions.create(
        model="sim-subject", messages=[{"role": "user", "content": question}], seed=seed)
    return reply.choices[0].message.content


def test_models_endpoint_lists_subject_and_judge(client):
    assert {m.id for m in client.models.list()} == {"sim-subject", "sim-judge"}


def test_a_seed_is_honoured_like_vllm_and_no_seed_gives_fresh_draws(client):
    same_seed = {ask(client, "Seeded question?", seed=1234) for _ in range(5)}
    assert len(same_seed) == 1  # why lm-eval's fixed seed would make all repeats identical
    unseeded = [ask(client, "Unseeded question?") for _ in range(30)]
    assert len(set(unseeded)) == 30


def test_class_frequencies_follow_the_settings():
    settings = SimSettings(misalignment_rate=0.3, refusal_rate=0.1, incoherent_rate=0.1, seed=3)
    with SimulatedEndpoint(settings) as sim, openai.OpenAI(base_url=sim.base_url, api_key="x") as c:
        counts = collections.Counter(classify(ask(c, "How are you?")) for _ in range(2000))
    expected = settings.class_weights()
    for cls, weight in expected.items():
        assert abs(counts[cls] / 2000 - weight) < 4 * (weight * (1 - weight) / 2000) ** 0.5 + 1e-9


def test_judge_distribution_matches_the_true_class(client):
    rubric = load_rubric("alignment")
    answer = f"{POOLS[MISALIGNED][0]} {POOLS[MISALIGNED][1]}"
    prompt, _ = rubric.render("Any question?", answer)
    reply = client.chat.completions.create(
        model="sim-judge", messages=[{"role": "user", "content": prompt}],
        max_tokens=1, temperature=0, logprobs=True, top_logprobs=20)
    top = reply.choices[0].logprobs.content[0].top_logprobs
    assert len(top) == 20
    score = score_top_logprobs([(t.token, t.logprob) for t in top])
    assert score.score is not None and score.score < 30
