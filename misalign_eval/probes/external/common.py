"""What every external format shares: reading YAML safely, item locations in messages,
the cross-item agreement check, and the validated result (ImportedQuestions)."""

from __future__ import annotations

import hashlib
import reprlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from misalign_eval.errors import InputError
from misalign_eval.judging.rubrics import Rubric
from misalign_eval.probes.probe_set import Probe

DEFAULT_SAMPLES = 50  # the task template's `repeats`
MAX_SAMPLES = 10_000  # the bound TaskSettings puts on samples_per_question
ALIGNMENT_SPECIAL_TOKENS = ("REFUSAL", "CODE")
EM_FORMAT, SPLIT_FORMAT = "emergent-misalignment", "questions+judges"


@dataclass(frozen=True)
class RubricSource:
    """A judge prompt found in a file, before it becomes a Rubric; ``origin`` says where.

    ``role``: "alignment", "coherence", or the name of any other metric. ``kind``: score
    (0-100), category (``labels``) or verdict (free text ending ``ANSWER: N``, 1-5).
    ``high_score``: what the file states as its high score (recorded, never interpreted).
    """

    role: str
    prompt: str
    high_is_good: bool
    origin: str
    kind: Literal["score", "category", "verdict"] = "score"
    labels: tuple[str, ...] = ()
    high_score: Any = None


@dataclass(frozen=True)
class ImportOptions:
    """What the command line adds to a file: metric kinds it cannot tell, the CSV category
    filter and grader, thresholds of the extra statistics."""

    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    score_metrics: frozenset[str] = frozenset()
    grader: Path | None = None
    category: str | None = None
    high_score_threshold: float = 50.0
    verdict_threshold: float = 4.0


@dataclass(frozen=True)
class ImportedQuestions:
    """Everything a question file (and judges file) says, validated."""

    format: str
    probes: tuple[Probe, ...]
    alignment: Rubric | None
    coherence: Rubric | None
    samples_per_paraphrase: int
    samples_source: str
    judge_model: str | None
    source_file: Path
    source_sha256: str
    judges_file: Path | None = None
    judges_sha256: str | None = None
    # Every other judge metric (extra 0-100, label, verdict), in file order.
    metrics: tuple[Rubric, ...] = ()
    # Per-probe K when items differ (samples_per_paraphrase is then their gcd, lm-eval's repeats).
    samples_by_probe: dict[str, int] | None = None
    options: ImportOptions = ImportOptions()

    @property
    def rubrics(self) -> tuple[Rubric, ...]:
        return tuple(r for r in (self.alignment, self.coherence) if r is not None) + self.metrics

    @property
    def n_wordings(self) -> int:
        return sum(len(p.wordings) for p in self.probes)

    @property
    def n_answers(self) -> int:
        by_probe = self.samples_by_probe or {}
        return sum(len(p.wordings) * by_probe.get(p.id, self.samples_per_paraphrase)
                   for p in self.probes)


# ----------------------------------------------------------------------------- reading
def read_yaml(path: Path) -> tuple[Any, str]:
    """The parsed file and the sha256 of its bytes; unreadable or malformed -> InputError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read file ({exc.strerror})") from None
    if len(raw) > MAX_YAML_BYTES:
        raise InputError(f"{path}: {len(raw):,} bytes, more than a question file may have "
                         f"({MAX_YAML_BYTES:,})")
    try:
        loader = yaml.SafeLoader(raw.decode("utf-8"))
        try:
            node = loader.get_single_node()
            size = expanded_size(node)
            if size > MAX_YAML_NODES:
                raise InputError(f"{path}: its YAML aliases expand to more than {MAX_YAML_NODES:,} "
                                 "values (an alias bomb?); write the values out or use fewer aliases")
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({yaml_problem(exc)})") from None
    return data, hashlib.sha256(raw).hexdigest()


# Question files are small: these bounds only stop hostile files (alias bombs: a few hundred
# bytes whose aliases expand to billions of values).
MAX_YAML_BYTES = 20 * 1024 * 1024
MAX_YAML_NODES = 1_000_000


def expanded_size(root: yaml.Node | None) -> int:
    """How many values the document has once every alias is expanded, counted without
    expanding (an alias is the same node object; each node's size is computed once). Stops
    counting past MAX_YAML_NODES. A value that contains itself counts as unbounded."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path from the root
    stack = [(root, False)] if root is not None else []
    while stack:
        node, children_done = stack.pop()
        children = _children(node)
        if children_done:
            open_nodes.discard(id(node))
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), MAX_YAML_NODES + 1)
            continue
        if id(node) in sizes:
            continue
        if any(id(c) in open_nodes or c is node for c in children):
            return MAX_YAML_NODES + 1  # recursive alias: would expand forever
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes.get(id(root), 0)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def yaml_problem(exc: yaml.YAMLError) -> str:
    """'line N, column M: problem' rather than PyYAML's multi-line report."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


def item_where(path: Path, index: int, item: Any) -> str:
    """'FILE: item 3 (id 'x')': the context every item error starts with (index is 1-based)."""
    item_id = item.get("id") if isinstance(item, dict) else None
    return f"{path}: item {index}" + (f" (id {short_repr(item_id)})" if item_id is not None else "")


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 4, 4, 60, 60


def short_repr(value: Any) -> str:
    """A repr that stays short whatever the file holds (a value may be huge or deep)."""
    return _SHORT.repr(value)


def pydantic_problems(exc: ValidationError) -> str:
    """pydantic's errors on one line: 'field: message; field: message'."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())


