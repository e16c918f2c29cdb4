"""Errors the CLI prints as one clear line (no traceback) and exits 2 on."""


class MisalignEvalError(Exception):
    """Base class: the message says what is wrong and what to do."""


class InputError(MisalignEvalError):
    """Bad input from the user: a file, a setting or a name. The message says what and where."""


class JudgeFailure(MisalignEvalError):
    """The judge failed on too many answers to publish a rate built on it."""
