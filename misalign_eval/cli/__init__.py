"""The ``misalign-eval`` command (``main``): one module per command group, each with
``register(subparsers)``; no logic a notebook would want lives here."""

from misalign_eval.cli.main import main

__all__ = ["main"]
