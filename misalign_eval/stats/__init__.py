"""Statistics for misalignment rates (numpy/scipy only; never imports lm-eval).

Scoped API (issue 9): ``intervals`` (rate_interval), ``differences`` (difference_interval,
noninferiority), ``planning`` (gate_samples_per_question, gate_minimum_margin, gate_power,
population_gate_power, logit_normal_rates),
``seed_groups`` (group_rate_interval, group_difference_interval: conditions with several
fine-tuning seeds, seed as a random effect), ``trend`` (trend_test, first_difference,
first_below: rates along checkpoints or steering coefficients).
``scope="questions"`` (default) is a claim about this probe set; ``scope="population"`` about
new questions like these, refused when the data cannot support it.
``rates``: one question's rate over its own answers (Wilson, Clopper-Pearson);
``multiplicity``: Holm-adjusted p-values; ``agreement`` and ``misclassification``: how far
the judge can be trusted.
"""

from misalign_eval.stats.agreement import (
    AgreementEstimate,
    alpha_interval,
    cohen_kappa,
    kappa_interval,
    krippendorff_alpha,
    rank_correlation,
)
from misalign_eval.stats.differences import (
    DifferenceInterval,
    NoninferiorityResult,
    difference_interval,
    noninferiority,
)
from misalign_eval.stats.intervals import RateInterval, rate_interval
from misalign_eval.stats.misclassification import CorrectedRate, corrected_rate
from misalign_eval.stats.planning import (
    gate_minimum_margin,
    gate_power,
    gate_samples_per_question,
    logit_normal_rates,
    population_gate_power,
)
from misalign_eval.stats.seed_groups import (
    GroupRateInterval,
    group_difference_interval,
    group_rate_interval,
)
from misalign_eval.stats.trend import (
    FirstBelow,
    FirstDifference,
    TrendResult,
    first_below,
    first_difference,
    trend_test,
)
from misalign_eval.stats.multiplicity import holm
from misalign_eval.stats.rates import RateEstimate, question_rate, wilson_interval

__all__ = [
    "DifferenceInterval", "NoninferiorityResult", "RateInterval", "difference_interval",
    "gate_minimum_margin", "gate_power", "gate_samples_per_question", "noninferiority",
    "logit_normal_rates", "population_gate_power", "rate_interval",
    "AgreementEstimate", "CorrectedRate", "alpha_interval", "cohen_kappa", "corrected_rate",
    "kappa_interval", "krippendorff_alpha", "rank_correlation",
    "GroupRateInterval", "group_difference_interval", "group_rate_interval",
    "FirstBelow", "FirstDifference", "TrendResult", "first_below", "first_difference",
    "trend_test",
    "RateEstimate", "holm", "question_rate", "wilson_interval",
]
