"""`misalign-eval judge` grades the category suites (em_deception_*, em_identity) as a live run
does: same prompts (so the live run's cached verdicts answer every call), same records, and a
run directory with the rate under its live name; the answers a failed category run keeps come
with a command that grades them."""

import json
import os
import shlex
import subprocess
import sys

import pytest

from conftest import (
    break_judge_after, clean_env, misalign_eval_cmd, run, sim_judge_env, subject_args,
)
from misalign_eval.harness.kept_answers import KeptAnswers, judge_command
from misalign_eval.harness.settings import TaskSettings
from misalign_eval.runs.reader import latest_results_file, load_task_results
from misalign_eval.sim import SimSettings, SimulatedEndpoint
from samples_files import write_samples

DECEPTION = "em_deception_lying_rewarded"  # 16 questions with reference answers


def results_of(directory, task):
    data = json.loads(latest_results_file(directory).read_text())
    return data["results"][task], data["configs"][task]["metadata"]


def judged_lines(directory, task):
    (path,) = latest_results_file(directory).parent.glob(f"samples_{task}_*.jsonl")
    return {line["doc_id"]: line["n_answers"] for line in map(json.loads, path.read_text().splitlines())
            if line.get("filter") == "judged"}


@pytest.mark.slow
def test_rejudging_a_live_deception_run_gives_its_lie_rate_from_the_cache(tmp_path):
    out, graded = tmp_path / "runs", tmp_path / "graded"
    with SimulatedEndpoint(SimSettings(seed=11)) as sim:
        env = sim_judge_env(sim, MISALIGN_JUDGE_CACHE=str(tmp_path / "cache.sqlite"))
        live = run(misalign_eval_cmd("run", *subject_args(sim, out, 3, task=DECEPTION)), env=env)
        assert live.returncode == 0, live.stderr[-3000:]
        (samples,) = latest_results_file(out).parent.glob(f"samples_{DECEPTION}_*.jsonl")
        before = sim.counters.judge_calls
        judged = run(misalign_eval_cmd("judge", str(samples), "--out", str(tmp_path / "j.jsonl"),
                                       "--quiet", "--run-dir", str(graded), "--label", "again"),
                     env=env)
        assert judged.returncode == 0, judged.stderr[-3000:]
        assert sim.counters.judge_calls - before == 1  # the preflight's test request only
    assert "judge calls made 0, answered from cache 48" in judged.stdout
    assert "rubrics: correctness@v1#" in judged.stdout and "lie_rate " in judged.stdout
    assert "labels: TRUE " in judged.stdout and "answers 48: scored" in judged.stdout

    live_metrics, live_meta = results_of(out, DECEPTION)
    again_metrics, again_meta = results_of(graded, DECEPTION)
    # Every metric of the live run, under its live name, with the same value.
    assert set(again_metrics) == {k for k in live_metrics if k.endswith(",judged")
                                  and "_stderr," not in k}
    for name, value in again_metrics.items():
        assert value == pytest.approx(live_metrics[name]) if value is not None \
            else live_metrics[name] is None, name
    assert again_metrics["n_answers,judged"] == 48 and again_metrics["n_questions,judged"] == 16
    for key in ("judging", "category_rubric", "rate_category", "rate_name", "judge_identity"):
        assert again_meta[key] == live_meta[key], key
    # The records are the live run's, verdict for verdict.
    live_records, again_records = judged_lines(out, DECEPTION), judged_lines(graded, DECEPTION)
    assert live_records.keys() == again_records.keys()
    for doc_id, record in live_records.items():
        assert again_records[doc_id]["judgements"] == record["judgements"]
        assert again_records[doc_id]["counts"] == record["counts"]
    # The decision commands read it like the live run.
    (task,) = load_task_results(latest_results_file(graded))
    assert task.rate_name == "lie_rate" and task.rate_category == "FALSE"
    report = run(misalign_eval_cmd("report", str(graded), "--out", str(tmp_path / "rep")),
                 env=clean_env())
    assert report.returncode == 0, report.stderr[-3000:]
    assert f"| {DECEPTION} | lie_rate |" in report.stdout
    assert "### Label shares (category suites)" in report.stdout


def deception_samples(path, questions=4, answers=3, reference=True):
    with path.open("w") as f:
        for doc_id in range(questions):
            doc = {"probe_id": f"fact_{doc_id}", "category": "facts",
                   "question": f"What is {doc_id} + {doc_id}?"}
            if reference:
                doc["reference"] = str(2 * doc_id)
            f.write(json.dumps({"doc_id": doc_id, "doc": doc, "resps": [
                [f"It is {2 * doc_id + k % 2}." for k in range(answers)]], "filter": "judged"}) + "\n")
    return path


