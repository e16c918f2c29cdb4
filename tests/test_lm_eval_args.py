"""Reading --tasks as lm-eval does: several values, each possibly comma-separated."""

from misalign_eval.harness.lm_eval_args import option_value, requested_tasks


def test_tasks_in_every_form_lm_eval_accepts():
    assert requested_tasks(["--tasks", "em_core", "hellaswag", "--limit", "2"]) == ["em_core", "hellaswag"]
    assert requested_tasks(["--model", "hf", "-t", "a,b", "c"]) == ["a", "b", "c"]
    assert requested_tasks(["--tasks=em_core,em_broad"]) == ["em_core", "em_broad"]
    assert requested_tasks(["--model", "hf"]) == []


def test_option_value_both_spellings():
    assert option_value(["--include_path", "x"], "--include_path") == "x"
    assert option_value(["--include_path=y"], "--include_path") == "y"
    assert option_value(["--include_path"], "--include_path") is None
