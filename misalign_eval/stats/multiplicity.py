"""Multiplicity: adjusted p-values when one table makes several tests (numpy only)."""

from __future__ import annotations

import numpy as np


def holm(p_values) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order (Holm 1979).

    Sorted ascending, the i-th smallest of m p-values is multiplied by (m - i + 1); a running
    maximum keeps the adjusted values monotone, and they are capped at 1. Rejecting where the
    adjusted value is below alpha controls the family-wise error rate at alpha.
    """
    p = np.asarray(list(p_values), dtype=float)
    if p.size == 0:
        return []
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    order = np.argsort(p, kind="stable")
    m = p.size
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(scaled))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return [float(x) for x in adjusted]
