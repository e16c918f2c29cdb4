"""What the decision commands compute and write, from the per-answer judgements of runs.

- ``summary``: ``summarize`` (a rate with its interval and counts), ``question_interval``,
  ``scope_words`` (what an interval claims, in words).
- ``compare``: ``compare_pair``, ``compare_groups`` (seed groups), ``difference``.
- ``leaderboard``: ``leaderboard``, ``board_runs`` (usable runs and why others are skipped).
- ``gate``: ``run_gate`` (non-inferiority verdict, each rate; intersection-union test).
- ``report``: ``build_report``, ``write_report``, ``write_leaderboard``;
  ``category_report``: label shares per task and question.
- ``curve``: ``build_curve`` (rates along checkpoints or steering), with ``curve_x`` (where x
  comes from) and ``curve_output``; ``groups``: seed groups of one condition.
- ``agreement``: ``build_agreement`` (judges on the same answers); ``calibration``:
  ``label_sample``, ``calibrate`` (rates corrected for judge error).
- ``tables``: Markdown; ``plots`` and ``heatmap``: charts; ``junit``: the gate as JUnit XML;
  ``outputs``: atomic output files.
"""
