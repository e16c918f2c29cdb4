"""A hosted API's rate limit in front of the simulated endpoint: token buckets for requests
and tokens, 429 with Retry-After when one is empty, and optionally the headers OpenAI sends
(``x-ratelimit-limit|remaining|reset-requests|tokens``; the reset a duration like ``6m0s``).
"""

from __future__ import annotations

import threading
import time


def go_duration(seconds: float) -> str:
    """A duration the way OpenAI writes it (Go's format): ``20ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


def request_tokens(body: dict) -> float:
    """What a request costs against the token limit: about 4 characters per prompt token
    plus the completion tokens it may use, as OpenAI counts before answering."""
    chars = sum(len(str(m.get("content", ""))) for m in body.get("messages") or ())
    return chars / 4 + (body.get("max_tokens") or 16) * (body.get("n") or 1)


class ServerBucket:
    def __init__(self, rate: float, capacity: float):
        self.rate, self.capacity = rate, capacity
        self.level = capacity
        self._updated = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + self.rate * (now - self._updated))
        self._updated = now

    def shortfall_s(self, cost: float) -> float:
        """0 when ``cost`` is available now (and taken), else seconds until it would be."""
        self._refill()
        cost = min(cost, self.capacity)
        if self.level >= cost:
            self.level -= cost
            return 0.0
        return (cost - self.level) / self.rate

    def headers(self, kind: str) -> dict[str, str]:
        return {f"x-ratelimit-limit-{kind}": f"{self.capacity:g}",
                f"x-ratelimit-remaining-{kind}": str(int(max(0.0, self.level))),
                f"x-ratelimit-reset-{kind}": go_duration((self.capacity - self.level) / self.rate)}


class RateLimiter:
    """Requests per second and tokens per second, each a bucket holding ``burst_s`` seconds."""

    def __init__(self, rps: float, tps: float, burst_s: float, announce: bool):
        self.buckets = {kind: ServerBucket(rate, rate * burst_s)
                        for kind, rate in (("requests", rps), ("tokens", tps)) if rate > 0}
        self.announce = announce
        self.rejected = 0
        self._lock = threading.Lock()

    def admit(self, body: dict) -> tuple[float, dict[str, str]]:
        """(0, headers) when admitted, else (seconds to wait, headers) for a 429."""
        costs = {"requests": 1.0, "tokens": request_tokens(body)}
        with self._lock:
            wait = 0.0
            for kind, bucket in self.buckets.items():
                wait = bucket.shortfall_s(costs[kind])
                if wait:
                    # Give back what the buckets checked earlier took: the request is refused.
                    for earlier in list(self.buckets)[:list(self.buckets).index(kind)]:
                        self.buckets[earlier].level += costs[earlier]
                    self.rejected += 1
                    break
            headers = {}
            if self.announce:
                for kind, bucket in self.buckets.items():
                    headers.update(bucket.headers(kind))
        if wait:
            headers.update({"Retry-After": f"{wait:.3f}", "retry-after-ms": str(max(1, round(wait * 1000)))})
        return wait, headers


def completion_usage(body: dict, reply: dict) -> dict[str, int]:
    """A plausible ``usage`` block: 4 characters per token, at least one per reply, and no
    more completion tokens per choice than ``max_tokens`` allows."""
    prompt = sum(len(str(m.get("content", ""))) for m in body.get("messages") or ())
    cap = body.get("max_tokens") or 10**6
    completion = sum(min(cap, max(1, -(-len(str(c["message"]["content"])) // 4)))
                     for c in reply.get("choices", ()))
    prompt_tokens = max(1, -(-prompt // 4))
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion}
