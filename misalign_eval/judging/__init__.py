"""The judge: configuration, logprob scoring, the async client and the preflight."""
