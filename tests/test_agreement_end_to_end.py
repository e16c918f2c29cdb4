"""End to end: the simulated endpoint serves two judges that disagree on a set share of the
answers; the same answers are graded by both with `misalign-eval judge --run-dir`, and
`misalign-eval agreement` recovers that share. Then label-sample / calibrate on the worse
judge with labels from the known truth, and the refusals."""

import csv
import json

import pytest

from misalign_eval.sim import SimSettings, SimulatedEndpoint
from misalign_eval.sim.answers import INCOHERENT, MISALIGNED, classify

from conftest import clean_env, misalign_eval_cmd, run
from samples_files import write_samples

DISAGREEMENT = 0.1
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gradings(tmp_path_factory):
    root = tmp_path_factory.mktemp("agreement")
    samples = root / "samples_em_core_2025-01-01T00-00-00.jsonl"
    write_samples(samples, questions=12, answers=80, seed=3)
    other = root / "other" / "samples_em_core_2025-01-02T00-00-00.jsonl"
    other.parent.mkdir()
    write_samples(other, questions=12, answers=80, seed=4)
    settings = SimSettings(seed=5, judge_disagreement=DISAGREEMENT)
    with SimulatedEndpoint(settings) as sim:
        env = clean_env(MISALIGN_JUDGE_BASE_URL=sim.base_url)
        for label, model, path in (("judge_a", "sim-judge", samples),
                                   ("judge_b", "sim-judge-b", samples),
                                   ("other_answers", "sim-judge", other)):
            proc = run(misalign_eval_cmd("judge", str(path), "--out", str(root / f"{label}.jsonl"),
                                         "--run-dir", str(root / "runs"), "--label", label,
                                         "--judge-model", model, "--quiet"), env)
            assert proc.returncode == 0, proc.stderr[-2000:]
    return root, env


def test_agreement_recovers_the_configured_disagreement(gradings):
    root, env = gradings
    runs = root / "runs"
    proc = run(misalign_eval_cmd("agreement", str(runs / "judge_a"), str(runs / "judge_b"),
                                 "--json", str(root / "agree.json"), "--out", str(root / "agree")), env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    print(proc.stdout)
    data = json.loads((root / "agree.json").read_text())
    (task,) = data["tasks"]
    (pair,) = task["pairs"]
    share = pair["disagreement"]
    assert task["n_matched"] == 12 * 80
    assert share["low"] <= DISAGREEMENT <= share["high"]
    assert abs(share["estimate"] - DISAGREEMENT) < 0.04
    table = pair["table"]
    assert table[0][1] + table[1][0] == round(share["estimate"] * task["n_scored_by_all"])
    assert 0.3 < pair["kappa"]["estimate"] < 0.9
    assert pair["kappa"]["low"] <= pair["kappa"]["estimate"] <= pair["kappa"]["high"]
    assert task["alpha"]["estimate"] == pytest.approx(pair["kappa"]["estimate"], abs=0.02)
    assert "Cohen's kappa" in proc.stdout and "judge_b vs judge_a" in proc.stdout
    written = {p.name for p in (root / "agree").iterdir()}
    assert {"agreement.md", "agreement.json", "disagreements.csv", "scores.png"} <= written
    with (root / "agree" / "disagreements.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows and rows[0]["labels_differ"] == "True" and rows[0]["answer"]


def test_agreement_refuses_gradings_of_different_answers(gradings):
    root, env = gradings
    runs = root / "runs"
    proc = run(misalign_eval_cmd("agreement", str(runs / "judge_a"), str(runs / "other_answers")), env)
    assert proc.returncode == 2
    assert "not gradings of the same answers" in proc.stderr and "answers matched" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_members_of_a_single_judge_run_are_refused_in_one_line(gradings):
    root, env = gradings
    proc = run(misalign_eval_cmd("agreement", str(root / "runs" / "judge_a"), "--members"), env)
    assert proc.returncode == 2
    assert "graded by a single judge" in proc.stderr and "MISALIGN_JUDGE_MODEL=a,b" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def _fill(path, out, corrupt_line=None):
    with path.open() as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        cls = classify(row["answer"])
        row["misaligned"] = "yes" if cls == MISALIGNED else "no"
        row["coherent"] = "no" if cls == INCOHERENT else "yes"
    if corrupt_line is not None:
        rows[corrupt_line - 2]["misaligned"] = "maybe"
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_label_sample_and_calibrate_correct_the_worse_judge(gradings):
    root, env = gradings
    run_b = root / "runs" / "judge_b"
    to_label = root / "to_label.csv"
    proc = run(misalign_eval_cmd("label-sample", str(run_b), "--n", "200", "--out", str(to_label),
                                 "--compare-with", str(root / "runs" / "judge_a")), env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with to_label.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 200 and all(r["misaligned"] == "" == r["coherent"] for r in rows)
    assert {"id", "question", "answer", "stratum", "inclusion_probability"} <= set(rows[0])
    labelled = root / "labelled.csv"
    _fill(to_label, labelled)
    proc = run(misalign_eval_cmd("calibrate", str(run_b), "--labels", str(labelled),
                                 "--json", str(root / "cal.json")), env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    cal = json.loads((root / "cal.json").read_text())
    # Truth: the share of judge_b's eligible answers that are truly misaligned.
    truth_k = truth_n = 0
    for line in (run_b.glob("samples_*.jsonl")).__next__().read_text().splitlines():
        record = json.loads(line)
        for answer, j in zip(record["resps"][0], record["n_answers"]["judgements"]):
            if j["status"] == "scored" and j["in_denominator"]:
                truth_n += 1
                truth_k += classify(answer) == MISALIGNED
    truth = truth_k / truth_n
    assert cal["low"] <= truth <= cal["high"]
    assert abs(cal["estimate"] - truth) < abs(cal["raw"] - truth)  # the correction helps
    assert cal["labels_to_halve"] > 0 and "would halve the calibration part" in proc.stdout
    report = run(misalign_eval_cmd("report", str(run_b), "--labels", str(labelled),
                                   "--out", str(root / "report")), env)
    assert report.returncode == 0, report.stderr[-2000:]
    assert "corrected for judge error" in report.stdout


def test_a_bad_labels_file_is_one_line_naming_file_and_line(gradings):
    root, env = gradings
    run_b = root / "runs" / "judge_b"
    to_label = root / "to_label_bad.csv"
    proc = run(misalign_eval_cmd("label-sample", str(run_b), "--n", "30", "--out", str(to_label)), env)
    assert proc.returncode == 0, proc.stderr
    bad = root / "bad.csv"
    _fill(to_label, bad, corrupt_line=7)
    proc = run(misalign_eval_cmd("calibrate", str(run_b), "--labels", str(bad)), env)
    assert proc.returncode == 2
    assert f"{bad}:7: misaligned is 'maybe'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    other = root / "runs" / "other_answers"
    proc = run(misalign_eval_cmd("calibrate", str(other), "--labels", str(root / "labelled.csv")), env)
    assert proc.returncode == 2 and ":2: id" in proc.stderr and "another run" in proc.stderr
