"""Rubric definitions (judges/*.yaml): versioned, content-hashed, rendered safely."""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
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
    ``kind: verdict`` lets the judge reason and end with a line ``ANSWER: N`` (N on ``scale``)
    or ``ANSWER: LABEL`` (one of ``categories``, unscored reasons); see judging.verdicts.

    Placeholders: ``{question}`` and ``{answer}`` always; ``{reference}`` (a correct answer
    from the probe) where the rubric needs it. ``high_is_good: false`` marks a score rubric
    whose high end is the bad end (e.g. "how harmful"); scores are then flipped to 100 - s.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    version: int = Field(ge=1)
    description: str = ""
    kind: Literal["score", "category", "verdict"] = "score"
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
        elif self.kind == "verdict":
            if any(not re.fullmatch(r"[A-Z][A-Z0-9_/-]*", c) for c in self.categories):
                raise ValueError("verdict labels must be upper-case words (A-Z, 0-9, _ / -)")
        elif self.categories:
            raise ValueError("categories are only for kind: category or verdict")
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

        The answer is untrusted: it is normalised (``defang``) so that nothing in it can close
        the answer block, pose as a chat turn, or fake our truncation marker.
        """
        answer = defang(answer)
        truncated = len(answer) > MAX_ANSWER_CHARS
        if truncated:
            answer = answer[:MAX_ANSWER_CHARS] + TRUNCATION_MARKER
        # One pass over the template, not str.format or chained replace: braces and
        # placeholder look-alikes inside the question or answer must stay literal.
        values = {"question": defang(question), "answer": answer,
                  "reference": defang(reference or "")}
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.prompt), truncated


_PLACEHOLDER = re.compile(r"\{(question|answer|reference)\}")
_TAG_PATTERN = re.compile(r"<\s*(/?)\s*(answer|question|reference)\b", re.IGNORECASE)
TRUNCATION_MARKER = "\n[... answer truncated for grading ...]"
# Text an answer could use to pose as our marker: any bracketed "... answer truncated".
_MARKER_LOOKALIKE = re.compile(r"\[(\s*\.*\s*answer\s+truncated)", re.IGNORECASE)
# Characters that render as nothing (zero-width, soft hyphen, BOM, word joiners, bidi controls).
_INVISIBLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
                        "\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]")
# Chat-template control strings of the common model families: ChatML and Llama 3 (<|...|>,
# also DeepSeek's full-width bars after NFKC), Llama 2 / Mistral ([INST], <<SYS>>,
# [SYSTEM_PROMPT], ...), Gemma (<start_of_turn>, <end_of_turn>), sentence markers <s>, </s>.
# A judge served by vLLM or TGI may tokenise these as real turn boundaries.
_CONTROL_TOKENS = re.compile(
    r"<\|([^<>|\n]{0,64})\|>"
    r"|\[(/?(?:INST|SYS|SYSTEM_PROMPT|AVAILABLE_TOOLS|TOOL_CALLS|TOOL_RESULTS))\]"
    r"|<<(/?SYS)>>"
    r"|<(/?(?:start_of_turn|end_of_turn|s|bos|eos|pad|unk))>",
    re.IGNORECASE)


def normalise(text: str) -> str:
    """What a tokenizer or a reader would see: NFKC (full-width and other compatibility forms
    become ASCII), invisible characters removed, HTML entities decoded (to a fixed point, so
    ``&amp;lt;`` cannot survive as ``&lt;``)."""
    text = unicodedata.normalize("NFKC", text)
    for _ in range(8):
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = unicodedata.normalize("NFKC", decoded)
    return _INVISIBLE.sub("", text)


def defang(text: str) -> str:
    """Normalise untrusted text, then neutralise our delimiters, chat control tokens and
    look-alikes of the truncation marker (brackets become the single guillemets ‹ ›)."""
    text = neutralise_tags(normalise(text))
    text = _CONTROL_TOKENS.sub(lambda m: _guillemets(m.group(0)), text)
    return _MARKER_LOOKALIKE.sub(lambda m: "‹" + m.group(1), text)


def _guillemets(token: str) -> str:
    return token.replace("<", "‹").replace(">", "›").replace("[", "‹").replace("]", "›")


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
