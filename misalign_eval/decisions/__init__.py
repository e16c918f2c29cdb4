"""What the decision commands compute and write, from the per-answer judgements of runs.

- ``summary``: ``summarize`` (a rate with its interval and counts), ``question_interval``.
- ``compare``: ``compare_pair``, ``difference`` (b - a per task and overall).
- ``leaderboard``: ``leaderboard`` (rates, possible ranks, Holm tests against the best).
- ``gate``: ``run_gate`` (non-inferiority verdict for release pipelines).
- ``report``: ``build_report``, ``write_report``, ``write_leaderboard``.
- ``tables``: Markdown tables; ``plots``: charts; ``outputs``: atomic output files.
"""
