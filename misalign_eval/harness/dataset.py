"""The ``custom_dataset`` hook of our task YAMLs: probes as lm-eval docs, no network, no CWD."""

from __future__ import annotations

import json

import datasets

from misalign_eval.probes.probe_set import load_probe_file, load_probe_set


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
