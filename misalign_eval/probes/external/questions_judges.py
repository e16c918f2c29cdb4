"""A plain questions file plus a separate judges file (``--judges``).

Questions: a YAML list of ::

    - id: q1
      question: the user message
      category: optional (default "question")
      paraphrases: [optional further wordings]
      system: optional system message

Judges: a list of judges, or a mapping from judge name to judge, optionally wrapped as
``{judge_model: MODEL, judges: <list or mapping>}``. Each judge ::

    name: harm                 # (in list form; in mapping form the key is the name)
    prompt: ... {question} ... {answer} ...
    high_score: harmful        # what a HIGH score means; one of
                               #   aligned | good | benign | safe      -> alignment judge
                               #   misaligned | harmful | bad | unsafe -> alignment judge,
                               #       flipped to 100 - score (high_is_good: false)
                               #   coherent                            -> coherence judge
                               #   incoherent                          -> coherence, flipped
    model: optional judge model (all judges must agree with judge_model)

Exactly one alignment judge and one coherence judge. Prompts are used literally (only
``{question}`` and ``{answer}`` are filled in). A judges file may also replace the prompts
of an emergent-misalignment file whose items carry no ``judge_prompts``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from misalign_eval.errors import InputError
from misalign_eval.probes.external.common import (
    SPLIT_FORMAT, ImportOptions, Parsed, RubricSource, check_placeholders, check_texts, check_unique_ids,
    item_where, make_probe, pydantic_problems, samples_per_paraphrase, system_prompt,
)
from misalign_eval.probes.external.judge_metrics import PAIR_ROLES, classify_metric
from misalign_eval.probes.probe_set import Probe

# high_score word -> (which rubric, whether a high score is the good end).
POLARITIES: dict[str, tuple[str, bool]] = {
    **{w: ("alignment", True) for w in ("aligned", "good", "benign", "safe")},
    **{w: ("alignment", False) for w in ("misaligned", "harmful", "bad", "unsafe")},
    "coherent": ("coherence", True),
    "incoherent": ("coherence", False),
}


class SimpleItem(BaseModel):
    """One item of a plain questions file (judges come from a separate file)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    question: str
    category: str = "question"
    paraphrases: list[str] = []
    system: str | None = None


class JudgeEntry(BaseModel):
    """One judge of a judges file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    prompt: str
    high_score: str | int | float | None = None
    model: str | None = None



def parse_simple_item(path: Path, index: int, raw: dict) -> Probe:
    """Validate one plain question item and turn it into a probe."""
    where = item_where(path, index, raw)
    try:
        item = SimpleItem.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{where}: {pydantic_problems(exc)} (a questions-file item has id, question "
                         "and optionally category, paraphrases, system)") from None
    check_texts(where, [item.question], "question")
    check_texts(where, item.paraphrases, "paraphrase")
    return make_probe(where, id=item.id, category=item.category, question=item.question,
                  paraphrases=tuple(item.paraphrases), system=system_prompt(item.system))



def judge_entries(path: Path, data: Any) -> tuple[list[JudgeEntry], str | None]:
    """A judges file's judges and its top-level judge_model (see the module docstring)."""
    judge_model = None
    if isinstance(data, dict) and "judges" in data:
        extra = sorted(set(data) - {"judges", "judge_model"})
        if extra:
            raise InputError(f"{path}: unknown top-level key(s) {', '.join(extra)}; "
                             "expected judges and optionally judge_model")
        judge_model, data = data.get("judge_model"), data["judges"]
        if judge_model is not None and not isinstance(judge_model, str):
            raise InputError(f"{path}: judge_model must be a model name (a string)")
    if isinstance(data, dict):
        raw = [{"name": name, **entry} if isinstance(entry, dict) else entry
               for name, entry in data.items()]
    elif isinstance(data, list):
        raw = [one_key_judge(entry) for entry in data]
    else:
        raise InputError(f"{path}: expected a list or mapping of judges (each with name, "
                         "prompt, high_score)")
    entries = []
    for index, entry in enumerate(raw, 1):
        where = f"{path}: judge {index}" + (
            f" ({entry.get('name')!r})" if isinstance(entry, dict) and entry.get("name") else "")
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected a mapping with prompt and high_score")
        try:
            entries.append(JudgeEntry.model_validate(entry))
        except ValidationError as exc:
            raise InputError(f"{where}: {pydantic_problems(exc)}") from None
    return entries, judge_model


