"""The probe task class and its per-doc results.

Flow inside one ``lm_eval`` run: ``ProbeTask`` loads the probes (``dataset``) and checks the
judge before any generation; the model answers each probe wording ``repeats`` times, sent as
chat messages; ``JudgeFilter`` (``judge_filter``) grades all answers of the task at once,
concurrently; ``process_results`` hands each doc's judgement counts to the functions in
``misalign_eval.harness.metrics``, which compute rates and question-clustered intervals.
"""

from __future__ import annotations

import json
import logging

from lm_eval.api.task import ConfigurableTask
from lm_eval.filters import build_filter_ensemble

from misalign_eval.harness.judge_filter import JudgeFilter
from misalign_eval.harness.messages import as_transcript, probe_messages
from misalign_eval.harness.metrics import n_answers
from misalign_eval.harness.record_format import (
    CARRIER_METRIC, FILTER_NAME, IDENTITY_KEY, METRICS, doc_summary, identity_line,
)
from misalign_eval.harness.runner import check_lm_eval_process, one_line_errors, warn_single_sample
from misalign_eval.harness.settings import TaskSettings
from misalign_eval.harness.subject_key import warn_if_key_goes_to_subject
from misalign_eval.judging.preflight import preflight_once


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
        check_lm_eval_process()  # chat model without --apply_chat_template, --metadata typos
        with one_line_errors():
            self.settings = TaskSettings.from_metadata(config.get("task"),
                                                       config.get("metadata") or {})
            warn_single_sample(config.get("task"), self.settings.samples_per_question
                               or config.get("repeats"))
            rubrics = self.settings.rubrics()
            warn_if_key_goes_to_subject()
            preflight_once(self.settings.judge_config())
        if self.settings.samples_per_question:
            config["repeats"] = self.settings.samples_per_question
        super().__init__(config=config, **kwargs)
        self._record_identity(rubrics)
        self._filters = [build_filter_ensemble(FILTER_NAME, [(JudgeFilter, {
            "rubrics": rubrics, "settings": self.settings,
            "task_name": config.get("task"), "usage_sink": self.config.metadata})])]

    def _record_identity(self, rubrics) -> None:
        """Probe set, judge and rubric versions into the task metadata lm-eval writes to the
        results file (all known before generation; each answer's record repeats them)."""
        docs = self.dataset["test"]
        first = docs[0] if len(docs) else {}
        line = identity_line(first.get("probe_set"), first.get("probe_set_sha256"),
                             self.settings.judge_config().identity, [r.identity for r in rubrics])
        self.config.metadata = {**(self.config.metadata or {}), IDENTITY_KEY: line}

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
        return per_doc_values(doc, results, self._aggregation_list, self.settings.families)

    def override_metric(self, metric_name: str) -> None:
        """--predict_only swaps every metric for "bypass"; keep the carrier so the samples
        file still holds each answer's judgement record (and results the answer count)."""
        super().override_metric(metric_name)
        self._aggregation_list[CARRIER_METRIC] = n_answers
        self._higher_is_better[CARRIER_METRIC] = True


def per_doc_values(doc: dict, results: list, metric_names, families: bool = False) -> dict:
    """Per doc: the full record under the carrier metric, a compact summary elsewhere."""
    record = json.loads(results[0])
    summary = doc_summary(doc, record, families)
    # Each value names its metric: aggregations of per-metric statistics (extra_metrics) read it.
    values = {name: {**summary, "metric": name} for name in metric_names}
    values[CARRIER_METRIC] = record
    return values


def process_results(doc: dict, results: list) -> dict:
    """For the YAML ``process_results`` key (lm-eval needs one); ProbeTask overrides it."""
    return per_doc_values(doc, results, METRICS)
