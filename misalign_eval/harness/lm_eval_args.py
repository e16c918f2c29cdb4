"""Reading options out of an lm_eval command line that we pass through untouched."""

from __future__ import annotations

import json

from misalign_eval.errors import InputError


def option_value(argv: list[str], *names: str) -> str | None:
    """The value of the first of ``names`` given as ``--name value`` or ``--name=value``."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def option_values(argv: list[str], *names: str) -> list[list[str]]:
    """Every occurrence of a ``nargs="+"`` option: ``--name a b`` or ``--name=a``, in order."""
    found: list[list[str]] = []
    for i, arg in enumerate(argv):
        flag, eq, value = arg.partition("=")
        if flag in names and eq and flag.startswith("--"):
            found.append([value])
        elif arg in names:
            values = []
            for value in argv[i + 1:]:
                if value.startswith("-"):
                    break
                values.append(value)
            found.append(values)
    return found


def has_flag(argv: list[str], *names: str) -> bool:
    """Whether a flag is given, alone or as ``--flag=value``."""
    return any(arg in names or arg.partition("=")[0] in names for arg in argv)


def requested_tasks(argv: list[str]) -> list[str]:
    """The task names given to ``--tasks``: lm-eval takes several values, each of which may
    be comma-separated (``--tasks a,b c`` or ``--tasks=a,b``)."""
    values = [v for occurrence in option_values(argv, "--tasks", "-t") for v in occurrence]
    return [t.strip() for value in values for t in value.split(",") if t.strip()]


def metadata_overrides(argv: list[str]) -> dict:
    """The ``--metadata`` settings as lm-eval 0.4.13 reads them: a JSON object, or
    ``key=value`` words; several ``--metadata`` options merge. Malformed JSON is an
    InputError with the position of the problem (lm-eval itself gives a traceback)."""
    merged: dict = {}
    for values in option_values(argv, "--metadata"):
        if not values:
            raise InputError("--metadata needs a value: a JSON object or key=value words")
        first = values[0]
        try:
            parsed = json.loads(first)
        except json.JSONDecodeError as exc:
            if "{" in first:  # lm-eval's own test for "meant as JSON"
                raise InputError(f"--metadata is not valid JSON: {exc.msg} at line {exc.lineno} "
                                 f"column {exc.colno} (char {exc.pos}) of {first!r}") from None
            parsed = None
        if isinstance(parsed, dict):
            merged.update(parsed)  # lm-eval ignores further words after a JSON object
            continue
        from lm_eval._cli.utils import key_val_to_dict

        for value in values:
            try:
                merged.update(key_val_to_dict(value))
            except ValueError as exc:
                raise InputError(f"--metadata {value!r}: {exc}") from None
    return merged


def is_chat_api_model(model: str | None) -> bool:
    """lm-eval models that send chat messages and so need ``--apply_chat_template``."""
    if not model:
        return False
    from lm_eval.models import MODEL_MAPPING

    return "chat" in model.lower() or "Chat" in MODEL_MAPPING.get(model, "")


def missing_chat_template(argv: list[str]) -> str | None:
    """One line saying what to add, when a chat API model is asked for without
    ``--apply_chat_template`` (lm-eval would then fail on every request); else None.
    A ``--config`` file may set the flag, so it is not second-guessed."""
    model = option_value(argv, "--model")
    if not is_chat_api_model(model) or has_flag(argv, "--apply_chat_template", "--config", "-C"):
        return None
    return (f"--model {model} sends chat messages, so it needs --apply_chat_template; add it "
            "(without it lm-eval hands the model flat strings and every request fails)")
