"""External question files (published formats), loaded and written as lm-eval task directories.

Public: ``load_question_file`` (any format -> ImportedQuestions, validated, writes nothing),
``import_question_file`` / ``write_task`` (the task directory), ``describe``,
``is_imported_task_yaml``. One module per format: ``emergent_misalignment``,
``questions_judges`` (Model Organisms judges files too), ``persona_features`` (CSV +
grader); ``judge_metrics`` tells a file's judge metrics apart (0-100, labels); ``common``
holds what they share, ``options`` the command-line additions, ``task_config`` the task
YAML written.
"""

from misalign_eval.probes.external.common import ImportedQuestions
from misalign_eval.probes.external.load import load_question_file
from misalign_eval.probes.external.task_writer import (
    WrittenTask, describe, import_question_file, is_imported_task_yaml, write_task,
)

__all__ = ["ImportedQuestions", "WrittenTask", "describe", "import_question_file",
           "is_imported_task_yaml", "load_question_file", "write_task"]
