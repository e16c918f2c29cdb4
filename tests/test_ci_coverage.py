"""A small version of benchmarks/ci_coverage.py: the scoped intervals cover their estimands.

The full simulation is the benchmark; here a few hundred replicates per cell check that
coverage sits in a loose band around 95% for hard cells, and that the script's output
contract (last line, --smoke mode) holds.
"""

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import special

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "ci_coverage.py"


@pytest.fixture(scope="module")
def ci_coverage():
    spec = importlib.util.spec_from_file_location("ci_coverage", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module body runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def test_true_mean_rate_matches_gauss_hermite(ci_coverage):
    # Independent check of the population estimand: E[expit(mu + sd Z)] by Gauss-Hermite.
    nodes, weights = np.polynomial.hermite_e.hermegauss(120)
    for base, sd in ((0.002, 0.5), (0.01, 2.0), (0.5, 1.0)):
        expected = np.sum(weights * special.expit(special.logit(base) + sd * nodes)) / weights.sum()
        assert ci_coverage.true_mean_rate(base, sd) == pytest.approx(expected, rel=1e-8)
    assert ci_coverage.true_mean_rate(0.5, 1.0) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "design, eligibility, questions, samples",
    [("light0.2", 0, 8, 20),   # rare events: most runs have 0 misaligned answers
     ("conc", -1, 24, 100),    # concentrated, eligibility falling with misalignment
     ("light1", 1, 50, 100)],  # population scope not refused (50 questions)
)
def test_coverage_in_a_loose_band(ci_coverage, design, eligibility, questions, samples):
    cell = ci_coverage.Cell(design, eligibility, questions, samples)
    result = ci_coverage.run_cell(cell, 600, np.random.default_rng(12345))
    # 600 replicates: Monte Carlo SE ~0.009, so a band of 0.90-0.995 is ~3-4 SE either side.
    coverage, miss_high, miss_low, used = result["questions"]
    assert 0.90 <= coverage <= 0.995, coverage
    assert miss_low + miss_high == pytest.approx(1 - coverage)
    if questions < ci_coverage.MIN_CLUSTERS:
        assert result["population"] is None and result["refused"] == 1.0
    else:
        assert 0.90 <= result["population"][0] <= 0.995


def test_population_only_cell_at_more_questions(ci_coverage):
    # The G = 100 / 200 cells score the population scope alone (questions scope not computed).
    assert min(ci_coverage.POPULATION_QUESTIONS) > max(ci_coverage.QUESTIONS)
    cell = ci_coverage.Cell("heavy1", 0, 100, 20)
    result = ci_coverage.run_cell(cell, 400, np.random.default_rng(5), questions_scope=False)
    assert result["questions"] is None and result["refused"] == 0.0
    coverage, miss_high, miss_low, used = result["population"]
    assert used == 400 and miss_high + miss_low == pytest.approx(1 - coverage)
    assert 0.88 <= coverage <= 0.995


def test_simulation_is_reproducible(ci_coverage):
    a = ci_coverage.draw_questions("conc", 50, 8, np.random.default_rng(7))
    b = ci_coverage.draw_questions("conc", 50, 8, np.random.default_rng(7))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_script_prints_replicates_and_the_summary_line(ci_coverage, capsys):
    assert ci_coverage.main(["--smoke", "--seed", "3"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "replicates per cell: 60" in out[0]
    assert re.fullmatch(r"min_coverage=\d\.\d{4} max_coverage=\d\.\d{4} "
                        r"gate_false_pass_max=\d\.\d{4} gate_power_min=\d\.\d{4}", out[-1])
    assert re.search(r"population_gate_power_min=\d\.\d{4} ", out[-2])


def test_population_difference_cell_scores_coverage_and_gate(ci_coverage):
    res = ci_coverage.run_population_difference("light1", 50, 100, 0.01, "add", 400,
                                                np.random.default_rng(3))
    assert res["truth"] == pytest.approx(0.01, abs=1e-4)  # additive shift, no clipping
    assert res["used"] == 400
    assert res["miss_hi"] + res["miss_lo"] == pytest.approx(1 - res["coverage"])
    assert 0.88 <= res["coverage"] <= 0.995 and res["false_pass"] <= 0.09
    # Johnson's t false pass is printed next to it as a diagnostic.
    assert 0 <= res["johnson_false_pass"] <= 1
    # Power at a true difference of 0: light1, m = 100 (about 70 eligible answers a question)
    # and margin 0.01 pass nearly always (0.97 in the benchmark).
    assert res["false_pass"] < res["power"] <= 1 and res["power"] >= 0.8
    # The logit shift is solved so that the population mean difference is the margin.
    shift = ci_coverage.logit_shift_for("heavy1", 0.02)
    assert ci_coverage.population_difference_truth("heavy1", shift, "logit") == pytest.approx(
        0.02, abs=1e-6)
