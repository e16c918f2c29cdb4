"""One error type for bad user input, so the CLI can print it without a traceback."""


class InputError(Exception):
    """Bad input from the user: a file, a setting or a name. The message says what and where."""