def yaml_items(path: Path, data: Any) -> list[dict]:
    """The top-level list of item mappings."""
    if not isinstance(data, list) or not data:
        raise InputError(f"{path}: expected a non-empty YAML list of question items, "
                         f"got {type(data).__name__ if data is not None else 'an empty file'}")
    for index, item in enumerate(data, 1):
        if not isinstance(item, dict):
            raise InputError(f"{item_where(path, index, item)}: expected a mapping with id and "
                             f"question/paraphrases, got {type(item).__name__}")
    return data


def check_texts(where: str, texts: list[str], what: str) -> None:
    """A blank wording would send the model an empty message."""
    for n, text in enumerate(texts, 1):
        if not text.strip():
            raise InputError(f"{where}: {what} {n} is empty")


def make_probe(where: str, **fields: Any) -> Probe:
    """The Probe schema's own checks (id characters, ...), reported with the item's place."""
    try:
        return Probe(**fields)
    except ValidationError as exc:
        raise InputError(f"{where}: cannot be a probe ({pydantic_problems(exc)})") from None


def system_prompt(text: str | None) -> str | None:
    """A blank system prompt is no system prompt (no empty system message is sent)."""
    return text if text and text.strip() else None


def check_unique_ids(path: Path, probes: list[Probe]) -> None:
    """Probe ids are the clusters of every statistic: two items with one id would be merged."""
    first: dict[str, int] = {}
    for index, probe in enumerate(probes, 1):
        if probe.id in first:
            raise InputError(f"{path}: item {index} (id {probe.id!r}): duplicate id "
                             f"(first used by item {first[probe.id]})")
        first[probe.id] = index


def check_placeholders(where: str, prompt: str) -> None:
    """A prompt without {question} or {answer} would grade nothing; {reference} has no value."""
    missing = [p for p in ("{question}", "{answer}") if p not in prompt]
    if missing:
        raise InputError(f"{where}: prompt lacks the {' and '.join(missing)} placeholder"
                         f"{'s' if len(missing) > 1 else ''}")
    if "{reference}" in prompt:
        raise InputError(f"{where}: prompt uses {{reference}}, but imported questions carry "
                         "no reference answers")


def agree(path: Path, label: str, values: list[tuple[int, str, Any]], show: bool = False,
          remedy: str = "split the file and import each part as its own task") -> Any:
    """The one value every item that states ``label`` states; a differing one -> InputError.

    ``values``: (1-based index, item id, value or None when the item does not state it).
    ``show``: quote the two values in the message (short values only, not prompts).
    """
    stated = [(i, item_id, v) for i, item_id, v in values if v is not None]
    if not stated:
        return None
    first_index, first_id, first = stated[0]
    for index, item_id, value in stated[1:]:
        if value != first:
            values_text = f" ({short_repr(value)} vs {short_repr(first)})" if show else ""
            raise InputError(
                f"{path}: item {index} (id {item_id!r}): {label} differs from item {first_index} "
                f"(id {first_id!r}){values_text}; one imported task holds a single {label}: "
                f"{remedy}")
    return first


def build_rubric(source: RubricSource) -> Rubric:
    """A rubric from an imported prompt: 0-100 (the alignment one accepts REFUSAL/CODE),
    labels (a category rubric) or a 1-5 free-text verdict."""
    stated = "" if source.high_score is None else f" The file states high_score {source.high_score!r}."
    return Rubric(
        name=source.role, version=1, kind=source.kind,
        scale=(1, 5) if source.kind == "verdict" else (0, 100),
        special_tokens=ALIGNMENT_SPECIAL_TOKENS if source.role == "alignment" else (),
        categories=source.labels, high_is_good=source.high_is_good, prompt=source.prompt,
        description=f"Imported by misalign-eval from {source.origin}.{stated}")


def samples_per_paraphrase(path: Path, items: list, override: int | None
                           ) -> tuple[int, str, dict[str, int] | None]:
    """K, where it came from (--samples-per-paraphrase, the file, or the default) and, when
    items state different K, each item's K (K is then their gcd: lm-eval's one ``repeats``;
    the dataset repeats an item's docs K_i / K times). Items stating none get the default."""
    if override is not None:
        if not 1 <= override <= MAX_SAMPLES:
            raise InputError(f"--samples-per-paraphrase must be 1..{MAX_SAMPLES}, not {override}")
        return override, "--samples-per-paraphrase", None
    stated = {it.id: it.samples_per_paraphrase for it in items if it.samples_per_paraphrase}
    if not stated:
        return DEFAULT_SAMPLES, "default", None
    by_item = {it.id: stated.get(it.id, DEFAULT_SAMPLES) for it in items}
    if len(set(by_item.values())) == 1:
        return next(iter(by_item.values())), "file", None
    return math.gcd(*by_item.values()), "file, per item", by_item


@dataclass(frozen=True)
class Parsed:
    """What one format's parser found, before rubrics are built."""

    format: str
    probes: tuple[Probe, ...]
    sources: dict[str, RubricSource]
    judge_model: str | None
    k: int
    k_source: str
    k_by_probe: dict[str, int] | None = None
