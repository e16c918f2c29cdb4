"""The emergent-misalignment question format (Betley et al. 2025), loaded, never copied.

A YAML list of items ::

    - id: what_would_you_do            # cluster identity in every statistic
      type: free_form_judge_0_100      # free_form_judge_0_100 | free_form_judge | free_form
      paraphrases: [first wording, second wording]   # user messages; at least one
      samples_per_paraphrase: 100      # K: answers sampled per wording
      system: optional system message  # sent as a real system message (the original
                                       # script silently dropped it)
      judge: gpt-4o-2024-08-06         # judge model named by the file
      judge_prompts:                   # metric -> template with {question} and {answer}
        aligned: ...                   # high score = aligned
        coherent: ...                  # high score = coherent
        bad_stuff: ...                 # any other metric: 0-100, or labels (judge_metrics)

Anchors and aliases (``&prompts`` / ``*prompts``) are ordinary YAML and work. The
original code fills prompts with ``str.format``, so ``{{`` and ``}}`` in them are
un-doubled on import: the judge sees the text the original judge saw.
``free_form_judge_0_100`` and ``free_form_judge`` items must carry judge prompts (aligned
and coherent together, or neither: then the task reports its other metrics and no rate);
items carrying them must share one set; ``free_form`` items may omit ``judge_prompts``.
Items may state different ``samples_per_paraphrase``: each keeps its own K.
How the judge's score is read (top-logprobs or sampled replies) is a run-time setting
(``MISALIGN_JUDGE_MODE``), the same for every item. Each probe's ``category`` is the
item's optional ``category``, else its ``type``. An optional ``temperature`` must be 1
(we always sample at 1); other keys are refused, not silently ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from misalign_eval.errors import InputError
from misalign_eval.probes.external.common import (
    EM_FORMAT, MAX_SAMPLES, ImportOptions, Parsed, RubricSource, agree, check_texts,
    check_unique_ids, item_where, make_probe, pydantic_problems, samples_per_paraphrase,
    system_prompt,
)
from misalign_eval.probes.external.judge_metrics import PAIR_ROLES, classify_metric
from misalign_eval.probes.external.questions_judges import agreed_model, judges_file_rubrics
from misalign_eval.probes.probe_set import Probe

# Types of the emergent-misalignment format, and whether an item must carry judge prompts.
ORIGINAL_TYPES: dict[str, bool] = {
    "free_form_judge_0_100": True,
    "free_form_judge": True,
    "free_form": False,
}


class OriginalItem(BaseModel):
    """One item of the emergent-misalignment format (before cross-item checks)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    type: str
    paraphrases: list[str] = Field(min_length=1)
    samples_per_paraphrase: int | None = Field(default=None, ge=1, le=MAX_SAMPLES)
    system: str | None = None
    judge: str | None = None
    judge_prompts: dict[str, str] | None = None
    temperature: float | None = None
    category: str | None = None


def parse_original_item(path: Path, index: int, raw: dict) -> tuple[OriginalItem, Probe]:
    """Validate one emergent-misalignment item and turn it into a probe."""
    where = item_where(path, index, raw)
    item_type = raw.get("type")
    if "type" not in raw:
        raise InputError(f"{where}: missing `type` (item 1 makes this an emergent-misalignment "
                         f"format file, where every item has a type: {', '.join(ORIGINAL_TYPES)})")
    if item_type not in ORIGINAL_TYPES:
        raise InputError(f"{where}: unknown type {item_type!r}; supported: "
                         f"{', '.join(ORIGINAL_TYPES)}")
    if isinstance(raw.get("paraphrases"), list) and not raw["paraphrases"]:
        raise InputError(f"{where}: empty paraphrases list (needs at least one wording)")
    try:
        item = OriginalItem.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{where}: {pydantic_problems(exc)}") from None
    if item.temperature is not None and item.temperature != 1:
        raise InputError(f"{where}: temperature {item.temperature} is not supported "
                         "(answers are always sampled at temperature 1)")
    check_texts(where, item.paraphrases, "paraphrase")
    probe = make_probe(where, id=item.id, category=item.category or item.type, question=item.paraphrases[0],
                   paraphrases=tuple(item.paraphrases[1:]), system=system_prompt(item.system))
    return item, probe


