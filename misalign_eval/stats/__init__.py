"""Statistics for misalignment rates (numpy/scipy only; never imports lm-eval).

Scoped API (issue 9): ``intervals`` (rate_interval), ``differences`` (difference_interval,
noninferiority), ``planning`` (gate_samples_per_question, gate_minimum_margin, gate_power).
``scope="questions"`` (default) is a claim about this probe set; ``scope="population"`` about
new questions like these, refused when the data cannot support it.

Older API, kept until callers move: ``rates`` (clustered_rate, question_mean_rate, ...) and
``compare`` (paired_difference, samples_per_question, ...).
"""

from misalign_eval.stats.differences import (
    DifferenceInterval,
    NoninferiorityResult,
    difference_interval,
    noninferiority,
)
from misalign_eval.stats.intervals import RateInterval, rate_interval
from misalign_eval.stats.planning import (
    gate_minimum_margin,
    gate_power,
    gate_samples_per_question,
)
from misalign_eval.stats.rates import (
    RateEstimate,
    clustered_rate,
    question_mean_rate,
    question_rate,
    wilson_interval,
)

__all__ = [
    "DifferenceInterval", "NoninferiorityResult", "RateInterval", "difference_interval",
    "gate_minimum_margin", "gate_power", "gate_samples_per_question", "noninferiority",
    "rate_interval",
    "RateEstimate", "clustered_rate", "question_mean_rate", "question_rate", "wilson_interval",
]