def one_key_judge(entry: Any) -> Any:
    """The Model Organisms shape ``{METRIC: prompt, high_score: N}`` as a named judge."""
    if not isinstance(entry, dict) or "name" in entry or "prompt" in entry:
        return entry
    keys = [k for k in entry if k not in ("high_score", "model")]
    if len(keys) != 1:
        return entry  # reported by the validation below, with the judge's place
    return {"name": str(keys[0]), "prompt": entry[keys[0]],
            **{k: entry[k] for k in ("high_score", "model") if k in entry}}


def judges_file_rubrics(path: Path, data: Any, options: ImportOptions = ImportOptions()
                        ) -> tuple[dict[str, RubricSource], str | None]:
    """The rubric sources of a judges file (an alignment/coherence pair, or neither, plus any
    other metrics) and its judge model.

    A ``high_score`` word (aligned, harmful, coherent, ...) names the pair's polarity. In the
    Model Organisms shape ``high_score`` is a number its code never reads: ``aligned`` and
    ``coherent`` keep their known polarity (high = good), other metrics are 0-100 scores.
    """
    entries, judge_model = judge_entries(path, data)
    found: dict[str, list[tuple[int, JudgeEntry]]] = {"alignment": [], "coherence": []}
    others: dict[str, RubricSource] = {}
    models = [judge_model]
    for index, entry in enumerate(entries, 1):
        where = f"{path}: judge {index} ({entry.name!r})"
        word = entry.high_score.strip().lower() if isinstance(entry.high_score, str) else None
        polarity = POLARITIES.get(word) if word else None
        models.append(entry.model)
        if polarity is None and word is not None and entry.name not in PAIR_ROLES:
            raise InputError(f"{where}: unknown high_score {entry.high_score!r}; one of "
                             f"{', '.join(POLARITIES)}, or a number (Model Organisms shape)")
        if polarity is None and entry.name in PAIR_ROLES:
            polarity = (PAIR_ROLES[entry.name], True)
        if polarity is None:
            source = classify_metric(where, entry.name, entry.prompt, "free_form_judge_0_100",
                                     options, f"judge {entry.name} of {path.name}")
            if source.role in others:
                raise InputError(f"{where}: a second judge named {entry.name!r}")
            others[source.role] = replace(source, high_score=entry.high_score)
            continue
        check_placeholders(where, entry.prompt)
        found[polarity[0]].append((index, entry))
    if not found["alignment"] and not found["coherence"] and others:
        return others, agreed_model(path, models)
    if any(len(hits) != 1 for hits in found.values()):
        seen = "; ".join(f"{role}: {', '.join(repr(e.name) for _, e in hits) or 'none'}"
                         for role, hits in found.items())
        raise InputError(f"{path}: needs exactly one alignment judge (high_score "
                         f"{_polarity_words('alignment')}) and one coherence judge (high_score "
                         f"{_polarity_words('coherence')}); found {seen}")
    sources = {}
    for role, [(_, entry)] in found.items():
        word = entry.high_score.strip().lower() if isinstance(entry.high_score, str) else ""
        high_is_good = POLARITIES[word][1] if word in POLARITIES else True
        sources[role] = RubricSource(role, entry.prompt, high_is_good,
                                     f"judge {entry.name} of {path.name}",
                                     high_score=None if word in POLARITIES else entry.high_score)
    return {**sources, **others}, agreed_model(path, models)


def _polarity_words(role: str) -> str:
    return " / ".join(w for w, (r, _) in POLARITIES.items() if r == role)


def agreed_model(path: Path, models: list[str | None]) -> str | None:
    """The one judge model named (None if none is); two different names -> InputError."""
    stated = {m for m in models if m}
    if len(stated) > 1:
        raise InputError(f"{path}: different judge models are named ({', '.join(sorted(stated))});"
                         " one imported task uses one judge model")
    return stated.pop() if stated else None


def parse_questions_file(path: Path, items: list[dict], judges: tuple[Path, Any] | None,
                         samples_override: int | None,
                         options: ImportOptions = ImportOptions()) -> Parsed:
    probes = [parse_simple_item(path, i, raw) for i, raw in enumerate(items, 1)]
    check_unique_ids(path, probes)
    if judges is None:
        raise InputError(f"{path}: a questions file with `question` items needs a --judges file "
                         "(its items carry no judge prompts)")
    sources, judge_model = judges_file_rubrics(*judges, options)
    k, k_source, _ = samples_per_paraphrase(path, [], samples_override)
    return Parsed(SPLIT_FORMAT, tuple(probes), sources, judge_model, k, k_source)
