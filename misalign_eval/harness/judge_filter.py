"""The lm-eval filter that grades every answer of a task, concurrently, before metrics run."""

from __future__ import annotations

import json

from lm_eval.api.filter import Filter

from misalign_eval.errors import JudgeFailure
from misalign_eval.harness.messages import question_for_judge
from misalign_eval.harness.settings import TaskSettings
from misalign_eval.judging.grading import (
    Question, check_error_rate, judge_questions, opened_judge, save_unjudged,
)
from misalign_eval.judging.preflight import preflight_once


class JudgeFilter(Filter):
    """Grades every answer of the task in one concurrent pass.

    Returns, per doc, a JSON string (lm-eval logs filtered responses with str(), so a
    dict would become a Python repr) holding one judgement per sampled answer. Raises
    JudgeFailure, aborting the run, when the judge failed on more than max_error_rate.
    """

    def __init__(self, rubrics, settings: TaskSettings, **kwargs):
        super().__init__(**kwargs)
        self.rubrics = list(rubrics)
        self.settings = settings

    def apply(self, resps, docs):
        config = self.settings.judge_config()
        preflight_once(config)
        questions = [Question(doc["probe_id"], doc["category"],
                              question_for_judge(doc["question"], self.settings), list(answers),
                              reference=doc.get("reference") or None,
                              extra={"paraphrase_index": doc.get("paraphrase_index", 0)})
                     for answers, doc in zip(resps, docs)]
        with opened_judge(config, self.rubrics) as judge:
            records = judge_questions(judge, self.settings.labeler(self.rubrics), questions)
        try:
            check_error_rate(records, config.max_error_rate)
        except JudgeFailure as failure:
            saved = save_unjudged(docs, resps, docs[0].get("probe_set", "probes") if docs else "probes")
            raise JudgeFailure(f"{failure} The generated answers are kept in {saved}: grade them "
                               f"once the judge works with `misalign-eval judge {saved} "
                               "--out judged.jsonl`.") from None
        return [json.dumps(record) for record in records]
