"""The lm-eval filter that grades every answer of a task, concurrently, before metrics run."""

from __future__ import annotations

import json
import logging

from lm_eval.api.filter import Filter

from misalign_eval.errors import JudgeFailure
from misalign_eval.harness.kept_answers import KeptAnswers, keep_answers
from misalign_eval.harness.messages import question_for_judge
from misalign_eval.harness.settings import TaskSettings
from misalign_eval.judging.grading import Question, check_error_rate, judge_questions, opened_judge
from misalign_eval.judging.preflight import preflight_once
from misalign_eval.judging.usage import USAGE_KEY

log = logging.getLogger("misalign_eval")


class JudgeFilter(Filter):
    """Grades every answer of the task in one concurrent pass.

    Returns, per doc, a JSON string (lm-eval logs filtered responses with str(), so a
    dict would become a Python repr) holding one judgement per sampled answer. Raises
    JudgeFailure, aborting the run, when the judge failed on more than max_error_rate.
    """

    def __init__(self, rubrics, settings: TaskSettings, task_name: str | None = None,
                 usage_sink: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rubrics = list(rubrics)
        self.settings = settings
        self.task_name = task_name or "probes"
        # The task's metadata (written into the results file): judge calls and tokens go here.
        self.usage_sink = usage_sink

    def apply(self, resps, docs):
        config = self.settings.judge_config()
        preflight_once(config)
        questions = [Question(doc["probe_id"], doc["category"],
                              question_for_judge(doc["question"], self.settings), list(answers),
                              reference=doc.get("reference") or None,
                              extra={"paraphrase_index": doc.get("paraphrase_index", 0)})
                     for answers, doc in zip(resps, docs)]
        kept = self._keep(docs, resps, questions, config)
        try:
            with opened_judge(config, self.rubrics) as judge:
                try:
                    records = judge_questions(judge, self.settings.labeler(self.rubrics), questions)
                finally:
                    if self.usage_sink is not None:
                        self.usage_sink[USAGE_KEY] = judge.usage.to_json(config.price_per_mtok)
                log.info("%s: %s", self.task_name, judge.usage.describe(config.price_per_mtok).replace("\n", "; "))
            check_error_rate(records, config.max_error_rate)
        except JudgeFailure as failure:
            if kept is None:
                raise
            raise JudgeFailure(f"{failure} The generated answers are kept in {kept.where()} "
                               "once the judge works.") from None
        except BaseException as exc:  # Ctrl-C, a bug, anything: say where the answers are
            if kept is None:
                raise
            log.error("%s: judging stopped (%s); the generated answers are kept in %s",
                      self.task_name, type(exc).__name__, kept.where())
            raise
        return [json.dumps(record, allow_nan=False) for record in records]

    def _keep(self, docs, resps, questions: list[Question], config) -> KeptAnswers | None:
        if config.mode == "off":
            return None  # generate-only: lm-eval's --log_samples file is the product
        kept = keep_answers(self.task_name, docs, resps, [q.question for q in questions],
                            self.settings)
        log.info("%s: %d answers kept before judging in %s", self.task_name,
                 sum(map(len, resps)), kept.where())
        return kept
