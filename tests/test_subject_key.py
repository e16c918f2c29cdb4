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


@pytest.mark.parametrize("model, model_args, receives", [
    ("local-chat-completions", "model=m,base_url=http://10.0.0.5:8000/v1/chat/completions", "10.0.0.5"),
    ("openai-chat-completions", "model=m,base_url=https://api.together.xyz/v1/chat/completions",
     "api.together.xyz"),
    ("openai-completions", "model=m,base_url=http://127.0.0.1:9/v1/completions", "127.0.0.1"),
    ("openai-chat-completions", "model=gpt-4o-mini", None),  # lm-eval's default: OpenAI itself
    ("openai-chat-completions", "model=m,base_url=https://api.openai.com/v1/chat/completions", None),
    ("openai-chat-completions", "model=m,base_url=https://api.openai.com.evil.example/v1", "api.openai.com.evil.example"),
    ("hf", "pretrained=gpt2", None),
])
def test_which_subject_hosts_would_receive_the_key(model, model_args, receives):
    from misalign_eval.harness.subject_key import subject_host_receiving_key
    argv = ["--model", model, "--model_args", model_args, "--tasks", "em_core"]
    assert subject_host_receiving_key(argv, {"OPENAI_API_KEY": KEY}) == receives
    assert subject_host_receiving_key(argv, {}) is None


@pytest.mark.parametrize("argv", [
    # Every spelling lm-eval 0.4.13 accepts reads the same base_url (its own parser is used).
    ["--model", "openai-chat-completions", "--model_args", "model=m", "base_url=http://evil.example/v1"],
    ["-M", "openai-chat-completions", "-a", "model=m,base_url=http://evil.example/v1"],
    ["--model", "openai-chat-completions", "--model_args",
     '{"model": "m", "base_url": "http://evil.example/v1"}'],
    ["run", "--model=openai-chat-completions", "--model_args=model=m,base_url=http://evil.example/v1"],
    ["--config", "CONFIG", "--tasks", "em_core"],
])
def test_the_key_guard_reads_model_args_as_lm_eval_does(argv, tmp_path):
    from misalign_eval.harness.subject_key import subject_host_receiving_key
    config = tmp_path / "config.yaml"
    config.write_text("model: openai-chat-completions\nmodel_args: model=m,base_url=http://evil.example/v1\n")
    argv = [str(config) if a == "CONFIG" else a for a in argv]
    assert subject_host_receiving_key(argv, {"OPENAI_API_KEY": KEY}) == "evil.example"
    # Model args that cannot be read count as another host (the guard fails closed).
    config.write_text("model: local-chat-completions\nmodel_args: [1, 2]\n")
    assert subject_host_receiving_key(["--config", str(config)], {"OPENAI_API_KEY": KEY}) == \
        "the subject server"


def test_run_refuses_an_openai_model_pointed_at_another_host(tmp_path):
    # openai-chat-completions cannot start without the key, so `run` cannot withhold it: it
    # refuses before any request, naming the model to use instead, and never echoes the key.
    with SimulatedEndpoint(SimSettings()) as sim:
        env = sim_judge_env(sim, OPENAI_API_KEY=KEY, MISALIGN_JUDGE_CACHE="off")
        args = subject_args(sim, tmp_path / "a", 1)
        args[args.index("local-chat-completions")] = "openai-chat-completions"
        result = run(misalign_eval_cmd("run", *args), env=env)
        assert sim.counters.subject_calls == 0
        assert not any(KEY in header for header in sim.counters.subject_authorization)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "--model openai-chat-completions would send OPENAI_API_KEY to the subject at " \
           "127.0.0.1" in result.stderr
    assert "use --model local-chat-completions" in result.stderr
    assert "Traceback" not in result.stderr and KEY not in result.stderr + result.stdout
