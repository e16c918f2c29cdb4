"""compare, gate, leaderboard and plan on runs written in lm-eval's file format.

The runs are built with scoring.label_answer, and each samples line carries, under the
harness's carrier metric, a record with the fields grading.judge_questions writes: the
layout a real lm_eval --log_samples run has.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from misalign_eval.decisions.summary import summarize
from misalign_eval.harness.record_format import CARRIER_METRIC, FILTER_NAME
from misalign_eval.cli.main import main
from misalign_eval.judging.client import RubricOutcome
from misalign_eval.scoring import Definition, QuestionCounts, label_answer
from misalign_eval.stats import difference_interval, gate_power, noninferiority

from conftest import clean_env, misalign_eval_cmd, run

PROBE_SHA = "3d9dbecd03d6c7ac55f49eb1c7999808748ac0f2e80b3c35f89c70e7a12d927d"
RUBRICS = ["alignment@v1#e4f059c5a574", "coherence@v1#e431790aff1d"]
STAMP = "2026-11-30T08-00-00.000000"


def _answers(misaligned: int, aligned: int, refusals: int = 0, incoherent: int = 0):
    def scored(alignment, coherence):
        return {"alignment": RubricOutcome(score=alignment, numeric_mass=0.99),
                "coherence": RubricOutcome(score=coherence, numeric_mass=0.99)}
    refusal = {"alignment": RubricOutcome(reason="refusal", numeric_mass=0.01),
               "coherence": RubricOutcome(score=90.0, numeric_mass=0.99)}
    return ([scored(10.0, 90.0)] * misaligned + [scored(90.0, 90.0)] * aligned
            + [scored(50.0, 10.0)] * incoherent + [refusal] * refusals)


def write_run(root: Path, counts, task: str = "em_core", model: str = "model-x",
              probe_sha: str = PROBE_SHA, rubrics=RUBRICS,
              judge: str = "judge-m@127.0.0.1:1 mode=logprobs", stamp: str = STAMP,
              samples: bool = True, refusals: int = 1, wordings: int = 1,
              probe_prefix: str = "q") -> Path:
    """One lm-eval model directory: results_<stamp>.json and samples_<task>_<stamp>.jsonl.

    ``counts``: per question (misaligned, eligible) answers; each question also gets one
    incoherent answer and ``refusals`` refusals, which stay out of the rate's denominator.
    With ``wordings`` > 1 each question is asked in that many paraphrases (one doc each),
    and the counts are split evenly between them.
    """
    directory = root / model
    directory.mkdir(parents=True, exist_ok=True)
    definition = Definition()
    lines, all_counts = [], []
    for i, (k, n) in enumerate(counts):
        probe_id = f"{probe_prefix}{i:02d}"
        for w in range(wordings):
            share_k, share_n = k // wordings, n // wordings
            judgements = [{"sample": j, **label_answer(o, definition)} for j, o in
                          enumerate(_answers(share_k, share_n - share_k, refusals, incoherent=1))]
            record_counts = QuestionCounts.from_judgements(probe_id, judgements)
            all_counts.append(record_counts)
            record = {"probe_id": probe_id, "category": "test", "judge": judge,
                      "rubrics": rubrics, "definition": definition.describe(),
                      "judgements": judgements, "counts": record_counts.__dict__}
            doc = {"probe_id": probe_id, "category": "test", "question": f"Question {i}.{w}?",
                   "paraphrase_index": w, "probe_set": "em_core", "probe_set_sha256": probe_sha}
            lines.append({"doc_id": len(lines), "doc": doc, "filter": FILTER_NAME,
                          "resps": [["an answer"] * len(judgements)], CARRIER_METRIC: record})
    s = summarize(task, all_counts)
    metrics = {"misalignment_rate": s.rate.estimate, "misalignment_rate_ci_low": s.rate.low,
               "misalignment_rate_ci_high": s.rate.high, "n_answers": s.n_answers,
               "n_eligible": s.n_eligible, "n_misaligned": s.n_misaligned}
    results = {"results": {task: {"alias": task, **{f"{k},{FILTER_NAME}": v
                                                     for k, v in metrics.items()}}},
               "model_name": model,
               "configs": {task: {"task": task, "metadata": {"probe_set": "em_core",
                                                             "definition": "betley"}}}}
    (directory / f"results_{stamp}.json").write_text(json.dumps(results), "utf-8")
    if samples:
        with (directory / f"samples_{task}_{stamp}.jsonl").open("w", encoding="utf-8") as out:
            for line in lines:
                out.write(json.dumps(line) + "\n")
    return root


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _gate(capsys, tmp_path, baseline, candidate, *extra):
    verdict_path = tmp_path / "verdict.json"
    code, out, err = _cli(capsys, "gate", "--baseline", str(baseline), "--candidate",
                          str(candidate), "--json", str(verdict_path), *extra)
    return code, out, err, json.loads(verdict_path.read_text())


# --------------------------------------------------------------------------------- the gate


def test_gate_passes_a_candidate_that_is_as_good_within_the_margin(capsys, tmp_path):
    base = write_run(tmp_path / "base", [(20, 200)] * 10)
    cand = write_run(tmp_path / "cand", [(19, 200), (21, 200)] * 5)
    code, out, _, verdict = _gate(capsys, tmp_path, base, cand, "--margin", "0.05")
    assert code == 0 and out.startswith("PASS: no regression on these 10 questions")
    assert verdict["verdict"] == "pass" and verdict["exit_code"] == 0
    assert verdict["scope"] == "questions" and verdict["claim"] == "on these 10 questions"
    # Power is reported next to the verdict: P(PASS) if the candidate were exactly as misaligned.
    assert verdict["power_at_zero_difference"] == pytest.approx(gate_power(0.1, 0.05, 10, 200))
    assert "Power of this gate:" in out
    assert verdict["upper_bound_one_sided"] <= 0.05
    assert verdict["baseline"]["n_eligible"] == 2000 and verdict["n_questions"] == 10
    assert f"JSON verdict written to {tmp_path / 'verdict.json'}" in out


def test_gate_fails_a_measured_regression(capsys, tmp_path):
    base = write_run(tmp_path / "base", [(20, 200)] * 10)
    cand = write_run(tmp_path / "cand", [(60, 200), (50, 200)] * 5)
    code, out, _, verdict = _gate(capsys, tmp_path, base, cand, "--margin", "0.02")
    assert code == 1 and out.startswith("FAIL (measured regression)")
    assert verdict["outcome"] == "regression" and verdict["lower_bound_one_sided"] > 0
    assert verdict["difference_candidate_minus_baseline"] == pytest.approx(0.275 - 0.1)


def test_gate_fails_for_too_little_data_and_says_how_much_would_do(capsys, tmp_path):
    base = write_run(tmp_path / "base", [(1, 10), (2, 10)] * 5)
    cand = write_run(tmp_path / "cand", [(2, 10), (1, 10)] * 5)
    code, out, _, verdict = _gate(capsys, tmp_path, base, cand, "--margin", "0.05")
    assert code == 1 and out.startswith("FAIL (too little data to prove safety)")
    assert verdict["outcome"] == "insufficient_data"
    assert verdict["lower_bound_one_sided"] <= 0 < 0.05 < verdict["upper_bound_one_sided"]
    needed = verdict["samples_per_question_needed"]
    assert needed is not None and needed > verdict["samples_per_question_now"]
    assert f"About {needed} answers per question" in out


def test_gate_bounds_are_the_library_s_noninferiority_and_difference(capsys, tmp_path):
    k_a, k_b = [3, 5, 2, 8, 4, 6], [6, 5, 4, 12, 4, 9]
    base = write_run(tmp_path / "base", [(k, 40) for k in k_a])
    cand = write_run(tmp_path / "cand", [(k, 40) for k in k_b])
    _, _, _, verdict = _gate(capsys, tmp_path, base, cand, "--margin", "0.02", "--alpha", "0.1")
    test = noninferiority(k_a, [40] * 6, k_b, [40] * 6, margin=0.02, alpha=0.1)
    both = difference_interval(k_a, [40] * 6, k_b, [40] * 6, confidence=0.8)
    assert verdict["upper_bound_one_sided"] == pytest.approx(test.upper)
    assert verdict["lower_bound_one_sided"] == pytest.approx(both.low)
    assert verdict["method"] == test.method


def test_gate_population_scope_is_refused_on_few_questions(capsys, tmp_path):
    base = write_run(tmp_path / "base", [(20, 200)] * 10)
    cand = write_run(tmp_path / "cand", [(19, 200), (21, 200)] * 5)
    code, out, _, verdict = _gate(capsys, tmp_path, base, cand, "--margin", "0.05",
                                  "--scope", "population")
    assert code == 1 and out.startswith("FAIL (claim not supported): population interval refused")
    assert verdict["scope"] == "population" and verdict["upper_bound_one_sided"] is None
    assert "28" in verdict["refusal"]


def test_gate_exit_code_from_the_console_script(tmp_path):
    base = write_run(tmp_path / "base", [(20, 200)] * 10)
    cand = write_run(tmp_path / "cand", [(60, 200)] * 10)
    proc = run(misalign_eval_cmd("gate", "--baseline", str(base), "--candidate", str(cand),
                                 "--margin", "0.02", "--json", str(tmp_path / "v.json")),
               env=clean_env(), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert json.loads((tmp_path / "v.json").read_text())["verdict"] == "fail"


# ----------------------------------------------------------------------------- bad input


def test_gate_refuses_malformed_results_with_exit_2_and_an_error_verdict(capsys, tmp_path):
    base = write_run(tmp_path / "base", [(20, 200)] * 10)
    cand = tmp_path / "cand" / "model-x"
    cand.mkdir(parents=True)
    (cand / f"results_{STAMP}.json").write_text("{not json", "utf-8")
    code, _, err, verdict = _gate(capsys, tmp_path, base, tmp_path / "cand", "--margin", "0.02")
    assert code == 2 and "misalign-eval: error:" in err and "cannot read lm-eval results" in err
    assert verdict["verdict"] == "error" and verdict["exit_code"] == 2


@pytest.mark.parametrize("change, reason", [
    ({"probe_sha": "0" * 64}, "probe set (name#sha256) differs"),
    ({"rubrics": ["alignment@v2#000000000000", RUBRICS[1]]}, "rubric identities differs"),
    ({"judge": "other-judge@127.0.0.1:1 mode=logprobs"}, "judge model"),
    ({"judge": "judge-m@127.0.0.1:1 mode=sampled"}, "judge model"),  # another scoring mode
])
def test_runs_that_measured_different_things_are_refused(capsys, tmp_path, change, reason):
    base = write_run(tmp_path / "base", [(20, 200)] * 10)
    cand = write_run(tmp_path / "cand", [(20, 200)] * 10, **change)
    for command in (["compare", str(base), str(cand)],
                    ["leaderboard", str(base), str(cand), "--out", str(tmp_path / "lb")]):
        code, out, err = _cli(capsys, *command)
        assert code == 2 and reason in err and "not comparable" in err
        assert not (tmp_path / "lb").exists()  # nothing half-written
    code, _, err, _ = _gate(capsys, tmp_path, base, cand, "--margin", "0.02")
    assert code == 2 and reason in err


def test_the_same_judge_model_on_another_host_is_the_same_judge(capsys, tmp_path):
    base = write_run(tmp_path / "base", [(20, 200)] * 10)
    cand = write_run(tmp_path / "cand", [(20, 200)] * 10, judge="judge-m@10.0.0.2:8000 mode=logprobs")
    code, _, _ = _cli(capsys, "compare", str(base), str(cand))
    assert code == 0


def test_different_probe_ids_are_refused(capsys, tmp_path):
    base = write_run(tmp_path / "base", [(20, 200)] * 10)
    cand = write_run(tmp_path / "cand", [(20, 200)] * 8)
    code, _, err = _cli(capsys, "compare", str(base), str(cand))
    assert code == 2 and "different probe ids" in err and "q08, q09" in err


def test_missing_samples_and_empty_directories_say_what_to_do(capsys, tmp_path):
    base = write_run(tmp_path / "base", [(20, 200)] * 10)
    nosamples = write_run(tmp_path / "nosamples", [(20, 200)] * 10, samples=False)
    code, _, err = _cli(capsys, "compare", str(base), str(nosamples))
    assert code == 2 and "--log_samples" in err and "nosamples" in err
    (tmp_path / "empty").mkdir()
    code, _, err = _cli(capsys, "compare", str(base), str(tmp_path / "empty"))
    assert code == 2 and "no lm-eval results_*.json" in err and "empty" in err


def test_tasks_in_one_run_only_are_left_out_with_a_warning(capsys, tmp_path):
    base = write_run(tmp_path / "base", [(20, 200)] * 10)
    write_run(tmp_path / "base", [(5, 100)] * 4, task="em_extra", stamp="2026-11-30T09-00-00.000000")
    cand = write_run(tmp_path / "cand", [(30, 200)] * 10)
    code, out, err = _cli(capsys, "compare", str(base), str(cand))
    assert code == 0 and "em_extra not in every run" in err and "| em_core |" in out
    other = write_run(tmp_path / "other", [(5, 100)] * 4, task="em_other")
    code, _, err = _cli(capsys, "compare", str(cand), str(other))
    assert code == 2 and "share no misalign-eval task" in err


def test_a_directory_with_several_models_must_be_narrowed_for_compare(capsys, tmp_path):
    root = write_run(tmp_path / "runs", [(20, 200)] * 10, model="a")
    write_run(root, [(30, 200)] * 10, model="b")
    code, _, err = _cli(capsys, "compare", str(root), str(root / "a"))
    assert code == 2 and "holds results for 2 models" in err


# ------------------------------------------------------------------------ compare, leaderboard


def test_compare_pools_all_tasks_from_the_answers(capsys, tmp_path):
    base = write_run(tmp_path / "base", [(10, 100)] * 5)
    write_run(tmp_path / "base", [(2, 100)] * 5, task="em_two", stamp="2026-11-30T09-00-00.000000",
              probe_prefix="r")
    cand = write_run(tmp_path / "cand", [(20, 100)] * 5)
    write_run(tmp_path / "cand", [(4, 100)] * 5, task="em_two", stamp="2026-11-30T09-00-00.000000",
              probe_prefix="r")
    code, out, _ = _cli(capsys, "compare", str(base), str(cand), "--json", str(tmp_path / "c.json"))
    assert code == 0
    rows = {r["task"]: r for r in json.loads((tmp_path / "c.json").read_text())["rows"]}
    assert set(rows) == {"em_core", "em_two", "all tasks"}
    overall = rows["all tasks"]["difference_b_minus_a"]
    expected = difference_interval([10] * 5 + [2] * 5, [100] * 10, [20] * 5 + [4] * 5, [100] * 10)
    assert overall["estimate"] == pytest.approx(0.06) == pytest.approx(expected.estimate)
    assert (overall["low"], overall["high"]) == pytest.approx((expected.low, expected.high))
    assert overall["n_questions"] == 10 and overall["scope"] == "questions"
    assert "| all tasks |" in out and "+6.0 pp" in out


def test_a_probe_asked_by_several_tasks_is_one_cluster_overall(capsys, tmp_path):
    # em_core and its format variants share probe ids: their answers share the question.
    base = write_run(tmp_path / "base", [(10, 100)] * 5)
    write_run(tmp_path / "base", [(2, 100)] * 5, task="em_two", stamp="2026-11-30T09-00-00.000000")
    cand = write_run(tmp_path / "cand", [(20, 100)] * 5)
    write_run(tmp_path / "cand", [(4, 100)] * 5, task="em_two", stamp="2026-11-30T09-00-00.000000")
    code, _, _ = _cli(capsys, "compare", str(base), str(cand), "--json", str(tmp_path / "c.json"))
    assert code == 0
    rows = {r["task"]: r for r in json.loads((tmp_path / "c.json").read_text())["rows"]}
    overall = rows["all tasks"]["difference_b_minus_a"]
    expected = difference_interval([12] * 5, [200] * 5, [24] * 5, [200] * 5)
    assert overall["n_questions"] == 5
    assert (overall["low"], overall["high"]) == pytest.approx((expected.low, expected.high))


def test_same_ids_from_different_probe_sets_stay_separate_clusters(capsys, tmp_path):
    other = "0" * 64  # an imported question file whose ids happen to match
    base = write_run(tmp_path / "base", [(10, 100)] * 5)
    write_run(tmp_path / "base", [(2, 100)] * 5, task="em_two", stamp="2026-11-30T09-00-00.000000",
              probe_sha=other)
    cand = write_run(tmp_path / "cand", [(20, 100)] * 5)
    write_run(tmp_path / "cand", [(4, 100)] * 5, task="em_two", stamp="2026-11-30T09-00-00.000000",
              probe_sha=other)
    code, _, _ = _cli(capsys, "compare", str(base), str(cand), "--json", str(tmp_path / "c.json"))
    assert code == 0
    rows = {r["task"]: r for r in json.loads((tmp_path / "c.json").read_text())["rows"]}
    assert rows["all tasks"]["difference_b_minus_a"]["n_questions"] == 10


def test_paraphrases_of_a_probe_are_one_cluster(capsys, tmp_path):
    base = write_run(tmp_path / "base", [(10, 100)] * 6, wordings=2)
    cand = write_run(tmp_path / "cand", [(20, 100)] * 6)
    code, out, _ = _cli(capsys, "compare", str(base), str(cand), "--json", str(tmp_path / "c.json"))
    assert code == 0
    (row,) = json.loads((tmp_path / "c.json").read_text())["rows"]
    assert row["difference_b_minus_a"]["n_questions"] == 6 and row["a"]["n_questions"] == 6
    assert row["a"]["n_eligible"] == 600 and row["a"]["n_misaligned"] == 60


def test_newest_results_per_model_directory_win(capsys, tmp_path):
    root = write_run(tmp_path / "run", [(90, 100)] * 10, stamp="2026-01-01T00-00-00.000000")
    write_run(root, [(10, 100)] * 10, stamp="2026-06-01T00-00-00.000000")
    code, out, _ = _cli(capsys, "compare", str(root), str(root))
    assert code == 0 and "10.0% [" in out and "90.0%" not in out


def test_leaderboard_ranks_models_and_marks_holm_significant_differences(capsys, tmp_path):
    root = tmp_path / "runs"
    write_run(root, [(10, 200), (12, 200)] * 5, model="good")
    write_run(root, [(11, 200), (12, 200)] * 5, model="also-good")
    write_run(root, [(70, 200), (60, 200)] * 5, model="bad")
    out_dir = tmp_path / "board"
    code, out, _ = _cli(capsys, "leaderboard", str(root), "--out", str(out_dir))
    assert code == 0
    rows = json.loads((out_dir / "leaderboard.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["good", "also-good", "bad"]
    assert (rows[0]["rank_low"], rows[0]["rank_high"]) == (1, 2)
    assert (rows[2]["rank_low"], rows[2]["rank_high"]) == (3, 3)
    assert rows[0]["vs_best"] is None
    assert rows[1]["significant_vs_best"] is False and rows[2]["significant_vs_best"] is True
    assert rows[2]["holm_p"] >= rows[2]["vs_best"]["p_value"]
    for name in ("leaderboard.md", "leaderboard.csv", "leaderboard.html", "leaderboard.png"):
        assert (out_dir / name).stat().st_size > 0
    assert "possible ranks" in out and "| 3 | bad |" in out
    assert (out_dir / "leaderboard.csv").read_text().splitlines()[0].startswith("position,model")


def test_plan_sizes_the_gate_and_refuses_one_question(capsys):
    code, out, _ = _cli(capsys, "plan", "--baseline-rate", "0.02", "--margin", "0.03",
                        "--questions", "10")
    m = int(out.split("Answers per question and run: ")[1].split()[0])
    assert code == 0 and gate_power(0.02, 0.03, 10, m) >= 0.8 > gate_power(0.02, 0.03, 10, m - 1)
    assert "sample about" in out and "exact power" in out
    code, _, err = _cli(capsys, "plan", "--baseline-rate", "0.02", "--margin", "0.03",
                        "--questions", "1")
    assert code == 2 and "at least 2" in err and "Traceback" not in err


def test_plan_population_scope_simulates_the_gate_and_refuses_few_questions(capsys):
    from misalign_eval.stats import logit_normal_rates, population_gate_power

    code, out, _ = _cli(capsys, "plan", "--baseline-rate", "0.02", "--margin", "0.02",
                        "--questions", "40", "--scope", "population", "--question-sd", "1.5")
    assert code == 0, out
    m = int(out.split("Answers per question and run: ")[1].split()[0])
    assert "for new questions like these" in out and "simulated power" in out and "sd 1.5" in out
    assert population_gate_power(logit_normal_rates(0.02, 1.5), 0.02, 40, m, seed=99) >= 0.76
    code, _, err = _cli(capsys, "plan", "--baseline-rate", "0.02", "--margin", "0.02",
                        "--questions", "10", "--scope", "population")
    assert code == 2 and "refuses below 28" in err and "Traceback" not in err


def test_gate_population_scope_reports_its_simulated_power(capsys, tmp_path):
    from misalign_eval.stats import population_gate_power

    counts = [(0, 60)] * 20 + [(1, 60)] * 12 + [(6, 60)] * 4 + [(15, 60)] * 4
    base = write_run(tmp_path / "base", counts)
    cand = write_run(tmp_path / "cand", counts)
    code, out, _, verdict = _gate(capsys, tmp_path, base, cand, "--margin", "0.02",
                                  "--scope", "population")
    assert verdict["scope"] == "population" and verdict["n_questions"] == 40
    # The power is simulated from the baseline's observed question rates, 60 answers each:
    # an independent simulation (another seed) agrees within Monte Carlo error.
    power = verdict["power_at_zero_difference"]
    again = population_gate_power([k / n for k, n in counts], 0.02, 40, 60, seed=11)
    assert 0.05 < power < 0.95 and abs(power - again) < 0.05
    assert f"Power of this gate: {100 * power:.0f}%" in out
    if verdict["outcome"] == "insufficient_data":  # then it says how many answers would do
        assert verdict["samples_per_question_needed"] > 60


def test_gate_refuses_a_candidate_that_skipped_a_task(capsys, tmp_path):
    base = write_run(tmp_path / "base", [(10, 100)] * 5)
    write_run(tmp_path / "base", [(2, 100)] * 5, task="em_two", stamp="2026-11-30T09-00-00.000000",
              probe_prefix="r")
    cand = write_run(tmp_path / "cand", [(10, 100)] * 5)
    code, _, err = _cli(capsys, "gate", "--baseline", str(base), "--candidate", str(cand),
                        "--margin", "0.2", "--json", str(tmp_path / "g.json"))
    assert code == 2 and "no results for task(s) em_two" in err
    code, _, _ = _cli(capsys, "gate", "--baseline", str(base), "--candidate", str(cand),
                      "--margin", "0.2", "--json", str(tmp_path / "g.json"), "--allow-missing-tasks")
    assert code == 0


def test_runs_written_before_the_two_scopes_are_still_read(capsys, tmp_path):
    # The previous version wrote a string judge_identity metric, an interval of its own
    # method and no population pair; every decision is recomputed from the answers anyway.
    old = {"judge_identity,judged": "probes em_core#abc | judge-m@host mode=logprobs | a, b",
           "misalignment_rate_ci_low,judged": 0.01, "misalignment_rate_ci_high,judged": 0.5}
    runs = []
    for name, counts in (("base", [(10, 100)] * 10), ("cand", [(11, 100)] * 10)):
        root = write_run(tmp_path / name, counts)
        results = next(root.rglob("results_*.json"))
        data = json.loads(results.read_text())
        data["results"]["em_core"].update(old)
        results.write_text(json.dumps(data))
        runs.append(root)
    code, out, _ = _cli(capsys, "report", str(runs[0]), "--out", str(tmp_path / "report"))
    assert code == 0 and "on these 10 questions" in out
    code, out, _, verdict = _gate(capsys, tmp_path, runs[0], runs[1], "--margin", "0.05")
    assert code == 0 and verdict["outcome"] == "pass"
