"""lm-eval run directories: reading them, writing them, pairing runs, re-grading answers.

- ``reader``: ``load_runs``, ``load_single_run``, ``latest_results_file``,
  ``load_task_results``; ``ModelRun``, ``TaskResult``, ``QuestionRecord``.
- ``pairing``: ``align_runs`` (shared tasks, checked comparable, aligned by question),
  ``by_rate`` (tasks grouped by the rate they measure), ``pooled``, ``pooled_families``,
  ``common_definition``, ``run_labels``.
- ``writer.RunWriter``: an lm-eval-style run directory from graded answers.
- ``rejudge.rejudge`` (``misalign-eval judge``) and ``rejudge_batch.batch_grade``: grade the
  answers of saved ``samples_*.jsonl`` files or ``answer_tables`` (CSV/JSONL of other tools),
  each file as its task would be graded live (``grading_plan.plan_grading``: alignment or
  category suite).
- ``import_scores.import_scores``: a run directory from a table's recorded scores.
- ``judged_answers``: every judged answer of a run, matched across gradings; ``labels``:
  the human-labelling sample and the labels file.
"""
