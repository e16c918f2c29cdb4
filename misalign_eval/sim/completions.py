"""The shapes of the simulated judge's replies: top-20 logprob distributions, sampled
integer replies, digit-split tokens, and the chat-completions envelope around them."""

from __future__ import annotations

import math
import random
import time

SUBJECT_MODEL = "sim-subject"


def _top_logprobs(centre: float | None, rng: random.Random) -> list[tuple[str, float]]:
    """20 (token, logprob) pairs: a peaked spread of integers, or mostly REFUSAL."""
    if centre is None:
        numeric = {str(v): 0.12 / 18 for v in range(5, 95, 5)}
        probs = {"REFUSAL": 0.85, "I": 0.03} | numeric
    else:
        centre = min(100.0, max(0.0, centre + rng.gauss(0, 4)))
        # The 19 integers nearest the centre: always distinct, always inside 0..100.
        values = sorted(range(101), key=lambda v: abs(v - centre))[:19]
        weights = {str(v): math.exp(-((v - centre) ** 2) / (2 * 6.0**2)) for v in values}
        total = sum(weights.values())
        probs = {t: 0.97 * w / total for t, w in weights.items()} | {"The": 0.03}
    ranked = sorted(probs.items(), key=lambda kv: -kv[1])
    return [(t, math.log(p)) for t, p in ranked]


def _sampled_reply(centre: float | None, rng: random.Random) -> str:
    if centre is None:
        return "REFUSAL" if rng.random() < 0.9 else str(rng.randrange(0, 101))
    return str(min(100, max(0, round(rng.gauss(centre, 6)))))


def _first_digits(top: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """What a digit-splitting tokenizer shows as the first token: "85" -> "8"."""
    merged: dict[str, float] = {}
    for token, logprob in top:
        first = token[0] if token.isdecimal() else token
        merged[first] = merged.get(first, 0.0) + math.exp(logprob)
    return [(t, math.log(p)) for t, p in sorted(merged.items(), key=lambda kv: -kv[1])]


def _completion(body: dict, content: str, finish_reason: str, logprobs: dict | None = None,
                choices: list[str] | None = None) -> dict:
    texts = choices if choices is not None else [content]
    return {
        "id": f"simcmpl-{random.getrandbits(48):012x}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", SUBJECT_MODEL),
        "choices": [{"index": i, "message": {"role": "assistant", "content": text},
                     "logprobs": logprobs, "finish_reason": finish_reason}
                    for i, text in enumerate(texts)],
        "usage": {"prompt_tokens": 0, "completion_tokens": 1, "total_tokens": 1},
    }
