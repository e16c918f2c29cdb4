"""Read a question file (and judges file) of any supported format into ImportedQuestions."""

from __future__ import annotations

from pathlib import Path

from misalign_eval.errors import InputError
from misalign_eval.probes.external.common import (
    EM_FORMAT, SPLIT_FORMAT, ImportedQuestions, ImportOptions, build_rubric, item_where,
    read_yaml, yaml_items,
)
from misalign_eval.probes.external.persona_features import parse_persona_csv, read_text
from misalign_eval.probes.external.emergent_misalignment import parse_em_file
from misalign_eval.probes.external.questions_judges import parse_questions_file

def detect_format(path: Path, items: list[dict]) -> str:
    """emergent-misalignment items have `type`/`paraphrases`; plain ones have `question`."""
    first = items[0]
    if "type" in first or ("paraphrases" in first and "question" not in first):
        return EM_FORMAT
    if "question" in first:
        return SPLIT_FORMAT
    raise InputError(f"{item_where(path, 1, first)}: cannot tell the format: expected `type` and "
                     "`paraphrases` (emergent-misalignment format) or `question` (questions "
                     "file with a separate --judges file)")



def load_question_file(path: str | Path, judges_path: str | Path | None = None,
                       samples_override: int | None = None,
                       options: ImportOptions | None = None) -> ImportedQuestions:
    """Parse and validate a question file (and judges file or grader); raises InputError,
    writes nothing. A ``.csv`` file is a persona-features prompts file (needs a grader)."""
    options = options or ImportOptions()
    path = Path(path).expanduser().resolve()
    judges, judges_sha = None, None
    if judges_path is not None:
        judges_path = Path(judges_path).expanduser().resolve()
        judges_data, judges_sha = read_yaml(judges_path)
        judges = (judges_path, judges_data)
    if path.suffix.lower() == ".csv":
        if judges is not None:
            raise InputError(f"{path}: a prompts CSV is graded by --grader FILE, not --judges")
        parts, sha = parse_persona_csv(path, options, samples_override)
        judges_path = options.grader.expanduser().resolve()
        judges_sha = read_text(judges_path, "grader template")[1]
    else:
        if options.grader is not None:
            raise InputError(f"{path}: --grader is for a persona-features prompts CSV; a YAML "
                             "question file carries judge prompts or takes --judges")
        data, sha = read_yaml(path)
        items = yaml_items(path, data)
        parse = parse_em_file if detect_format(path, items) == EM_FORMAT else parse_questions_file
        parts = parse(path, items, judges, samples_override, options)
    declared = set(options.labels) | set(options.score_metrics)
    unknown = sorted(declared - set(parts.sources))
    if unknown:
        raise InputError(f"{path}: --labels/--score-metric name metric(s) {', '.join(unknown)} "
                         "that no judge prompt has")
    pair = {role: build_rubric(parts.sources[role]) for role in ("alignment", "coherence")
            if role in parts.sources}
    return ImportedQuestions(
        format=parts.format, probes=parts.probes,
        alignment=pair.get("alignment"), coherence=pair.get("coherence"),
        metrics=tuple(build_rubric(s) for role, s in parts.sources.items() if role not in pair),
        samples_per_paraphrase=parts.k, samples_source=parts.k_source,
        samples_by_probe=parts.k_by_probe, options=options,
        judge_model=parts.judge_model, source_file=path, source_sha256=sha,
        judges_file=judges_path, judges_sha256=judges_sha)