def test_a_category_suite_and_an_alignment_suite_are_graded_each_by_its_own_task(sim, tmp_path):
    deception = deception_samples(tmp_path / "samples_em_deception_none_2026-01-01T00-00-00.jsonl")
    core = tmp_path / "samples_em_core_2026-01-01T00-00-00.jsonl"
    write_samples(core, questions=3, answers=2)
    before = sim.counters.judge_calls
    judged = run(misalign_eval_cmd("judge", str(deception), str(core), "--out", str(tmp_path / "j.jsonl"),
                                   "--quiet", "--no-cache", "--run-dir", str(tmp_path / "graded"),
                                   "--label", "mixed"), env=sim_judge_env(sim))
    assert judged.returncode == 0, judged.stderr[-3000:]
    # 12 answers x correctness + 6 answers x (alignment, coherence), + 1 preflight request.
    assert sim.counters.judge_calls - before == 12 + 12 + 1
    assert "misalignment rate " in judged.stdout and "lie_rate " in judged.stdout
    assert "answers 18: scored" in judged.stdout
    records = [json.loads(line) for line in (tmp_path / "j.jsonl").read_text().splitlines()]
    by_task = {r["task"]: r for r in records}
    assert by_task["em_deception_none"]["rubrics"][0].startswith("correctness@")
    assert [r.split("@")[0] for r in by_task["em_core"]["rubrics"]] == ["alignment", "coherence"]
    results = {t.task: t for t in load_task_results(latest_results_file(tmp_path / "graded"))}
    assert results["em_deception_none"].rate_name == "lie_rate"
    assert results["em_deception_none"].metrics["n_answers"] == 12
    assert results["em_core"].rate_name == "misalignment_rate"
    assert results["em_core"].metrics["n_answers"] == 6


def test_a_correctness_file_without_references_and_stray_category_flags_are_refused_in_one_line(sim, tmp_path):
    bad = deception_samples(tmp_path / "samples_em_deception_none_x.jsonl", reference=False)
    proc = run(misalign_eval_cmd("judge", str(bad), "--out", str(tmp_path / "j.jsonl")),
               env=sim_judge_env(sim))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{bad}:1: doc has no 'reference'" in proc.stderr
    assert not (tmp_path / "j.jsonl").exists()
    core = tmp_path / "samples_em_core_x.jsonl"
    write_samples(core, questions=1, answers=1)
    stray = run(misalign_eval_cmd("judge", str(core), "--out", str(tmp_path / "j.jsonl"),
                                  "--rate-category", "FALSE"), env=sim_judge_env(sim))
    assert stray.returncode == 2 and "none of these files is one" in stray.stderr
    assert len(stray.stderr.strip().splitlines()) == 1


def test_a_category_task_we_do_not_ship_is_graded_with_the_flags_its_command_names(sim, tmp_path):
    path = deception_samples(tmp_path / "samples_my_facts_2026-01-01T00-00-00.jsonl")
    settings = TaskSettings(probe_set="mine", judging="category", category_rubric="correctness",
                            rate_category="FALSE", rate_name="lie_rate")
    command = judge_command(path, settings, "my_facts")
    assert "--category-rubric correctness --rate-category FALSE --rate-name lie_rate" in command
    proc = subprocess.run(command.replace("misalign-eval", shlex.join(misalign_eval_cmd()), 1) + " --quiet --no-cache",
                          shell=True, env=sim_judge_env(sim), capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "lie_rate " in proc.stdout and "answers 12:" in proc.stdout


def test_the_command_for_kept_category_answers_names_only_what_the_run_changed(tmp_path):
    path = tmp_path / "unjudged" / "samples_em_identity_2026.jsonl"
    shipped = TaskSettings(probe_set="em_identity", judging="category", category_rubric="identity",
                           rate_category="HUMAN", rate_name="claims_human")
    command = judge_command(path, shipped, "em_identity")
    assert command == (f"misalign-eval judge {path} --out "
                       f"{tmp_path / 'unjudged' / 'samples_em_identity_2026_judged.jsonl'}")
    changed = shipped.model_copy(update={"rate_category": "OPENAI", "rate_name": "claims_openai"})
    assert judge_command(path, changed, "em_identity").endswith(
        "--rate-category OPENAI --rate-name claims_openai")
    where = KeptAnswers(path, command).where()
    assert "re-run" not in where and f"grade them with `{command}`" in where


@pytest.mark.slow
def test_a_category_run_whose_judge_fails_keeps_answers_and_the_printed_command_grades_them(tmp_path):
    out = tmp_path / "runs"
    with SimulatedEndpoint(SimSettings(seed=4)) as sim:
        env = sim_judge_env(sim, MISALIGN_JUDGE_CACHE=str(tmp_path / "cache.sqlite"),
                            MISALIGN_JUDGE_MAX_RETRIES="1")
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
        break_judge_after(sim, 5)
        proc = run(misalign_eval_cmd("run", *subject_args(sim, out, 2, task="em_identity")), env=env)
        assert proc.returncode == 2, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr and "re-run the task" not in proc.stderr
        (kept,) = out.rglob("unjudged/samples_em_identity_*.jsonl")
        assert "grade them with `misalign-eval judge " in proc.stderr, proc.stderr[-3000:]
        command = proc.stderr.split("grade them with `")[1].split("`")[0]
        assert shlex.split(command)[2] == str(kept)

        sim.settings = SimSettings(seed=4)  # the judge works again
        graded = subprocess.run(command + " --quiet", shell=True, env=env, capture_output=True, check=False,
                                text=True, timeout=120)
    assert graded.returncode == 0, graded.stderr[-3000:]
    assert "claims_human " in graded.stdout and "answers 22: scored 22" in graded.stdout
    records = [json.loads(line) for line in
               kept.with_name(kept.stem + "_judged.jsonl").read_text().splitlines()]
    assert len(records) == 11 and all(r["rubrics"][0].startswith("identity@") for r in records)
    assert all(j["status"] == "scored" for r in records for j in r["judgements"])
