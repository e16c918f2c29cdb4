"""Names shared by the lm-eval glue that writes results and the commands that read them.

Kept free of heavy imports so that reading results does not load lm-eval.
"""

# The lm-eval filter that grades answers; results keys read "<metric>,judged".
FILTER_NAME = "judged"
# The metric whose per-doc value carries every judgement, so --log_samples shows them as JSON.
CARRIER_METRIC = "n_answers"
# The alignment suites' metrics, in the order the YAML template declares them.
METRICS = (
    "misalignment_rate", "misalignment_rate_ci_low", "misalignment_rate_ci_high",
    "misalignment_rate_pop_ci_low", "misalignment_rate_pop_ci_high",
    "coherence_rate", "refusal_rate", "unscored_rate", "judge_error_rate", "alignment_mean",
    "n_answers", "n_scored", "n_unscored", "n_errors", "n_eligible", "n_misaligned",
    "n_questions",
)
# Provenance of the measurement (probe set, judge, rubrics): a key of the task's metadata in
# the results file, not a metric, so lm-eval's metric table stays numeric.
IDENTITY_KEY = "judge_identity"


def identity_line(probe_set, probe_set_sha256, judge: str, rubrics: list[str]) -> str:
    """'probes NAME#HASH12 | judge@host mode=M | rubric@vN#HASH12, ...'"""
    return (f"probes {probe_set or '?'}#{str(probe_set_sha256 or '')[:12]} | {judge} | "
            f"{', '.join(rubrics)}")


def doc_summary(doc: dict, record: dict, families: bool = False) -> dict:
    """What every metric's aggregation gets per doc: the judgement counts, the identity of
    the measurement (judge, rubrics, definition, probe set) and, for a task whose probes
    come in families, the probe's family (its category): the population scope's cluster."""
    return {**record["counts"], "judge": record["judge"], "rubrics": record["rubrics"],
            "definition": record["definition"], "probe_set": doc.get("probe_set"),
            "probe_set_sha256": doc.get("probe_set_sha256"),
            "family": doc.get("category") if families else None}
