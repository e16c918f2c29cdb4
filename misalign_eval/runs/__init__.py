"""lm-eval run directories: reading them, writing them, pairing runs, re-grading samples.

- ``reader``: ``load_runs``, ``load_single_run``, ``latest_results_file``,
  ``load_task_results``; ``ModelRun``, ``TaskResult``, ``QuestionRecord``.
- ``pairing``: ``align_runs`` (shared tasks, checked comparable, aligned by question),
  ``pooled`` (one run's questions over all tasks), ``common_definition``, ``run_labels``.
- ``writer.RunWriter``: an lm-eval-style run directory from graded answers.
- ``rejudge.rejudge``: grade the answers of saved ``samples_*.jsonl`` files
  (``misalign-eval judge``).
"""
