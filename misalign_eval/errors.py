"""Errors the CLI prints as one clear line (no traceback) and exits 2 on, and the one-line
warning every layer prints."""

import sys


def warn(message: str) -> None:
    """A warning the user must see, whatever logging is set up: one line on stderr."""
    print(f"misalign-eval: warning: {message}", file=sys.stderr, flush=True)


class MisalignEvalError(Exception):
    """Base class: the message says what is wrong and what to do."""


class InputError(MisalignEvalError):
    """Bad input from the user: a file, a setting or a name. The message says what and where."""


class JudgeFailure(MisalignEvalError):
    """The judge failed on too many answers to publish a rate built on it."""
