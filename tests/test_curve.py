"""`misalign-eval curve` and `compare --group` on real lm_eval runs against simulated subjects
whose true misalignment rate is known: an increasing set (0.02, 0.05, 0.1, 0.2) and a flat
set (0.1, three seeds of the simulation)."""

from __future__ import annotations

import csv
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from misalign_eval.sim import SimSettings, SimulatedEndpoint

from conftest import clean_env, misalign_eval_cmd, run, sim_judge_env, subject_args

pytestmark = pytest.mark.slow
SAMPLES = 20
RISING = (0.02, 0.05, 0.1, 0.2)
LM_EVAL = str(Path(sys.executable).with_name("lm_eval"))
TASKS = str(Path(__file__).parents[1] / "tasks")


def lm_eval_run(rate: float, seed: int, out: Path, metadata: dict | None = None) -> Path:
    with SimulatedEndpoint(SimSettings(misalignment_rate=rate, seed=seed)) as sim:
        proc = run([LM_EVAL, "--include_path", TASKS,
                    *subject_args(sim, out, SAMPLES, extra_metadata=metadata)],
                   env=sim_judge_env(sim))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("curve")
    jobs = [(r, 0, root / f"step-{i * 100}", None) for i, r in enumerate(RISING)]
    jobs += [(0.1, seed, root / f"flat-seed{seed}", None) for seed in (1, 2, 3)]
    # Same subject, another definition of the rate: not a seed of the same measurement.
    jobs.append((0.1, 4, root / "other-definition", {"definition": "model_organisms"}))
    with ThreadPoolExecutor(max_workers=4) as pool:  # independent runs: overlap their start-up
        done = list(pool.map(lambda job: lm_eval_run(*job), jobs))
    return root, done[:4], done[4:7]


def curve(*args: str):
    return run(misalign_eval_cmd("curve", *args), env=clean_env())


def test_rising_rates_give_a_trend_and_the_right_first_difference(runs, tmp_path):
    root, rising, _ = runs
    proc = curve(*map(str, rising), "--x", "step", "--x-pattern", r"step-(\d+)",
                 "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    print(proc.stdout)
    data = json.loads((tmp_path / "out" / "curve.json").read_text())
    assert [p["x"] for p in data["points"]] == [0, 100, 200, 300]
    assert data["trend"]["p_value"] < 0.001 and data["trend"]["direction"] == "increasing"
    # 0.05 vs 0.02 is too close to tell apart with ~170 answers; 0.1 vs 0.02 is not.
    assert data["first_difference"]["first_x"] == 200
    diffs = {d["x"]: d for d in data["first_difference"]["points"]}
    assert not diffs[100]["differs"] and diffs[200]["differs"] and diffs[300]["differs"]
    for p, truth in zip(data["points"], RISING):
        rate = p["summary"]["rate"]
        assert rate["low"] <= truth <= rate["high"]
        assert rate["scope"] == "questions"
    assert "on these 10 questions" in proc.stdout
    assert "| 200 |" in proc.stdout and "first difference: step = 200" in proc.stdout
    rows = list(csv.DictReader((tmp_path / "out" / "curve.csv").open()))
    assert [r["step"] for r in rows] == ["0.0", "100.0", "200.0", "300.0"]
    assert all(int(r["n_eligible"]) > 100 for r in rows)
    questions = list(csv.DictReader((tmp_path / "out" / "curve_questions.csv").open()))
    assert len(questions) == 10 * 4
    for name in ("curve.png", "curve_questions.png"):
        assert (tmp_path / "out" / name).read_bytes()[:4] == b"\x89PNG"


def test_flat_rates_give_no_trend_and_no_difference(runs, tmp_path):
    _, _, flat = runs
    points = [f"--point={d}={x}" for d, x in zip(flat, (1, 10, 100))]
    proc = curve(*points, "--x", "checkpoint", "--log-x", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "out" / "curve.json").read_text())
    assert data["trend_scores"] == "log10 x"
    assert data["trend"]["p_value"] > 0.05
    assert data["first_difference"]["first_x"] is None


