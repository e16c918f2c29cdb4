"""Probe-set schema and loader: one JSON object per line, validated by pydantic."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from misalign_eval.errors import InputError
from misalign_eval.resources import probes_dir


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class Probe(BaseModel):
    """One out-of-domain question. ``id`` is the cluster identity for all statistics.

    The model sees: ``system`` (if any) as the system message, then the earlier ``turns``
    of a conversation (if any), then ``question`` (or one of its ``paraphrases``) as the
    last user message. ``reference`` is a correct answer, for correctness rubrics.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", min_length=1, max_length=100)
    category: str = Field(min_length=1)
    question: str = Field(min_length=1)
    paraphrases: tuple[str, ...] = ()
    system: str | None = None
    turns: tuple[Turn, ...] = ()
    reference: str | None = None

    @model_validator(mode="after")
    def _turns_alternate(self) -> "Probe":
        roles = [t.role for t in self.turns]
        if any(role != ("user" if i % 2 == 0 else "assistant") for i, role in enumerate(roles)) \
                or len(roles) % 2:
            raise ValueError("turns must alternate user/assistant, starting with user and "
                             "ending with assistant (the question is the last user turn)")
        if any(not p.strip() for p in self.paraphrases):
            raise ValueError("paraphrases must not be empty")
        return self

    @property
    def wordings(self) -> tuple[str, ...]:
        """Every way the question is asked: the question first, then its paraphrases."""
        return (self.question, *self.paraphrases)


class ProbeSet(BaseModel):
    name: str
    probes: tuple[Probe, ...]
    sha256: str

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]


def load_probe_file(path: str | Path, name: str | None = None) -> ProbeSet:
    """Read and validate a probe JSONL file; errors name the file, line and problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read probe file ({exc.strerror})") from exc
    probes: list[Probe] = []
    seen: dict[str, int] = {}
    for lineno, raw_line in enumerate(raw.splitlines(), 1):
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}:{lineno}: not valid UTF-8 (byte {exc.start + 1})") from None
        if not line.strip():
            continue
        try:
            probe = Probe.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'line'}: {e['msg']}" for e in exc.errors()
            )
            raise InputError(f"{path}:{lineno}: invalid probe ({problems})") from exc
        if probe.id in seen:
            raise InputError(
                f"{path}:{lineno}: duplicate probe id {probe.id!r} (first on line {seen[probe.id]})"
            )
        seen[probe.id] = lineno
        probes.append(probe)
    if not probes:
        raise InputError(f"{path}: probe file holds no probes")
    return ProbeSet(
        name=name or path.stem, probes=tuple(probes), sha256=hashlib.sha256(raw).hexdigest()
    )


def load_probe_set(name: str) -> ProbeSet:
    """A shipped probe set by name (``tasks/probes/<name>.jsonl``)."""
    path = probes_dir() / f"{name}.jsonl"
    if not path.is_file():
        known = sorted(p.stem for p in probes_dir().glob("*.jsonl"))
        raise InputError(f"unknown probe set {name!r}; shipped sets: {', '.join(known)}")
    return load_probe_file(path, name=name)
