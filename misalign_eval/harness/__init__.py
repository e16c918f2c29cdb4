"""lm-eval glue (imported by lm-eval through the task YAMLs' ``!function`` paths).

- ``task.ProbeTask``: the task class; ``task.process_results``: per-doc values.
- ``dataset.load_probe_dataset``: the ``custom_dataset`` hook.
- ``judge_filter.JudgeFilter``: grades every answer of a task before metrics run;
  ``kept_answers.keep_answers``: the answers saved before the first judge call.
- ``metrics`` and ``extra_metrics``: the aggregations named in the YAMLs (lm-eval-free, also
  used by ``runs``); ``record_format``: names shared by writers and readers of samples.
- ``settings.TaskSettings``: task metadata, validated.
- ``messages``: probes as chat messages; the question the judge sees.
- ``runner.run_lm_eval``: ``misalign-eval run`` (checks before anything loads);
  ``question_file_run``: ``run --questions``; ``catalog``: our tasks and groups;
  ``subject_key``: keeping the judge's API key from the subject's host.
- ``lm_eval_args``: reading lm_eval command-line options.

Nothing is imported here: lm-eval is heavy, and ``metrics``/``record_format`` must stay
importable without it.
"""
