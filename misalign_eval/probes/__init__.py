"""Probe sets: the schema, the shipped sets, and (``external``) the published question formats.

Public: ``Probe``, ``ProbeSet``, ``load_probe_set`` (a shipped set by name),
``load_probe_file`` (any JSONL probe file).
"""

from misalign_eval.probes.probe_set import Probe, ProbeSet, load_probe_file, load_probe_set

__all__ = ["Probe", "ProbeSet", "load_probe_file", "load_probe_set"]
