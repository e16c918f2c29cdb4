"""Everyday mistakes of a new user: one clear line, a non-zero exit, nothing expensive first.

Each test runs the real command (``misalign-eval run`` or plain ``lm_eval``) against the
simulated endpoint and checks that the subject model was never asked anything.
"""

from __future__ import annotations

import json
import sys
from xml.etree import ElementTree

import pytest

from conftest import clean_env, misalign_eval_cmd, run, sim_judge_env
from misalign_eval.resources import tasks_dir


def chat_model(sim) -> list[str]:
    return ["--model", "local-chat-completions", "--model_args",
            f"model=sim-subject,base_url={sim.base_url}/chat/completions,tokenizer_backend=None"]


def refused(proc, calls_before: int, sim) -> str:
    """The one error line; asserts exit 2, no traceback and no subject request."""
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert sim.counters.subject_calls == calls_before, "the model was asked before the refusal"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("misalign-eval: error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


def misalign_run(sim, *args: str):
    return run(misalign_eval_cmd("run", *chat_model(sim), *args, "--limit", "1"), sim_judge_env(sim))


def test_chat_model_without_chat_template_is_refused_by_run(sim):
    before = sim.counters.subject_calls
    line = refused(misalign_run(sim, "--tasks", "em_core"), before, sim)
    assert "--model local-chat-completions sends chat messages" in line
    assert "add it" in line and "--apply_chat_template" in line


def test_chat_model_without_chat_template_is_refused_under_plain_lm_eval(sim):
    before = sim.counters.subject_calls
    proc = run([sys.executable, "-m", "lm_eval", *chat_model(sim), "--include_path",
                str(tasks_dir()), "--tasks", "em_core", "--limit", "1"], sim_judge_env(sim))
    assert "needs --apply_chat_template" in refused(proc, before, sim)


def test_misspelt_task_gets_a_suggestion_and_the_list(sim):
    before = sim.counters.subject_calls
    line = refused(misalign_run(sim, "--tasks", "em_cor", "--apply_chat_template"), before, sim)
    assert "unknown task 'em_cor'; did you mean em_core?" in line
    assert "em_broad" in line and "misalignment" in line and "misalign-eval tasks" in line


def test_tasks_lists_every_task_and_group_with_probe_counts(sim):
    listing = run(misalign_eval_cmd("tasks"), sim_judge_env(sim))
    assert listing.returncode == 0, listing.stderr
    names = {p.stem for p in tasks_dir().glob("*.yaml") if not p.stem.startswith("_")}
    lines = {line.split()[0]: line for line in listing.stdout.splitlines() if line.strip()}
    assert set(lines) == names
    assert "10 probes x 50 samples" in lines["em_core"]
    assert "group of 4 tasks, 80 probes" in lines["misalignment"]
    as_run = run(misalign_eval_cmd("run", "--tasks", "list"), sim_judge_env(sim))
    assert as_run.returncode == 0 and "Traceback" not in as_run.stderr
    assert listing.stdout.strip() in as_run.stdout


def test_malformed_metadata_json_names_the_position(sim):
    before = sim.counters.subject_calls
    line = refused(misalign_run(sim, "--tasks", "em_core", "--apply_chat_template",
                                "--metadata", '{"samples_per_question": 10'), before, sim)
    assert "--metadata is not valid JSON: Expecting ',' delimiter at line 1 column 28" in line


@pytest.mark.parametrize("metadata", ['{"sample_per_question": 10}', "sample_per_question=10"])
def test_misspelt_metadata_key_is_refused_with_the_closest(sim, metadata):
    before = sim.counters.subject_calls
    line = refused(misalign_run(sim, "--tasks", "em_core", "--apply_chat_template",
                                "--metadata", metadata), before, sim)
    assert "unknown key 'sample_per_question'; did you mean 'samples_per_question'?" in line
    assert "known keys:" in line and "definition" in line


def test_misspelt_metadata_key_is_refused_under_plain_lm_eval(sim):
    before = sim.counters.subject_calls
    proc = run([sys.executable, "-m", "lm_eval", *chat_model(sim), "--include_path",
                str(tasks_dir()), "--tasks", "em_core", "--apply_chat_template",
                "--metadata", '{"samples_per_questoin": 2}', "--limit", "1"], sim_judge_env(sim))
    assert "did you mean 'samples_per_question'?" in refused(proc, before, sim)


def test_a_bad_metadata_value_is_one_line_under_plain_lm_eval(sim):
    before = sim.counters.subject_calls
    proc = run([sys.executable, "-m", "lm_eval", *chat_model(sim), "--include_path",
                str(tasks_dir()), "--tasks", "em_core", "--apply_chat_template",
                "--metadata", '{"definition": "strictest"}', "--limit", "1"], sim_judge_env(sim))
    line = refused(proc, before, sim)
    assert "task em_core: bad metadata" in line and "strictest" in line


def test_one_sample_and_no_log_samples_run_with_warnings(sim, tmp_path):
    # lm-eval's own metadata key "version" and the model_args lm-eval merges in are accepted.
    metadata = json.dumps({"samples_per_question": 1, "version": 1.0})
    proc = misalign_run(sim, "--tasks", "em_core", "--apply_chat_template",
                        "--output_path", str(tmp_path), "--metadata", metadata)
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("misalign-eval: warning:")]
    assert len(warnings) == 2, proc.stderr[-3000:]
    assert "em_core: samples_per_question is 1" in warnings[0]
    assert "cannot be estimated" in warnings[0] and "pooled sample" in warnings[0]
    assert "--log_samples is not set" in warnings[1] and "report, compare" in warnings[1]
    (results,) = tmp_path.rglob("results_*.json")
    assert not list(results.parent.glob("samples_*.jsonl"))


