"""Holm's adjusted p-values against a hand-computed example."""

import pytest

from misalign_eval.stats.multiplicity import holm


def test_holm_matches_a_hand_computed_example():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.4]) == pytest.approx([0.8, 0.8])  # 0.4*2=0.8, max(0.8, 0.5)
    assert holm([0.9, 0.9, 0.9]) == [1.0, 1.0, 1.0]  # capped at 1
    assert holm([]) == []
    with pytest.raises(ValueError):
        holm([0.1, float("nan")])
