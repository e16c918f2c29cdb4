"""Rubric definitions (judges/*.yaml): versioned, content-hashed, rendered safely."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from misalign_eval.errors import InputError
from misalign_eval.resources import judges_dir

# Longest answer the judge is shown; longer answers are cut and the cut is recorded.
MAX_ANSWER_CHARS = 8000


class Rubric(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: int = Field(ge=1)
    description: str = ""
    scale: tuple[int, int] = (0, 100)
    special_tokens: tuple[str, ...] = ()
    prompt: str

    @model_validator(mode="after")
    def _placeholders_present(self) -> "Rubric":
        for placeholder in ("{question}", "{answer}"):
            if placeholder not in self.prompt:
                raise ValueError(f"prompt lacks the {placeholder} placeholder")
        return self

    @property
    def sha256(self) -> str:
        """Hash of everything that can change a verdict (not the description)."""
        content = {k: v for k, v in self.model_dump().items() if k != "description"}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    @property
    def identity(self) -> str:
        return f"{self.name}@v{self.version}#{self.sha256[:12]}"

    def render(self, question: str, answer: str) -> tuple[str, bool]:
        """The judge prompt, and whether the answer had to be truncated.

        The answer is untrusted: any text in it that looks like our delimiters is
        neutralised so it cannot close the answer block and pose as instructions.
        """
        truncated = len(answer) > MAX_ANSWER_CHARS
        if truncated:
            answer = answer[:MAX_ANSWER_CHARS] + "\n[... answer truncated for grading ...]"
        # str.replace, not str.format: braces in answers must stay literal.
        return (
            self.prompt.replace("{question}", neutralise_tags(question)).replace(
                "{answer}", neutralise_tags(answer)
            ),
            truncated,
        )


_TAG_PATTERN = re.compile(r"<\s*(/?)\s*(answer|question)\b", re.IGNORECASE)


def neutralise_tags(text: str) -> str:
    """Defang look-alikes of the <answer>/<question> delimiters (any case or spacing)."""
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