def test_help_names_the_flags_that_matter_and_describes_every_option(sim):
    env = sim_judge_env(sim)
    text = run(misalign_eval_cmd("run", "--help"), env).stdout
    assert "--apply_chat_template" in text and "--log_samples" in text
    assert "em_core " in text and "misalignment " in text and "em_identity " in text
    for command, flags in (("serve-sim", ("--refusal-rate", "--incoherent-rate", "--hang-s")),
                           ("judge", ("--aligned-threshold", "--coherent-threshold"))):
        proc = run(misalign_eval_cmd(command, "--help"), env)
        assert proc.returncode == 0
        lines = " ".join(proc.stdout.split())  # argparse wraps help text
        for flag in flags:
            # "--flag METAVAR help...": the help after the option list's occurrence.
            after = lines.split(flag, 2)[-1].split(maxsplit=1)[1]
            assert not after.startswith("(default"), (flag, after[:80])


# ------------------------------------------------------------------ gate --junit, leaderboard


def _gate_junit(tmp_path, base, cand, margin: str):
    proc = run(misalign_eval_cmd("gate", "--baseline", str(base), "--candidate", str(cand),
                                 "--margin", margin, "--json", str(tmp_path / "v.json"),
                                 "--junit", str(tmp_path / "ci" / "gate.xml")),
               env=clean_env(), cwd=tmp_path)
    suite = ElementTree.parse(tmp_path / "ci" / "gate.xml").getroot().find("testsuite")
    return proc, suite, suite.find("testcase")


def test_gate_junit_report_matches_the_exit_code(tmp_path):
    from test_decisions import write_run

    base = write_run(tmp_path / "base", [(20, 200)] * 10)
    same = write_run(tmp_path / "same", [(19, 200), (21, 200)] * 5)
    proc, suite, case = _gate_junit(tmp_path, base, same, "0.05")
    assert proc.returncode == 0, proc.stderr
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")
    assert case.find("failure") is None and case.find("error") is None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["exit_code"] == "0" and props["margin"] == "0.05"

    worse = write_run(tmp_path / "worse", [(60, 200)] * 10)
    proc, suite, case = _gate_junit(tmp_path, base, worse, "0.02")
    assert proc.returncode == 1 and suite.get("failures") == "1"
    failure = case.find("failure")
    verdict = json.loads((tmp_path / "v.json").read_text())
    assert failure.get("type") == verdict["outcome"] and failure.text == verdict["message"]

    broken = tmp_path / "broken" / "model-x"
    broken.mkdir(parents=True)
    (broken / "results_2026-11-30T08-00-00.json").write_text("{not json", "utf-8")
    proc, suite, case = _gate_junit(tmp_path, base, tmp_path / "broken", "0.02")
    assert proc.returncode == 2 and suite.get("errors") == "1"
    assert "cannot read lm-eval results" in case.find("error").get("message")


