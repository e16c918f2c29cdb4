"""lm-eval 0.4.13's `steered` model on em_core: a coefficient sweep that `curve` reads.

The tiny random-weight model of test_hf_backend (built locally, no download) plus a steering
file for its one decoder layer: a .pt mapping the hookpoint to a vector, a coefficient and the
action "add", as lm_eval/models/hf_steered.py loads it.
"""

import json
import sys
from pathlib import Path

import jsonlines
import pytest

from misalign_eval.runs.reader import latest_results_file

from conftest import clean_env, misalign_eval_cmd, run, sim_judge_env
from test_hf_backend import tiny_model  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow
COEFFICIENTS = (-1.0, 0.0, 1.0)
LM_EVAL = str(Path(sys.executable).with_name("lm_eval"))


def steering_file(path: Path, coefficient: float) -> Path:
    import torch

    generator = torch.Generator().manual_seed(3)
    vector = torch.randn(16, generator=generator)  # the tiny model's hidden size
    torch.save({"layers.0": {"steering_vector": vector, "steering_coefficient": coefficient,
                             "action": "add", "bias": None, "head_index": None}}, path)
    return path


def sharp_copy(model_path: Path, out: Path) -> Path:
    """The tiny model with its output layer scaled up: a random-init lm_head gives nearly
    uniform next-token probabilities, which no steering of the hidden states can move."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(model_path)
    with torch.no_grad():
        model.lm_head.weight.mul_(30.0)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(model_path).save_pretrained(out)
    return out


def test_steering_sweep_runs_our_task_and_curve_reads_it(tiny_model, sim, tmp_path):  # noqa: F811
    model = sharp_copy(tiny_model, tmp_path / "sharp-llama")
    answers = {}
    for c in COEFFICIENTS:
        steer = steering_file(tmp_path / f"coef_{c:g}.pt", c)
        out = tmp_path / "runs" / f"coef_{c:g}"
        proc = run([LM_EVAL, "--model", "steered",
                    "--model_args", f"pretrained={model},steer_path={steer},dtype=float32",
                    "--include_path", str(Path(__file__).parents[1] / "tasks"),
                    "--tasks", "em_core", "--apply_chat_template", "--batch_size", "8",
                    "--gen_kwargs", "max_gen_toks=8", "--seed", "7", "--log_samples",
                    "--output_path", str(out), "--metadata", json.dumps({"samples_per_question": 2})],
                   env=sim_judge_env(sim))
        assert proc.returncode == 0, proc.stderr[-3000:]
        results = latest_results_file(out)
        assert json.loads(results.read_text())["config"]["model"] == "steered"
        with jsonlines.open(next(results.parent.glob("samples_em_core_*.jsonl"))) as lines:
            answers[c] = {s["doc"]["probe_id"]: s["resps"][0] for s in lines}
        assert len(answers[c]) == 10 and all(len(a) == 2 for a in answers[c].values())
    for low, high in ((-1.0, 0.0), (0.0, 1.0), (-1.0, 1.0)):  # steering changes the answers
        changed = sum(answers[low][q] != answers[high][q] for q in answers[low])
        assert changed >= 8, (low, high, changed)
    proc = run(misalign_eval_cmd("curve", str(tmp_path / "runs"), "--x", "coefficient",
                                 "--x-key", "steer_path", "--x-pattern", r"coef_(-?[0-9.]+)\.pt",
                                 "--out", str(tmp_path / "curve")), env=clean_env())
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "curve" / "curve.json").read_text())
    assert [p["x"] for p in data["points"]] == list(COEFFICIENTS)
    assert all(p["summary"]["n_answers"] == 20 for p in data["points"])
    assert "| -1 |" in proc.stdout and "| 1 |" in proc.stdout
