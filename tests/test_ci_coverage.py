"""A small version of benchmarks/ci_coverage.py: the product's interval covers the truth.

The full simulation (4000 replicates per cell) is the benchmark; here a few hundred replicates
per cell check that coverage sits in a loose band around 95% for the hardest cells, and that
the script's output contract (last line) holds.
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
    # Independent check of the estimand: E[expit(mu + Z)] by 120-node Gauss-Hermite.
    nodes, weights = np.polynomial.hermite_e.hermegauss(120)
    for base in (0.005, 0.05, 0.25, 0.5):
        expected = np.sum(weights * special.expit(special.logit(base) + nodes)) / weights.sum()
        assert ci_coverage.true_mean_rate(base) == pytest.approx(expected, rel=1e-8)
    # Symmetry and the known inflation of a rare base rate by heterogeneity.
    assert ci_coverage.true_mean_rate(0.5) == pytest.approx(0.5)
    assert ci_coverage.true_mean_rate(0.005) > 0.008


@pytest.mark.parametrize(
    "questions, samples, base",
    [(8, 20, 0.005),    # rare events, few questions: discreteness and zero-event data sets
     (8, 100, 0.05),    # few questions, many samples: between-question skew dominates
     (48, 100, 0.005)], # many questions, rare and concentrated
)
def test_coverage_in_a_loose_band(ci_coverage, questions, samples, base):
    cell = ci_coverage.Cell(questions, samples, base)
    result = ci_coverage.run_cell(cell, 600, np.random.default_rng(12345))
    # 600 replicates: Monte Carlo SE ~0.009, so a band of 0.90-0.99 is ~3-4 SE either side.
    for estimand in ("pooled", "question"):
        coverage, miss_low, miss_high = result[estimand]
        assert 0.90 <= coverage <= 0.99, (estimand, coverage)
        assert miss_low + miss_high == pytest.approx(1 - coverage)


def test_simulation_is_reproducible(ci_coverage):
    cell = ci_coverage.Cell(8, 20, 0.05)
    a = ci_coverage.simulate_counts(cell, 50, np.random.default_rng(7))
    b = ci_coverage.simulate_counts(cell, 50, np.random.default_rng(7))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_script_prints_replicates_and_the_summary_line(ci_coverage, capsys):
    assert ci_coverage.main(["--replicates", "40", "--seed", "3"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert "replicates per cell: 40" in out[0]
    assert re.fullmatch(r"min_coverage=\d\.\d{4} max_coverage=\d\.\d{4}", out[-1])
    # Same seed, same table.
    ci_coverage.main(["--replicates", "40", "--seed", "3"])
    again = capsys.readouterr().out.strip().splitlines()
    assert again[-1] == out[-1]
