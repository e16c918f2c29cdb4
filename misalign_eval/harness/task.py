"""lm-eval glue: the probe task class, its dataset, the judge filter, per-doc results.

Flow inside one ``lm_eval`` run: ``ProbeTask`` loads the probes and checks the judge before
any generation; the model answers each probe wording ``repeats`` times, sent as chat
messages; ``JudgeFilter`` grades all answers of the task at once, concurrently;
``process_results`` hands each doc's judgement counts to the functions in
``misalign_eval.aggregations``, which compute rates and question-clustered intervals.
"""

from __future__ import annotations

import json
import logging

import datasets
from lm_eval.api.filter import Filter
from lm_eval.api.task import ConfigurableTask
from lm_eval.filters import build_filter_ensemble

from misalign_eval.aggregations import n_answers
from misalign_eval.errors import JudgeFailure
from misalign_eval.grading import (
    Question, check_error_rate, judge_questions, opened_judge, save_unjudged,
)
from misalign_eval.judging.preflight import preflight_once
from misalign_eval.messages import as_transcript, probe_messages, question_for_judge
from misalign_eval.probes import load_probe_file, load_probe_set
from misalign_eval.record_format import CARRIER_METRIC, FILTER_NAME, METRICS, doc_summary
from misalign_eval.task_settings import TaskSettings



log = logging.getLogger("misalign_eval")


class ProbeTask(ConfigurableTask):
    """A generate-until task over a probe set, graded by the judge filter.

    Settings come from the task's ``metadata`` block (see TaskSettings), so ``--metadata``
    can change them and the results file records them. Bad settings, unknown rubrics and
    an unusable judge fail here, while the task is built, before any GPU time is spent.
    """

    def __init__(self, config: dict | None = None, **kwargs):
        config = dict(config or {})
        config.pop("class", None)
        self.settings = TaskSettings.from_metadata(config.get("task"), config.get("metadata") or {})
        rubrics = self.settings.rubrics()
        preflight_once(self.settings.judge_config())
        if self.settings.samples_per_question:
            config["repeats"] = self.settings.samples_per_question
        super().__init__(config=config, **kwargs)
        self._filters = [build_filter_ensemble(FILTER_NAME, [(JudgeFilter, {
            "rubrics": rubrics, "settings": self.settings})])]

    def fewshot_context(self, doc, num_fewshot, system_instruction=None, apply_chat_template=False,
                        fewshot_as_multiturn=False, chat_template=None, gen_prefix=None, **kwargs):
        """The probe as chat messages (system, earlier turns, question), not one flat string."""
        messages = probe_messages(doc, self.settings, system_instruction)
        if apply_chat_template and chat_template:
            return chat_template(messages, add_generation_prompt=True)
        if len(messages) > 1 and not getattr(self, "_warned_flat", False):
            self._warned_flat = True
            log.warning("%s: probes with a system prompt or earlier turns are sent as a plain "
                        "transcript because --apply_chat_template is not set; chat models "
                        "should be run with it", self.config.task)
        return as_transcript(messages)

    def process_results(self, doc, results):
        return per_doc_values(doc, results, self._aggregation_list)

    def override_metric(self, metric_name: str) -> None:
        """--predict_only swaps every metric for "bypass"; keep the carrier so the samples
        file still holds each answer's judgement record (and results the answer count)."""
        super().override_metric(metric_name)
        self._aggregation_list[CARRIER_METRIC] = n_answers
        self._higher_is_better[CARRIER_METRIC] = True


def load_probe_dataset(probe_set: str | None = None, probe_file: str | None = None,
                       **_metadata) -> dict[str, datasets.Dataset]:
    """``custom_dataset`` hook: one doc per probe wording, no network, no CWD.

    A probe with paraphrases becomes one doc per wording (same probe_id, its
    paraphrase_index), each sampled ``repeats`` times: wordings are sampled evenly.
    """
    probes = load_probe_set(probe_set) if probe_set else load_probe_file(probe_file)
    rows = [{"probe_id": p.id, "category": p.category, "question": wording,
             "paraphrase_index": index, "system": p.system or "",
             "turns": json.dumps([t.model_dump() for t in p.turns]),
             "reference": p.reference or "",
             "probe_set": probes.name, "probe_set_sha256": probes.sha256}
            for p in probes.probes for index, wording in enumerate(p.wordings)]
    return {"test": datasets.Dataset.from_list(rows)}


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


def per_doc_values(doc: dict, results: list, metric_names) -> dict:
    """Per doc: the full record under the carrier metric, a compact summary elsewhere."""
    record = json.loads(results[0])
    summary = doc_summary(doc, record)
    values = {name: summary for name in metric_names}
    values[CARRIER_METRIC] = record
    return values


def process_results(doc: dict, results: list) -> dict:
    """For the YAML ``process_results`` key (lm-eval needs one); ProbeTask overrides it."""
    return per_doc_values(doc, results, METRICS)

