"""A simulated OpenAI-compatible endpoint with a known true misalignment rate."""

from misalign_eval.sim.server import SimSettings, SimulatedEndpoint

__all__ = ["SimSettings", "SimulatedEndpoint"]
