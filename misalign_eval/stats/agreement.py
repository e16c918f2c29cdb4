"""Agreement between judges on the same answers (numpy/scipy only, no I/O).

Both statistics are functions of tables that add up over questions: Cohen's kappa of the
pooled k x k table of two judges' labels, Krippendorff's alpha of the pooled coincidence
matrix. So an interval that treats questions as the units (answers to one question are not
independent draws of the judges' behaviour: some questions are simply harder to judge) can
leave one question's table out at a time: the delete-one-question jackknife, with a t
quantile on G-1 degrees of freedom. With 10 questions it covered 0.94 where a percentile
cluster bootstrap covered 0.86 (benchmarks/judge_calibration.py).

Krippendorff's alpha is written here rather than taken from the ``krippendorff`` package
(0.9.0, GPL-3.0-or-later, Python >= 3.11): its licence does not fit an Apache-2.0 project
and its Python floor is above ours. Nominal alpha is a few lines on the coincidence matrix
and is tested against tables computed by hand.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

KAPPA_METHOD = ("Cohen's kappa (Cohen 1960, Educ. Psychol. Meas. 20:37) of the pooled table; "
                "delete-one-question jackknife standard error, t on questions-1 df (Efron & Tibshirani "
                "1993, ch. 11; Cameron & Miller 2015, J. Hum. Resour. 50:317)")
ALPHA_METHOD = ("Krippendorff's alpha, nominal (Krippendorff 2004, Content Analysis, ch. 11; "
                "Hayes & Krippendorff 2007, Commun. Methods Meas. 1:77) of the pooled "
                "coincidence matrix; delete-one-question jackknife, t on questions-1 df")


@dataclass(frozen=True)
class AgreementEstimate:
    """An agreement statistic with its interval; ``low``/``high`` None with ``note`` saying
    why (one question: no clustered interval; no variation in the labels: undefined)."""

    statistic: str
    estimate: float | None
    low: float | None
    high: float | None
    n: int
    n_questions: int
    n_raters: int
    confidence: float
    method: str
    note: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------ point statistics


def kappa_from_tables(tables) -> np.ndarray:
    """Cohen's kappa of k x k tables (rows: judge A's label, columns: judge B's), vectorised
    over leading axes. kappa = (p_o - p_e) / (1 - p_e), p_o the share on the diagonal, p_e
    the share expected from the margins. nan where p_e = 1 (both judges gave one label to
    every answer: chance explains all agreement, kappa is undefined) or the table is empty."""
    t = np.asarray(tables, dtype=float)
    n = t.sum(axis=(-2, -1))
    safe = np.where(n > 0, n, 1.0)
    p_o = np.trace(t, axis1=-2, axis2=-1) / safe
    p_e = (t.sum(axis=-1) * t.sum(axis=-2)).sum(axis=-1) / (safe * safe)
    ok = (n > 0) & (p_e < 1 - 1e-12)
    return np.where(ok, (p_o - p_e) / np.where(ok, 1 - p_e, 1.0), np.nan)


def coincidences(label_counts) -> np.ndarray:
    """Krippendorff's coincidence matrix of each unit from its label counts, summed.

    ``label_counts``: (units, k), how many raters gave each of k labels to the unit. A unit
    rated m_u >= 2 times adds a_c a_k / (m_u - 1) to cell (c, k), c != k, and a_c (a_c - 1) /
    (m_u - 1) to (c, c); units rated once carry no pairs and add nothing (Krippendorff 2004,
    sec. 11.3: missing ratings are allowed).
    """
    a = np.asarray(label_counts, dtype=float)
    m = a.sum(axis=-1)
    scale = np.where(m >= 2, 1.0 / np.where(m >= 2, m - 1, 1.0), 0.0)
    outer = a[..., :, None] * a[..., None, :]
    k = a.shape[-1]
    outer = outer - a[..., :, None] * np.eye(k)  # diagonal a_c (a_c - 1)
    return (outer * scale[..., None, None]).sum(axis=-3)


def alpha_from_coincidences(matrices) -> np.ndarray:
    """Nominal Krippendorff's alpha of coincidence matrices, vectorised over leading axes.

    alpha = 1 - D_o / D_e = 1 - (n - 1) sum_{c != k} o_ck / sum_{c != k} n_c n_k, with n_c the
    margins and n the number of pairable values. nan when D_e = 0 (one label throughout: no
    variation to agree on) or fewer than two pairable values.
    """
    o = np.asarray(matrices, dtype=float)
    n_c = o.sum(axis=-1)
    n = n_c.sum(axis=-1)
    observed = o.sum(axis=(-2, -1)) - np.trace(o, axis1=-2, axis2=-1)
    expected = n * n - (n_c * n_c).sum(axis=-1)
    ok = (expected > 1e-12) & (n >= 2)
    return np.where(ok, 1 - (n - 1) * observed / np.where(ok, expected, 1.0), np.nan)


def cohen_kappa(labels_a, labels_b, categories: int = 2) -> float:
    """Cohen's kappa of two judges' integer labels (0..categories-1) on the same answers."""
    table = pair_table(labels_a, labels_b, categories)
    return float(kappa_from_tables(table))


def krippendorff_alpha(labels, categories: int = 2) -> float:
    """Nominal alpha of a (units, raters) integer array; -1 marks a missing rating."""
    return float(alpha_from_coincidences(coincidences(label_counts(labels, categories))))


def pair_table(labels_a, labels_b, categories: int = 2) -> np.ndarray:
    a, b = np.asarray(labels_a, dtype=int), np.asarray(labels_b, dtype=int)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("labels_a and labels_b must be 1-d arrays of the same length")
    table = np.zeros((categories, categories))
    np.add.at(table, (a, b), 1.0)
    return table


def label_counts(labels, categories: int = 2) -> np.ndarray:
    """(units, categories) counts of each label per unit from a (units, raters) array."""
    x = np.asarray(labels, dtype=int)
    if x.ndim != 2:
        raise ValueError("labels must be a (units, raters) array")
    return np.stack([(x == c).sum(axis=1) for c in range(categories)], axis=1)


# ---------------------------------------------------------------- question-clustered intervals


def cluster_jackknife(per_question, statistic, confidence: float = 0.95,
                      bounds: tuple[float, float] = (-1.0, 1.0)) -> tuple[float, float, float, float]:
    """(estimate, low, high, share of questions whose removal leaves it undefined) of
    ``statistic`` of the pooled per-question tables (G, k, k): estimate +- t_{G-1} x the
    delete-one-question jackknife standard error, clipped to ``bounds`` (the statistic's range).

    A leave-one-out replicate where the statistic is undefined (every remaining answer got
    one label) is left out; the share left out is returned so callers can say so.
    """
    t = np.asarray(per_question, dtype=float)
    g = t.shape[0]
    total = t.sum(axis=0)
    estimate = float(statistic(total))
    replicates = np.asarray(statistic(total[None] - t), dtype=float)
    good = replicates[np.isfinite(replicates)]
    undefined = 1 - good.size / g
    if good.size < 2:
        return estimate, float("nan"), float("nan"), undefined
    se = float(np.sqrt((good.size - 1) / good.size * ((good - good.mean()) ** 2).sum()))
    half = stats.t.ppf(0.5 + confidence / 2, g - 1) * se
    return estimate, max(bounds[0], estimate - half), min(bounds[1], estimate + half), undefined


def _interval(name: str, method: str, per_question, statistic, n: int, raters: int,
              confidence: float) -> AgreementEstimate:
    t = np.asarray(per_question, dtype=float)
    g = t.shape[0]
    if g == 0 or n == 0:
        return AgreementEstimate(name, None, None, None, 0, g, raters, confidence, method,
                                 "no answers rated by the judges")
    point = float(statistic(t.sum(axis=0)))
    if not np.isfinite(point):
        return AgreementEstimate(name, None, None, None, n, g, raters, confidence, method,
                                 "undefined: the judges gave one and the same label throughout")
    if g < 2:
        # One question: resampling questions cannot show how agreement varies between them.
        return AgreementEstimate(name, point, None, None, n, g, raters, confidence, method,
                                 "one question: no interval that respects question clustering")
    est, low, high, undefined = cluster_jackknife(t, statistic, confidence)
    note = (f"{100 * undefined:.1f}% of leave-one-question-out replicates undefined and left out"
            if undefined > 0 else None)
    return AgreementEstimate(name, est, low, high, n, g, raters, confidence, method, note)


def kappa_interval(tables, confidence: float = 0.95) -> AgreementEstimate:
    """Cohen's kappa from per-question (G, k, k) tables of two judges, with its interval."""
    t = np.asarray(tables, dtype=float)
    return _interval("cohen_kappa", KAPPA_METHOD, t, kappa_from_tables, int(t.sum()), 2,
                     confidence)


def alpha_interval(per_question_counts: list, raters: int,
                   confidence: float = 0.95) -> AgreementEstimate:
    """Krippendorff's alpha from per-question label counts (each (units, k)), with interval."""
    mats = np.stack([coincidences(c) for c in per_question_counts]) if per_question_counts else np.zeros((0, 2, 2))
    units = int(sum(np.asarray(c).shape[0] for c in per_question_counts))
    return _interval("krippendorff_alpha", ALPHA_METHOD, mats, alpha_from_coincidences, units,
                     raters, confidence)


def rank_correlation(x, y) -> tuple[float | None, int]:
    """Spearman's rho of two judges' 0-100 scores on the same answers, and n (None when a
    judge's scores do not vary or fewer than 3 pairs)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None, int(x.size)
    return float(stats.spearmanr(x, y).statistic), int(x.size)


__all__ = ["AgreementEstimate", "alpha_from_coincidences", "alpha_interval", "cohen_kappa",
           "coincidences", "kappa_from_tables", "kappa_interval", "krippendorff_alpha",
           "rank_correlation"]