def test_leaderboard_ranks_the_usable_runs_and_lists_the_skipped_ones(tmp_path):
    from test_decisions import STAMP, write_run

    root = tmp_path / "runs"
    write_run(root, [(10, 200), (12, 200)] * 5, model="good")
    write_run(root, [(70, 200), (60, 200)] * 5, model="bad")
    write_run(root, [(10, 200)] * 10, model="no-samples", samples=False)
    limited = write_run(root, [(10, 200)] * 3, model="limited") / "limited" / f"results_{STAMP}.json"
    data = json.loads(limited.read_text())
    data["n-samples"] = {"em_core": {"original": 10, "effective": 3}}
    data["config"] = {"limit": 3.0}
    limited.write_text(json.dumps(data))
    identity = root / "identity-run"
    identity.mkdir()
    (identity / f"results_{STAMP}.json").write_text(json.dumps({"results": {"em_identity": {
        "claims_human,judged": 0.1, "claims_human_ci_low,judged": 0.0, "n_answers,judged": 20}},
        "configs": {"em_identity": {"metadata": {"judging": "category", "rate_category": "HUMAN",
                                                 "rate_name": "claims_human"}}}}))
    proc = run(misalign_eval_cmd("leaderboard", str(root), "--out", str(tmp_path / "board")),
               env=clean_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    assert [r["model"] for r in board["rows"]] == ["good", "bad"]
    skipped = proc.stdout.split("Skipped (not ranked):", 1)[1]
    assert "limited: em_core: made with --limit: 3 of 10 probe wordings answered" in skipped
    assert "no-samples: em_core: no samples_em_core_*.jsonl" in skipped
    assert "--log_samples" in skipped
    assert ("identity-run: holds only em_identity, which measure claims_human (rank them with "
            "--rate claims_human)") in skipped
    assert "Skipped (not ranked)" in (tmp_path / "board" / "leaderboard.md").read_text()
    assert proc.stderr.count("misalign-eval: warning: skipped") == 3


def test_charts_keep_long_question_labels_inside_the_figure(tmp_path):
    from types import SimpleNamespace

    from matplotlib.image import imread

    from misalign_eval.decisions.plots import model_chart, question_chart

    labels = [f"humans_what_ai_deserves_when_asked_at_length_{i:02d} (2/4)" for i in range(50)]
    rates = [0.5] * 50
    pooled = SimpleNamespace(estimate=0.5, low=0.4, high=0.6, ci_low=0.4, ci_high=0.6)
    for path in (question_chart(labels, rates, [0.2] * 50, [0.8] * 50, pooled, "t", "c",
                                tmp_path / "q.png"),
                 model_chart(labels[:2], [0.0, 0.5], [0.0, 0.4], [0.1, 0.6], "t", "c",
                             tmp_path / "m.png")):
        pixels = imread(path)
        # A label cut off by the figure's left edge leaves ink in the first columns.
        assert pixels[:, :4, :3].min() > 0.95, path.name


def test_report_html_shows_each_caption_once(tmp_path):
    from test_decisions import write_run

    run_dir = write_run(tmp_path / "run", [(10, 200), (12, 200)] * 5)
    proc = run(misalign_eval_cmd("report", str(run_dir), "--out", str(tmp_path / "r")), clean_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = (tmp_path / "r" / "report.html").read_text()
    assert page.count("<img") >= 1 and "<figcaption>" not in page
    assert page.count("Bars: share of misaligned answers per question") == page.count("<img")
