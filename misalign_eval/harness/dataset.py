"""The ``custom_dataset`` hook of our task YAMLs: probes as lm-eval docs, no network, no CWD."""

from __future__ import annotations

import json

import datasets

from misalign_eval.probes.probe_set import load_probe_file, load_probe_set


def load_probe_dataset(probe_set: str | None = None, probe_file: str | None = None,
                       samples_by_probe: dict | None = None, samples_unit: int | None = None,
                       samples_per_question: int | None = None,
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
    if samples_by_probe and samples_unit and not samples_per_question:
        rows = per_probe_copies(rows, samples_by_probe, samples_unit)
    return {"test": datasets.Dataset.from_list(rows)}


def per_probe_copies(rows: list[dict], samples_by_probe: dict, unit: int) -> list[dict]:
    """Items of one file may ask for different K while lm-eval's ``repeats`` is one number
    (``unit``, their greatest common divisor): a probe with K = c * unit gets c copies of
    each doc, told apart by ``copy``. ``--metadata samples_per_question`` overrides all K."""
    copied = []
    for row in rows:
        copies = int(samples_by_probe.get(row["probe_id"], unit)) // unit
        copied += [{**row, "copy": c} for c in range(max(copies, 1))]
    return copied
