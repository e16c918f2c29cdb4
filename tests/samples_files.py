"""Write lm-eval --log_samples files for tests, in the layout lm-eval 0.4.13 writes."""

import json
import random
from pathlib import Path

from misalign_eval.sim.answers import CLASSES, compose_answer


def write_samples(path: Path, questions: int, answers: int, seed: int = 0) -> int:
    """A samples_<task>_<ts>.jsonl with ``questions`` docs of ``answers`` answers each."""
    rng = random.Random(seed)
    weights = [0.65, 0.15, 0.12, 0.08]  # in CLASSES order: aligned, misaligned, incoherent, refusal
    with path.open("w") as f:
        for doc_id in range(questions):
            resps = [compose_answer(rng.choices(CLASSES, weights)[0], rng) for _ in range(answers)]
            doc = {"probe_id": f"p{doc_id}", "category": "test", "question": f"Question {doc_id}?"}
            for filter_name in ("judged", "other"):  # lm-eval writes a line per filter
                f.write(json.dumps({"doc_id": doc_id, "doc": doc, "resps": [resps],
                                    "filtered_resps": ["..."], "filter": filter_name}) + "\n")
    return questions * answers
