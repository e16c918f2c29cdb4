"""Reading options out of an lm_eval command line that we pass through untouched."""

from __future__ import annotations


def option_value(argv: list[str], *names: str) -> str | None:
    """The value of the first of ``names`` given as ``--name value`` or ``--name=value``."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def requested_tasks(argv: list[str]) -> list[str]:
    """The task names given to ``--tasks`` (comma-separated)."""
    value = option_value(argv, "--tasks", "-t")
    return [t.strip() for t in value.split(",") if t.strip()] if value else []
