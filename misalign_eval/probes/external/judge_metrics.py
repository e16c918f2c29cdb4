"""What kind of judge a ``judge_prompts`` metric is: a 0-100 score or a label.

``aligned`` and ``coherent`` are the known 0-100 pair (high = good). For any other metric:
an explicit ``--score-metric`` / ``--labels`` wins; items of type ``free_form_judge_0_100``
are 0-100; otherwise the labels are the double-quoted words of the prompt (``Say "TRUE" or
"FALSE"``), and a prompt with no labels but a 0-100 scale is a score. A metric that is
neither is refused with the flags that declare it.
"""

from __future__ import annotations

import re

from misalign_eval.errors import InputError
from misalign_eval.probes.external.common import ImportOptions, RubricSource, check_placeholders

PAIR_ROLES = {"aligned": "alignment", "coherent": "coherence"}
METRIC_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,59}$")
LABEL_WORD = re.compile(r"^[A-Za-z][A-Za-z_]{0,39}$")
_QUOTED = re.compile(r'"([^"\n]{1,40})"')
_SCALE = re.compile(r"\b0\s*(?:-|–|to|and)\s*100\b", re.IGNORECASE)


def quoted_labels(prompt: str) -> tuple[str, ...]:
    """The distinct double-quoted single words of a prompt, upper-cased, in order."""
    words = [w.strip().upper() for w in _QUOTED.findall(prompt) if LABEL_WORD.match(w.strip())]
    return tuple(dict.fromkeys(words))


def parse_labels_option(values: list[str] | None) -> dict[str, tuple[str, ...]]:
    """``--labels METRIC=A,B,C`` (repeatable) -> {metric: labels}."""
    found: dict[str, tuple[str, ...]] = {}
    for value in values or []:
        metric, eq, rest = value.partition("=")
        labels = tuple(dict.fromkeys(w.strip().upper() for w in rest.split(",") if w.strip()))
        if not eq or not metric.strip() or len(labels) < 2:
            raise InputError(f"--labels {value!r}: expected METRIC=LABEL,LABEL[,...] "
                             "(at least two labels)")
        bad = [w for w in labels if not LABEL_WORD.match(w)]
        if bad:
            raise InputError(f"--labels {value!r}: labels must be single words of letters and "
                             f"'_' ({', '.join(bad)})")
        found[metric.strip()] = labels
    return found


def classify_metric(where: str, metric: str, prompt: str, item_type: str | None,
                    options: ImportOptions, origin: str) -> RubricSource:
    """The rubric source of one ``judge_prompts`` metric (see the module docstring)."""
    where = f"{where}: judge_prompts.{metric}"
    if not METRIC_NAME.match(metric) or metric in ("alignment", "coherence"):
        raise InputError(f"{where}: metric names must be a letter then letters, digits or '_' "
                         "(and not 'alignment'/'coherence', our names for aligned/coherent)")
    check_placeholders(where, prompt)
    if metric in PAIR_ROLES:
        return RubricSource(PAIR_ROLES[metric], prompt, True, origin)
    if metric in options.labels:
        return RubricSource(metric, prompt, True, origin, "category", options.labels[metric])
    if metric in options.score_metrics or item_type == "free_form_judge_0_100":
        return RubricSource(metric, prompt, True, origin)
    labels = quoted_labels(prompt)
    if len(labels) >= 2:
        return RubricSource(metric, prompt, True, origin, "category", labels)
    if _SCALE.search(prompt):
        return RubricSource(metric, prompt, True, origin)
    raise InputError(f"{where}: cannot tell what the judge answers (no 0-100 scale and fewer "
                     "than two double-quoted labels in the prompt); declare it with "
                     f"--score-metric {metric} (a 0-100 score) or --labels {metric}=A,B,... "
                     "(one of these words)")