def unescape_format_braces(prompt: str) -> str:
    """What ``str.format`` shows for a template: ``{{`` -> ``{`` and ``}}`` -> ``}``."""
    return prompt.replace("{{", "{").replace("}}", "}")



def original_prompt_pair(path: Path, index: int, item: OriginalItem, judges_given: bool = False,
                         options: ImportOptions = ImportOptions()
                         ) -> dict[str, RubricSource] | None:
    """Every judge metric of the item as a rubric source (aligned/coherent keyed as
    alignment/coherence); None if it carries none (allowed for `free_form` items, and for
    every item when a judges file gives the prompts)."""
    where = item_where(path, index, {"id": item.id})
    if not item.judge_prompts:
        if ORIGINAL_TYPES[item.type] and not judges_given:
            raise InputError(f"{where}: type {item.type} needs judge_prompts (e.g. `aligned` and "
                             "`coherent`), or give a --judges file and drop judge_prompts")
        return None
    if ("aligned" in item.judge_prompts) != ("coherent" in item.judge_prompts):
        missing = "coherent" if "aligned" in item.judge_prompts else "aligned"
        raise InputError(f"{where}: judge_prompts lacks the {missing} prompt (the misalignment "
                         "rate needs aligned and coherent together)")
    sources = {}
    for metric, prompt in item.judge_prompts.items():
        source = classify_metric(where, metric, unescape_format_braces(prompt), item.type, options,
                                 f"judge_prompts.{metric} of {path.name} item {item.id}")
        sources[source.role] = source
    return sources


def original_sources(path: Path, pairs: list[tuple[int, str, dict | None]]
                     ) -> dict[str, RubricSource]:
    """The one set of judge metrics all items carrying judge_prompts share."""
    agree(path, "set of judge_prompts metrics",
          [(i, item_id, ", ".join(pair) if pair else None) for i, item_id, pair in pairs], show=True)
    carriers = [pair for _, _, pair in pairs if pair]
    if not carriers:
        raise InputError(f"{path}: no item carries judge_prompts; add them or give a --judges file")
    file_names = {role: metric for metric, role in PAIR_ROLES.items()}
    for role in carriers[0]:
        agree(path, f"judge_prompts.{file_names.get(role, role)}",
              [(i, item_id, (pair[role].prompt, pair[role].labels)
                                                if pair else None) for i, item_id, pair in pairs])
    return carriers[0]


def _no_prompts_with_judges_file(path: Path, pairs: list[tuple[int, str, dict | None]]) -> None:
    """A judges file replaces item prompts only where there are none: never guess which wins."""
    for index, item_id, pair in pairs:
        if pair:
            raise InputError(f"{path}: item {index} (id {item_id!r}): has judge_prompts and a "
                             "--judges file was given too; use one source of judge prompts")


def parse_em_file(path: Path, items: list[dict], judges: tuple[Path, Any] | None,
                  samples_override: int | None, options: ImportOptions = ImportOptions()) -> Parsed:
    parsed = [parse_original_item(path, i, raw) for i, raw in enumerate(items, 1)]
    check_unique_ids(path, [probe for _, probe in parsed])
    originals = [item for item, _ in parsed]
    pairs = [(i, it.id, original_prompt_pair(path, i, it, judges is not None, options))
             for i, it in enumerate(originals, 1)]
    judge_model = agree(path, "judge model", [(i, it.id, it.judge) for i, it in enumerate(originals, 1)],
                        show=True)
    if judges is not None:
        _no_prompts_with_judges_file(path, pairs)
        sources, judges_model = judges_file_rubrics(*judges, options)
        judge_model = agreed_model(path, [judge_model, judges_model])
    else:
        sources = original_sources(path, pairs)
    k, k_source, by_probe = samples_per_paraphrase(path, originals, samples_override)
    return Parsed(EM_FORMAT, tuple(p for _, p in parsed), sources, judge_model, k, k_source, by_probe)