def test_re_alignment_curve_stays_below_the_threshold(runs, tmp_path):
    _, rising, _ = runs
    # Read backwards: x = 300 - step, so the rate falls from 0.2 to 0.02.
    points = [f"--point={d}={300 - 100 * i}" for i, d in enumerate(rising)]
    proc = curve(*points, "--x", "realignment_step", "--below", "0.18",
                 "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    below = json.loads((tmp_path / "out" / "curve.json").read_text())["first_below"]
    # 0.1 (x = 100) and below: one-sided 95% upper bounds under 18%; 0.2 (x = 0) is not.
    assert below["first_x"] == 100
    assert "stays below: from realignment_step = 100 on" in proc.stdout


def test_seed_groups_in_curve_and_compare(runs, tmp_path):
    root, rising, flat = runs
    spread = [str(d) for d in rising]  # four "seeds" whose true rates differ a lot
    proc = run(misalign_eval_cmd("compare", "--group", f"flat={root}/flat-seed*",
                                 "--group", "spread=" + spread[0], *spread[1:],
                                 "--json", str(tmp_path / "cmp.json")), env=clean_env())
    assert proc.returncode == 0, proc.stderr
    rows = json.loads((tmp_path / "cmp.json").read_text())["rows"]
    a, b = rows[0]["a"]["rate"], rows[0]["b"]["rate"]
    assert a["n_runs"] == 3 and b["n_runs"] == 4
    assert b["between_seed_sd"] > a["between_seed_sd"]
    assert "seed groups" in proc.stdout or "seed-group" in proc.stdout
    # The spread group's interval is wider than one run's (its 0.1 run).
    one = run(misalign_eval_cmd("compare", str(rising[0]), str(rising[2]),
                                "--json", str(tmp_path / "one.json")), env=clean_env())
    assert one.returncode == 0, one.stderr
    single = json.loads((tmp_path / "one.json").read_text())["rows"][0]["b"]["rate"]
    assert b["high"] - b["low"] > single["high"] - single["low"]
    # Groups as curve points: x from the group name.
    proc = curve("--group", f"1={root}/flat-seed*", "--group", "2=" + spread[0], *spread[1:],
                 "--x", "dose", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "out" / "curve.json").read_text())
    assert [len(p["directories"]) for p in data["points"]] == [3, 4]
    assert "runs (seeds) as the permuted units" in data["trend"]["method"]


def test_curve_refuses_bad_input_with_one_line(runs, tmp_path):
    root, rising, flat = runs
    cases = [
        (["--x", "step", "--x-pattern", r"nomatch-(\d+)", str(rising[0]), str(rising[1])],
         "does not match its directory"),
        (["--x", "step", str(rising[0]), str(rising[1])], "no recorded 'step'"),
        ([f"--point={rising[0]}=1", f"--point={rising[1]}=1", "--x", "s"], "have the same x"),
        (["--x", "s", "--group", f"g={root}/nothing-*", str(rising[0])], "matches no directory"),
        ([f"--point={rising[0]}=abc", str(rising[1]), "--x", "s"], "is not a number"),
        (["--x", "s", "--group", f"1={flat[0]}", str(root / "other-definition"),
          "--group", f"2={flat[1]}", str(flat[2])], "definition of the rate differs"),
    ]
    for args, message in cases:
        proc = curve(*args, "--out", str(tmp_path / "never"))
        if "definition" in message:  # the same refusal from compare --group
            cmp = run(misalign_eval_cmd("compare", *args[2:]), env=clean_env())
            assert cmp.returncode == 2 and message in cmp.stderr, cmp.stderr
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "never").exists()


def test_leaderboard_has_the_question_by_model_heatmap(runs, tmp_path):
    _, rising, _ = runs
    proc = run(misalign_eval_cmd("leaderboard", *map(str, rising), "--out", str(tmp_path / "lb")),
               env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "lb" / "leaderboard_questions.png").read_bytes()[:4] == b"\x89PNG"
    page = (tmp_path / "lb" / "leaderboard.html").read_text()
    assert page.count("<img") == 2 and "share of misaligned answers per question and model" in page
