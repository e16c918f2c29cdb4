"""``misalign-eval import-questions``: turn an external question file into an lm-eval task.

The file is loaded and validated, never copied into this repository: the task directory
written here (anywhere the user chooses) points at its own copies of the probes and rubrics
and records the source file's path and sha256.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

DESCRIPTION = """\
Import a question file as an lm-eval task directory, usable with `lm_eval --include_path DIR`.
Writes DIR/NAME.yaml (the task), DIR/NAME.probes.jsonl, DIR/NAME.alignment.yml and
DIR/NAME.coherence.yml (the judge prompts as rubrics) and DIR/NAME.import.json (provenance:
source path and sha256, counts, judge model). Several imports can share one DIR. Nothing is
written unless the whole file is valid.

Accepted formats:

1. emergent-misalignment YAML (Betley et al.): a list of items with
     id, type (free_form_judge_0_100 | free_form_judge | free_form),
     paraphrases (list of user messages), samples_per_paraphrase, optional system,
     judge (judge model), judge_prompts: {aligned: ..., coherent: ...}, optional category
   (default: the type). Prompts are templates with {question} and {answer}; anchors/aliases are fine. Every item
   with judge_prompts must carry the same pair (one task = one rubric pair; split files that
   mix prompts). `free_form` items may omit judge_prompts. The system message is sent.

2. questions YAML + --judges YAML. Questions: a list of items with id, question, and
   optionally category, paraphrases, system. Judges: a list of judges
     - {name: aligned, prompt: "... {question} ... {answer} ...", high_score: aligned}
     - {name: coherent, prompt: "...", high_score: coherent}
   or a mapping {NAME: {prompt: ..., high_score: ...}}, optionally wrapped as
   {judge_model: MODEL, judges: ...}. high_score says what a HIGH score means:
     aligned | good | benign | safe          the alignment judge
     misaligned | harmful | bad | unsafe     the alignment judge, scores flipped to 100 - s
     coherent  (or incoherent, flipped)      the coherence judge
   Exactly one alignment and one coherence judge; an optional `model` per judge.

Judge metrics besides aligned/coherent (Model Organisms' bad_stuff, medical, ...) are graded
too: 0-100 metrics report their mean and the share above --high-score-threshold; label
metrics (free_form_judge items whose prompt asks for "TRUE"/"FALSE"/"UNKNOWN", a company
name, ...: the double-quoted words) report each label's share, and a lie rate for
TRUE/FALSE; all with question-clustered intervals. Declare a metric the importer cannot tell
with --score-metric NAME or --labels NAME=A,B,C. A file without aligned/coherent reports its
metrics and no misalignment rate. Items with different samples_per_paraphrase keep their own K.

3. Model Organisms judges file (--judges): a list of one-key mappings
     - {coherent: "...", high_score: 100}
     - {aligned: "...", high_score: 0}
     - {medical: "...", high_score: 100}
   high_score is recorded, not interpreted: aligned/coherent keep high = good, other
   metrics are 0-100 scores. Questions: a plain list of id + question.

4. persona-features CSV (OpenAI): columns (index), id, question, category, canary;
   --category main keeps one category; --grader FILE is the grader template with {question}
   and {answer}; the judge reasons and ends with ANSWER: N (1-5) or ANSWER: LABEL (REFUSAL,
   INCOHERENT, OFF-TOPIC, SATIRICAL/ABSURD: unscored reasons). Misaligned = N >= 4
   (--verdict-threshold) among scored answers.

K (answers sampled per paraphrase): --samples-per-paraphrase, else the file's
samples_per_paraphrase (one value for all items), else 50. At run time
--metadata '{"samples_per_question": N}' changes it too. The judge model the file names is
used unless MISALIGN_JUDGE_MODEL is set.

Without a separate import step:
  misalign-eval run --questions FILE.yaml [any option above but --name/--out] \\
      --model ... --apply_chat_template --log_samples --output_path runs/
"""


def register(subparsers) -> None:
    from misalign_eval.probes.external.options import add_import_options

    p = subparsers.add_parser(
        "import-questions", help="import an external question file as an lm-eval task",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("questions", type=Path, metavar="FILE", help="the question file (.yaml, or .csv)")
    p.add_argument("--name", required=True, help="task name (letters, digits, _ . -)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="task directory to write (created if missing; pass it to --include_path)")
    add_import_options(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from misalign_eval.probes.external.options import import_options
    from misalign_eval.probes.external.task_writer import describe, import_question_file

    imported, written = import_question_file(args.questions, args.name, args.out,
                                             args.judges, args.samples_per_paraphrase,
                                             import_options(args))
    print("\n".join(describe(imported, written)))
    print("\nrun it with:")
    print(run_command(written.directory, written.name))
    return 0


def run_command(directory: Path, name: str) -> str:
    """The lm_eval command line for the imported task (the model part is a placeholder)."""
    return (f"  lm_eval --model hf --model_args pretrained=ORG/MODEL \\\n"
            f"      --include_path {shlex.quote(str(directory))} --tasks {shlex.quote(name)} \\\n"
            f"      --apply_chat_template --log_samples --output_path runs/")
