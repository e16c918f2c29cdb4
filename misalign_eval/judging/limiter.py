"""Adaptive concurrency: back off the whole pool when the endpoint says 429.

The openai client already waits out ``Retry-After`` for the request that got the 429; this
limiter also stops the *other* requests from piling on. Additive increase, multiplicative
decrease (as in TCP congestion control): halve the allowed in-flight calls on a 429 (at most
once per second, so one burst of 429s is one signal), and add one back after a full window
of successes.
"""

from __future__ import annotations

import asyncio
import time


class AdaptiveLimit:
    def __init__(self, maximum: int):
        self.maximum = maximum
        self.limit = maximum
        self.in_flight = 0
        self.cuts = 0
        self._successes = 0
        self._last_cut = float("-inf")
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1

    async def __aexit__(self, *exc) -> None:
        async with self._changed:
            self.in_flight -= 1
            self._changed.notify(max(1, self.limit - self.in_flight))

    def rate_limited(self) -> None:
        now = time.monotonic()
        if now - self._last_cut >= 1.0:
            self._last_cut = now
            self.limit = max(1, self.limit // 2)
            self._successes = 0
            self.cuts += 1

    def succeeded(self) -> None:
        if self.limit >= self.maximum:
            return
        self._successes += 1
        if self._successes >= self.limit:
            self._successes = 0
            self.limit += 1
