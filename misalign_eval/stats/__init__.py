"""Statistics for clustered binary outcomes (numpy/scipy only; never imports lm-eval).

``rates``: a rate with a confidence interval that treats questions as clusters.
``compare``: paired differences between two runs on the same probes, multiplicity, planning.
"""

from misalign_eval.stats.rates import (
    RateEstimate,
    clustered_rate,
    question_mean_rate,
    question_rate,
    wilson_interval,
)

__all__ = ["RateEstimate", "clustered_rate", "question_mean_rate", "question_rate", "wilson_interval"]
