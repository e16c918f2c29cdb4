"""Where the shipped task YAMLs, probe files and rubrics are, installed or editable."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def tasks_dir() -> Path:
    """The directory to hand lm-eval as ``--include_path``."""
    return Path(str(files("misalign_eval.tasks")))


def judges_dir() -> Path:
    """The directory holding the rubric YAMLs."""
    return Path(str(files("misalign_eval.judges")))


def probes_dir() -> Path:
    return tasks_dir() / "probes"
