"""misalign-eval: measure emergent misalignment with lm-evaluation-harness."""

__version__ = "0.1.0"
