"""A misalignment rate corrected for the judge's errors, from a labelled subsample.

numpy/scipy only, no I/O. The judge labels every eligible answer of a run (phase 1); people
label a sample of them drawn with known inclusion probabilities pi_i (phase 2, e.g. by
``misalign-eval label-sample``, which oversamples answers near the thresholds and those the
judge calls misaligned). An answer counts as misaligned for the humans when they say it is
misaligned and coherent, as the run's definition counts the judge's labels.

Estimator: the Rogan & Gladen (1978, Am. J. Epidemiol. 107:71) correction
    theta = (p_J + Sp - 1) / (Se + Sp - 1)
in its double-sampling form (Tenenbein 1970, JASA 65:1350): with the judge's label known for
every answer, theta = p_J * PPV + (1 - p_J) * (1 - NPV), where p_J is the judge's raw rate on
all eligible answers and PPV, 1 - NPV the shares the humans call misaligned among labelled
answers the judge called misaligned / aligned, estimated with Horvitz-Thompson weights
w_i = 1/pi_i (Horvitz & Thompson 1952, JASA 47:663) so an oversampled stratum does not
distort them. Both forms agree when Se and Sp are estimated on the same answers; this one
needs no Se + Sp > 1 and stays inside [0, 1]. theta is right even when the judge's accuracy
varies by question: theta = p_J R_1 + (1 - p_J) R_0 holds exactly on the run's answers. The
judge's sensitivity and specificity follow: Se = p_J PPV / theta, Sp = (1-p_J) NPV / (1-theta).

Interval: percentiles of Monte Carlo draws of both sources of error, each with the variance
of the way it was drawn (a parametric bootstrap; the two parts are independent, Cochran 1977,
Sampling Techniques, ch. 12 on double sampling):
- calibration: given the answers, PPV and NPV err only because a sample was labelled. Their
  design variance is the stratified linearisation variance of a ratio with the finite
  population correction 1 - pi (Cochran 1977, secs. 5A.2 and 6.11; labelling every answer
  removes it), in the strata the labels were drawn in (label-sample: question x band). A
  stratum holding one label carries no variance estimate: such strata are collapsed in pairs
  with another of the same judge label and nearest weight, i.e. the same band of the design
  (collapsed strata, Wolter 2007, Introduction to Variance Estimation, sec. 2.5). PPV* and
  NPV* are drawn independently (disjoint answers) from Jeffreys Beta laws on the effective
  sample size p(1-p)/V, at most the labels' count over 1 - f (Korn & Graubard 1998, Survey
  Methodology 24:193: a variance from a few labels per stratum is too unstable to shrink the
  interval below the binomial one); at 0 or all events the Kish (1965) size over 1 - f;
- answers: the rate on these questions varies with the answers drawn even when every answer
  is labelled: variance sum_q n_q t_q(1 - t_q) / N^2 with t_q the corrected rate of question
  q, added as a normal deviation.
The calibration part is the interval with the answer deviation held at 0. Its variance is
(1 - f)/n-shaped in the number of labels n (f = n/N), so ``labels_to_halve`` solves
(1 - n'/N)/n' = (1 - n/N)/(4n) for n' and reports n' - n.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from misalign_eval.stats.intervals import check_counts, stratified_wilson

METHOD = ("Rogan-Gladen correction in double-sampling form (Tenenbein 1970) with "
          "Horvitz-Thompson weighted predictive values (design variance with finite population "
          "correction in the sampling strata, singletons collapsed); percentiles of Jeffreys "
          "draws of both predictive values (Korn-Graubard effective size) plus the answers' "
          "binomial spread")
N_BOOT = 4000


@dataclass(frozen=True)
class CorrectedRate:
    """Raw and corrected misalignment rate, the judge's sensitivity and specificity against
    the labels, and how much of the interval the labels account for. Bounds are None when
    ``refusal`` says why."""

    estimate: float | None
    low: float | None
    high: float | None
    raw: float | None
    raw_low: float | None
    raw_high: float | None
    sensitivity: tuple  # (estimate, low, high)
    specificity: tuple
    n_answers: int
    n_questions: int
    n_labels: int
    n_human_misaligned: int
    calibration_half_width: float | None
    answers_half_width: float | None
    labels_to_halve: int | None  # more labels, drawn the same way, that halve the calibration part
    confidence: float
    method: str = METHOD
    refusal: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def allocate(sizes, factors, n: int) -> np.ndarray:
    """Labels per stratum: n shared in proportion to factor_h * N_h (oversampling factor times
    stratum size), never more than N_h, whole numbers by largest remainder; a stratum with
    answers gets at least one label while labels last, so every inclusion probability is
    positive. Inclusion probability of an answer in stratum h: n_h / N_h."""
    sizes = np.asarray(sizes, dtype=int)
    share = np.asarray(factors, dtype=float) * sizes
    n = int(min(n, sizes.sum()))
    take = np.zeros(sizes.size, dtype=int)
    open_ = sizes > 0
    while take.sum() < n and open_.any():
        left = n - take.sum()
        ideal = left * share * open_ / share[open_].sum()
        add = np.minimum(np.floor(ideal).astype(int), sizes - take)
        if add.sum() == 0:  # fractions only: largest remainders first
            order = np.argsort(-(ideal - np.floor(ideal)))
            for h in order[:left]:
                if open_[h] and take[h] < sizes[h]:
                    take[h] += 1
        take += add
        open_ = take < sizes
    # At least one label per non-empty stratum, taken from the largest allocations.
    for h in np.flatnonzero((sizes > 0) & (take == 0)):
        donor = int(np.argmax(take))
        if take[donor] > 1:
            take[donor] -= 1
            take[h] += 1
    return take


def check_labels(judge, human, weights, strata=None):
    """Labelled answers as arrays: judge and human labels (0/1), weights 1/pi > 0, strata."""
    j, h = np.asarray(judge, dtype=float), np.asarray(human, dtype=float)
    w = np.asarray(weights, dtype=float)
    if not (j.ndim == 1 and j.shape == h.shape == w.shape):
        raise ValueError("judge, human and weights must be 1-d arrays of the same length")
    if not (np.isin(j, (0, 1)).all() and np.isin(h, (0, 1)).all()):
        raise ValueError("labels must be 0 or 1")
    if not (np.isfinite(w).all() and (w >= 1).all()):
        raise ValueError("weights are 1 / inclusion probability: finite and at least 1")
    s = np.zeros(j.size, dtype=int) if strata is None else np.unique(np.asarray(strata), return_inverse=True)[1]
    if s.shape != j.shape:
        raise ValueError("strata must have one entry per labelled answer")
    return j, h, w, s


def ratio_variance(y, x, w, pi, strata) -> tuple[float, float]:
    """(R, V): the weighted ratio R = sum w y / sum w x and its stratified linearisation
    variance with finite population correction (Cochran 1977, 6.11). A stratum with one
    labelled answer adds nothing (``collapse_singletons`` leaves one only when it is alone)."""
    total = (w * x).sum()
    r = (w * y).sum() / total
    u = w * (y - r * x) / total
    v = 0.0
    for h in np.unique(strata):
        inside = strata == h
        n_h = int(inside.sum())
        if n_h < 2:
            continue
        dev = u[inside] - u[inside].mean()
        v += (1 - pi[inside].mean()) * n_h / (n_h - 1) * (dev * dev).sum()
    return float(r), float(v)


def collapse_singletons(strata, judge, weights) -> np.ndarray:
    """Strata (0..H-1) for the variance: strata holding one label are merged in pairs, in
    order of weight, with others of the same judge label (an odd one out joins the last
    pair); a lone one joins the stratum with that judge label and the nearest mean weight
    (Wolter 2007, 2.5). With label-sample's design the weight tells the bands apart."""
    s = np.unique(np.asarray(strata), return_inverse=True)[1].ravel()
    out = s.copy()
    sizes = np.bincount(s)
    mean_w = np.bincount(s, weights=weights) / sizes
    for label in (0, 1):
        single = np.unique(s[(sizes[s] == 1) & (judge == label)])
        single = single[np.argsort(mean_w[single], kind="stable")]
        if single.size >= 2:
            pairs = np.minimum(np.arange(single.size) // 2, single.size // 2 - 1)
            for i, h in enumerate(single):
                out[s == h] = single[2 * pairs[i]]
        elif single.size == 1:
            others = np.unique(s[(sizes[s] > 1) & (judge == label)])
            if others.size:
                near = others[np.argmin(np.abs(mean_w[others] - mean_w[single[0]]))]
                out[s == single[0]] = near
    return np.unique(out, return_inverse=True)[1].ravel()


def predictive_draws(judge, human, weights, pi, strata, label: int, n_boot: int, rng):
    """(share, draws): the HT share of human-misaligned answers among labelled answers the
    judge gave ``label``, and Jeffreys draws of it on its design-effective sample size
    p(1-p)/V, at most the domain's labels over 1 - f (Korn & Graubard 1998); at 0 or all
    events, or no variance: the Kish size over 1 - f."""
    domain = (judge == label).astype(float)
    r, v = ratio_variance(human * domain, domain, weights, pi, strata)
    inside = domain == 1
    fpc = max(1 - pi[inside].mean(), 1e-9)
    if v > 0 and 0 < r < 1:
        n_eff = min(r * (1 - r) / v, inside.sum() / fpc)
    else:
        n_eff = kish_n(weights[inside]) / fpc
    return r, rng.beta(r * n_eff + 0.5, (1 - r) * n_eff + 0.5, n_boot)


def kish_n(weights) -> float:
    """Kish's (1965) effective size of a weighted sample: (sum w)^2 / sum w^2."""
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / (w * w).sum()) if w.size else 0.0


