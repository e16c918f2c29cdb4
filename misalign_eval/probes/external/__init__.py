"""External question files (published formats), loaded and written as lm-eval task directories.

Public: ``load_question_file`` (any format -> ImportedQuestions, validated, writes nothing),
``import_question_file`` / ``write_task`` (the task directory), ``describe``,
``is_imported_task_yaml``. One module per format: ``emergent_misalignment``,
``questions_judges``; ``common`` holds what they share.
"""

from misalign_eval.probes.external.common import ImportedQuestions
from misalign_eval.probes.external.load import load_question_file
from misalign_eval.probes.external.task_writer import (
    WrittenTask, describe, import_question_file, is_imported_task_yaml, write_task,
)

__all__ = ["ImportedQuestions", "WrittenTask", "describe", "import_question_file",
           "is_imported_task_yaml", "load_question_file", "write_task"]
