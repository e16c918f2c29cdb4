"""OPENAI_API_KEY, set for an OpenAI judge, must not reach a subject server that is not OpenAI."""

import sys

import pytest

from conftest import misalign_eval_cmd, run, sim_judge_env, subject_args
from misalign_eval.resources import tasks_dir
from misalign_eval.sim import SimSettings, SimulatedEndpoint

KEY = "sk-test-openai-key-for-the-judge"


@pytest.mark.slow
def test_misalign_eval_run_withholds_the_openai_key_and_lm_eval_warns(tmp_path):
    with SimulatedEndpoint(SimSettings()) as sim:
        env = sim_judge_env(sim, OPENAI_API_KEY=KEY, MISALIGN_JUDGE_CACHE="off")
        ours = run(misalign_eval_cmd("run", *subject_args(sim, tmp_path / "a", 1)), env=env)
        assert ours.returncode == 0, ours.stderr[-2000:]
        assert sim.counters.subject_calls > 0
        assert not any(KEY in header for header in sim.counters.subject_authorization)
        assert "OPENAI_API_KEY is not sent to the subject at 127.0.0.1" in ours.stderr
        assert KEY not in ours.stderr + ours.stdout

        plain = run([sys.executable, "-m", "lm_eval", *subject_args(sim, tmp_path / "b", 1),
                     "--include_path", str(tasks_dir())], env=env)
        assert plain.returncode == 0, plain.stderr[-2000:]
    assert "OPENAI_API_KEY is set and lm-eval's local-chat-completions sends it to the subject " \
           "at 127.0.0.1" in plain.stderr
    assert KEY not in plain.stderr + plain.stdout
