"""misalign-eval: measure emergent misalignment with lm-evaluation-harness.

One sub-package per stage of the data path, top to bottom:

    cli/        the argparse face: one module per command group, thin, calling the library
    decisions/  summary tables, report, compare, leaderboard, gate, plots
    runs/       reading lm-eval output directories, writing run directories, pairing runs,
                re-grading saved samples files
    harness/    lm-eval glue: task class, dataset hook, judge filter, metrics, record format,
                task settings, chat messages, lm_eval argv helpers, the runner behind `run`
    probes/     probe-set schema and loaders; external/ one module per published format
    judging/    judge config, client, cache, preflight, scoring modes, limiter, rubrics, grading
    scoring.py  judgements -> labels under a named definition
    stats/      rates, differences, power and planning: numpy/scipy only
    sim/        the simulated OpenAI-compatible endpoint (subject and judge) with known truth

Rules of the house:
- Dependencies point down: cli -> decisions -> runs -> harness -> probes -> judging ->
  scoring -> stats. ``stats`` imports nothing of ours; the library never imports ``cli``;
  ``decisions`` and ``runs`` never import lm-eval (``harness.metrics`` and
  ``harness.record_format`` are the lm-eval-free parts they read). ``sim`` stands apart
  (it reads shipped rubrics only). ``tests/test_layout.py`` checks these rules.
- The CLI holds no logic a notebook would want: it parses, calls the library, prints.
- Each sub-package's ``__init__`` names its public functions.
"""

__version__ = "0.1.0"
