"""The judge: configuration, rubrics, scoring modes, the async client, cache and preflight.

- ``config.JudgeConfig``: settings from YAML, environment and flags.
- ``rubrics``: ``Rubric``, ``load_rubric``, ``load_rubric_file``.
- ``logprobs`` / ``sampled``: reading a score or category from the judge's reply.
- ``client.Judge``: concurrent, cached, retried judge calls; ``limiter``: adaptive pool size.
- ``ensemble.EnsembleJudge``: several judge models, each answer by their mean / majority.
- ``cache.VerdictCache``: the SQLite verdict cache; ``preflight``: checks before generation.
- ``grading``: ``judge_questions`` (answer lists -> records), ``check_error_rate``.
- ``health.JudgeHealth``: the sequential test that stops a dead judge early.
- ``replies``: a reply body -> a verdict, the one path of live calls and batch results.
- ``ratelimit.Pacer``: pacing to announced (x-ratelimit-*) or learned rate limits.
- ``batch``: the Batch API and request/result files (``vllm run-batch``) into the cache.
- ``usage.JudgeUsage``: calls, tokens and the cost estimate of a judge run.
"""