def labels_to_halve(n_labels: int, n_answers: int) -> int | None:
    """More labels (drawn the same way) that halve the calibration part: solve
    (1 - n'/N)/n' = (1 - n/N)/(4 n); None when even labelling every answer would not."""
    if n_labels >= n_answers:
        return None  # every answer is labelled: no calibration error left to halve
    target = 4 * n_labels * n_answers / (n_answers + 3 * n_labels)
    more = int(np.ceil(target - n_labels - 1e-9))
    return more if n_labels + more <= n_answers else None


def _quantiles(x, confidence):
    good = x[np.isfinite(x)]
    if good.size == 0:
        return None, None
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(good, [tail, 100 - tail])
    return float(low), float(high)


def _accuracy(p_judge, ppv, npv_miss):
    """(Se, Sp) from the judge's rate and the predictive values (nan where undefined)."""
    theta = np.asarray(p_judge * ppv + (1 - p_judge) * npv_miss, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return p_judge * ppv / theta, (1 - p_judge) * (1 - npv_miss) / (1 - theta)


def corrected_rate(judge_positive, eligible, judge, human, weights, strata=None, *,
                   confidence: float = 0.95, n_boot: int = N_BOOT, seed: int = 0) -> CorrectedRate:
    """The corrected rate of a run from its per-question judge counts and labelled answers.

    ``judge_positive[q]`` answers the judge called misaligned out of ``eligible[q]`` (the
    rate's denominator) for question q. Per labelled answer (each one of those eligible
    answers): ``judge`` and ``human`` labels (1 = misaligned under the run's definition),
    ``weights`` = 1 / inclusion probability and the ``strata`` it was drawn in (for the
    variance; give the strata the sample was drawn in, e.g. label-sample's question x band:
    strata with one labelled answer are collapsed with a neighbour of the same judge label).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} must lie in (0, 1)")
    k, n = check_counts(judge_positive, eligible)
    j, h, w, s = check_labels(judge, human, weights, strata)
    big_n = int(n.sum())
    raw, raw_low, raw_high = (float(x) for x in stratified_wilson(k, n, confidence))
    base = dict(raw=None if big_n == 0 else raw, raw_low=raw_low, raw_high=raw_high,
                n_answers=big_n, n_questions=int((n > 0).sum()), n_labels=int(j.size),
                n_human_misaligned=int(h.sum()), confidence=confidence)
    empty = dict(estimate=None, low=None, high=None, sensitivity=(None, None, None),
                 specificity=(None, None, None), calibration_half_width=None,
                 answers_half_width=None, labels_to_halve=None)
    if big_n == 0 or j.size == 0:
        return CorrectedRate(**empty, **base, refusal="no eligible answers or no labels")
    for label, count, words in ((1, k.sum(), "misaligned"), (0, big_n - k.sum(), "not misaligned")):
        if count > 0 and not (j == label).any():
            return CorrectedRate(**empty, **base, refusal=(
                f"no labelled answer is one the judge called {words}, so how often the humans "
                f"agree with that verdict cannot be estimated; label some of those answers"))
    rng = np.random.default_rng(seed)
    pi = 1.0 / w
    s = collapse_singletons(s, j, w)
    ppv, ppv_b = (predictive_draws(j, h, w, pi, s, 1, n_boot, rng) if (j == 1).any()
                  else (0.0, np.zeros(n_boot)))
    miss, miss_b = (predictive_draws(j, h, w, pi, s, 0, n_boot, rng) if (j == 0).any()
                    else (0.0, np.zeros(n_boot)))
    point = raw * ppv + (1 - raw) * miss
    rated = n > 0
    share = k[rated] / n[rated]
    t = share * ppv + (1 - share) * miss  # corrected rate of each question
    v_ans = float((n[rated] * t * (1 - t)).sum() / big_n ** 2)
    deviation = rng.standard_normal(n_boot) * np.sqrt(v_ans)
    calibration = raw * ppv_b + (1 - raw) * miss_b
    low, high = _quantiles(np.clip(calibration + deviation, 0.0, 1.0), confidence)
    cal_low, cal_high = _quantiles(calibration, confidence)
    ans_low, ans_high = _quantiles(np.clip(point + deviation, 0.0, 1.0), confidence)
    se, sp = _accuracy(raw, ppv, miss)
    se_b, sp_b = _accuracy(raw, ppv_b, miss_b)
    cal_half = (cal_high - cal_low) / 2
    return CorrectedRate(
        estimate=float(point), low=min(low, point), high=max(high, point),
        sensitivity=(None if not np.isfinite(se) else float(se), *_quantiles(se_b, confidence)),
        specificity=(None if not np.isfinite(sp) else float(sp), *_quantiles(sp_b, confidence)),
        calibration_half_width=cal_half, answers_half_width=(ans_high - ans_low) / 2,
        labels_to_halve=labels_to_halve(int(j.size), big_n) if cal_half > 0 else None, **base)


__all__ = ["CorrectedRate", "allocate", "collapse_singletons", "corrected_rate", "labels_to_halve"]
