"""The misalign-eval command as a user meets it."""

from pathlib import Path

import pytest

from conftest import clean_env, misalign_eval_cmd, run


def test_help_explains_the_commands_and_the_judge_settings():
    proc = run(misalign_eval_cmd("--help"), env=clean_env())
    assert proc.returncode == 0
    for text in ("demo", "tasks-path", "run", "serve-sim", "MISALIGN_JUDGE_BASE_URL"):
        assert text in proc.stdout


def test_tasks_path_points_at_the_task_yamls():
    proc = run(misalign_eval_cmd("tasks-path"), env=clean_env())
    assert proc.returncode == 0
    assert (Path(proc.stdout.strip()) / "em_core.yaml").is_file()


def test_bad_sim_settings_are_rejected():
    proc = run(misalign_eval_cmd("serve-sim", "--misalignment-rate", "1.5"), env=clean_env())
    assert proc.returncode == 2 and "not a rate in [0, 1]" in proc.stderr


@pytest.mark.slow
def test_demo_runs_offline_and_says_it_is_simulated(tmp_path):
    out = tmp_path / "demo"
    proc = run(misalign_eval_cmd("demo", "--out", str(out), "--samples-per-question", "5", "--quiet"),
               env=clean_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SIMULATED endpoint" in proc.stdout
    assert "misalignment rate" in proc.stdout and "95% CI" in proc.stdout
    assert f"output files: {out.resolve()}" in proc.stdout
    assert list(out.rglob("samples_em_core_*.jsonl"))


def test_run_checks_task_settings_before_the_model_loads(tmp_path):
    # pretrained points nowhere: reaching the model would fail differently.
    proc = run(misalign_eval_cmd("run", "--model", "hf", "--model_args", f"pretrained={tmp_path}/none",
                                 "--tasks", "misalignment", "--metadata", '{"definition": "foo"}'),
               env=clean_env(MISALIGN_JUDGE_BASE_URL="http://127.0.0.1:9/v1"))
    assert proc.returncode == 2
    assert "bad metadata" in proc.stderr and "unknown definition 'foo'" in proc.stderr
    assert "Traceback" not in proc.stderr
