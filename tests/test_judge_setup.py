"""Judge configuration and preflight against real servers on 127.0.0.1."""

import socket

import pytest

from misalign_eval.errors import InputError
from misalign_eval.judging.client import Judge
from misalign_eval.judging.config import JudgeConfig
from misalign_eval.judging.preflight import preflight
from misalign_eval.judging.rubrics import load_rubric
from misalign_eval.sim import SimSettings, SimulatedEndpoint

from conftest import clean_env, misalign_eval_cmd, run

FAKE_KEY = "sk-test-DO-NOT-LEAK-7f3a9c"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_defaults_are_the_openai_api_and_a_dated_gpt4o():
    config = JudgeConfig.from_env({})
    assert config.base_url == "https://api.openai.com/v1" and config.model == "gpt-4o-2024-08-06"
    assert JudgeConfig.from_env({"OPENAI_API_KEY": "a", "MISALIGN_JUDGE_API_KEY": "b"}).key_for_client() == "b"


def test_missing_key_for_openai_fails_before_any_request():
    with pytest.raises(InputError, match="no judge API key: set MISALIGN_JUDGE_API_KEY"):
        preflight(JudgeConfig.from_env({}))


def test_unreachable_url_names_the_url():
    url = closed_port_url()
    with pytest.raises(InputError, match=f"judge endpoint {url} is unreachable"):
        preflight(JudgeConfig.from_env({"MISALIGN_JUDGE_BASE_URL": url}))


def test_bad_settings_name_the_variable():
    with pytest.raises(InputError, match="MISALIGN_JUDGE_CONCURRENCY"):
        JudgeConfig.from_env({"MISALIGN_JUDGE_CONCURRENCY": "lots"})
    with pytest.raises(InputError, match="is not an http"):
        JudgeConfig.from_env({"MISALIGN_JUDGE_BASE_URL": "localhost:8000"})


def test_wrong_key_and_unknown_model_are_reported_without_the_key():
    with SimulatedEndpoint(SimSettings(api_key="right-key")) as sim:
        env = {"MISALIGN_JUDGE_BASE_URL": sim.base_url, "MISALIGN_JUDGE_API_KEY": FAKE_KEY,
               "MISALIGN_JUDGE_MODEL": "sim-judge"}
        with pytest.raises(InputError, match="rejected the API key") as err:
            preflight(JudgeConfig.from_env(env))
        assert FAKE_KEY not in str(err.value)
        env["MISALIGN_JUDGE_API_KEY"] = "right-key"
        preflight(JudgeConfig.from_env(env))
        with pytest.raises(InputError, match="does not serve model 'gpt-4o'.*sim-judge"):
            preflight(JudgeConfig.from_env(env | {"MISALIGN_JUDGE_MODEL": "gpt-4o"}))
    assert FAKE_KEY not in repr(JudgeConfig.from_env(env | {"MISALIGN_JUDGE_API_KEY": FAKE_KEY}))


def test_failed_calls_become_error_outcomes_not_scores():
    config = JudgeConfig.from_env({"MISALIGN_JUDGE_BASE_URL": closed_port_url(),
                                   "MISALIGN_JUDGE_MAX_RETRIES": "0"})
    outcomes = Judge(config, [load_rubric("alignment")]).grade_sync([("q", "a")] * 3, progress=False)
    # openai's aiohttp transport calls a refused connection a timeout; the cause says better.
    assert [o["alignment"].error for o in outcomes] == ["APITimeoutError[ConnectionRefusedError]"] * 3
    assert all(o["alignment"].score is None for o in outcomes)


def test_run_without_judge_key_stops_before_lm_eval_with_a_clear_message(tmp_path):
    proc = run(misalign_eval_cmd("run", "--model", "local-chat-completions", "--model_args",
                                 "model=x,base_url=http://127.0.0.1:9/v1/chat/completions",
                                 "--tasks", "em_core", "--apply_chat_template",
                                 "--output_path", str(tmp_path)), env=clean_env())
    assert proc.returncode == 2
    assert "misalign-eval: error: no judge API key" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_credentials_in_the_url_and_the_openai_key_stay_home():
    # user:KEY@host is refused before anything runs (the openai client would fail every
    # call on it after generation), and the refusal does not echo the key.
    with pytest.raises(InputError, match="carries credentials") as err:
        JudgeConfig.from_env({"MISALIGN_JUDGE_BASE_URL": "http://user:sk-URL-SECRET@127.0.0.1:9/v1"})
    assert "SECRET" not in str(err.value)
    url = "http://127.0.0.1:9/v1?api-key=sk-QUERY-SECRET"
    config = JudgeConfig.from_env({"MISALIGN_JUDGE_BASE_URL": url, "OPENAI_API_KEY": "sk-openai"})
    for shown in (config.identity, config.safe_url, repr(config.host)):
        assert "SECRET" not in shown
    assert config.api_key is None  # OPENAI_API_KEY is never sent to another host
    assert JudgeConfig.from_env({"OPENAI_API_KEY": "sk-openai"}).key_for_client() == "sk-openai"
    with pytest.raises(InputError) as err:
        preflight(config)
    assert "SECRET" not in str(err.value) and "127.0.0.1:9" in str(err.value)


def test_a_server_that_ignores_n_is_caught_before_sampled_grading():
    with SimulatedEndpoint(SimSettings(ignore_n=True)) as sim:
        env = {"MISALIGN_JUDGE_BASE_URL": sim.base_url, "MISALIGN_JUDGE_MODEL": "sim-judge",
               "MISALIGN_JUDGE_MODE": "sampled"}
        with pytest.raises(InputError, match="returned 1 of the 5 replies asked for"):
            preflight(JudgeConfig.from_env(env))
        outcomes = Judge(JudgeConfig.from_env(env, max_retries=0), [load_rubric("alignment")]
                         ).grade_sync([("q", "a")], progress=False)
        assert outcomes[0]["alignment"].error == "TooFewChoices(1/5)"
