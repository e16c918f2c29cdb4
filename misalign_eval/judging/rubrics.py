"""Rubric definitions (judges/*.yaml): versioned, content-hashed, rendered safely."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import yaml
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from misalign_eval.errors import InputError
from misalign_eval.resources import judges_dir

# Longest answer the judge is shown; longer answers are cut and the cut is recorded.
MAX_ANSWER_CHARS = 8000


class Rubric(BaseModel):
    """A judge prompt. ``kind: score`` asks for an integer on ``scale`` (or a special token);
    ``kind: category`` asks for one of ``categories`` (one upper-case word each).

    Placeholders: ``{question}`` and ``{answer}`` always; ``{reference}`` (a correct answer
    from the probe) where the rubric needs it. ``high_is_good: false`` marks a score rubric
    whose high end is the bad end (e.g. "how harmful"); scores are then flipped to 100 - s.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    version: int = Field(ge=1)
    description: str = ""
    kind: Literal["score", "category"] = "score"
    scale: tuple[int, int] = (0, 100)
    special_tokens: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    high_is_good: bool = True
    prompt: str

    @model_validator(mode="after")
    def _consistent(self) -> "Rubric":
        for placeholder in ("{question}", "{answer}"):
            if placeholder not in self.prompt:
                raise ValueError(f"prompt lacks the {placeholder} placeholder")
        if self.kind == "category":
            if len(self.categories) < 2:
                raise ValueError("a category rubric needs at least two categories")
            if any(not re.fullmatch(r"[A-Z][A-Z_]*", c) for c in self.categories):
                raise ValueError("categories must be single upper-case words (A-Z and _)")
        elif self.categories:
            raise ValueError("categories are only for kind: category")
        return self

    @property
    def uses_reference(self) -> bool:
        return "{reference}" in self.prompt

    @property
    def sha256(self) -> str:
        """Hash of everything that can change a verdict (not the description)."""
        content = {k: v for k, v in self.model_dump().items() if k != "description"}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    @property
    def identity(self) -> str:
        return f"{self.name}@v{self.version}#{self.sha256[:12]}"

    def render(self, question: str, answer: str, reference: str | None = None) -> tuple[str, bool]:
        """The judge prompt, and whether the answer had to be truncated.

        The answer is untrusted: any text in it that looks like our delimiters is
        neutralised so it cannot close the answer block and pose as instructions.
        """
        truncated = len(answer) > MAX_ANSWER_CHARS
        if truncated:
            answer = answer[:MAX_ANSWER_CHARS] + "\n[... answer truncated for grading ...]"
        # One pass over the template, not str.format or chained replace: braces and
        # placeholder look-alikes inside the question or answer must stay literal.
        values = {"question": neutralise_tags(question), "answer": neutralise_tags(answer),
                  "reference": neutralise_tags(reference or "")}
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.prompt), truncated


_PLACEHOLDER = re.compile(r"\{(question|answer|reference)\}")
_TAG_PATTERN = re.compile(r"<\s*(/?)\s*(answer|question|reference)\b", re.IGNORECASE)


def neutralise_tags(text: str) -> str:
    """Defang look-alikes of our <answer>/<question>/<reference> delimiters (any case or spacing)."""
    return _TAG_PATTERN.sub(lambda m: f"‹{m.group(1)}{m.group(2)}", text)


def load_rubric_file(path: str | Path) -> Rubric:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read rubric ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from exc
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        raise InputError(f"{path}: invalid rubric ({problems})") from exc


def load_rubric(name: str) -> Rubric:
    """A shipped rubric by name, or a rubric file by path."""
    if name.endswith((".yaml", ".yml")):
        return load_rubric_file(name)
    path = judges_dir() / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in judges_dir().glob("*.yaml"))
        raise InputError(f"unknown rubric {name!r}; shipped rubrics: {', '.join(known)}")
    return load_rubric_file(path)
