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
    """The task names given to ``--tasks``: lm-eval takes several values, each of which may
    be comma-separated (``--tasks a,b c`` or ``--tasks=a,b``)."""
    values: list[str] = []
    for i, arg in enumerate(argv):
        if arg.startswith("--tasks="):
            values.append(arg.split("=", 1)[1])
        elif arg in ("--tasks", "-t"):
            for value in argv[i + 1:]:
                if value.startswith("-"):
                    break
                values.append(value)
    return [t.strip() for value in values for t in value.split(",") if t.strip()]
