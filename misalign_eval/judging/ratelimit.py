"""Pace judge requests to the endpoint's rate limit instead of bouncing off it.

Hosted APIs announce their limits in response headers, as OpenAI defines them
(platform.openai.com/docs/guides/rate-limits): ``x-ratelimit-limit-requests`` is the bucket's
capacity, ``x-ratelimit-remaining-requests`` what is left in it now, and
``x-ratelimit-reset-requests`` the time until it is full again, as a duration such as ``1s``,
``6m0s`` or ``20ms``; the same three for ``-tokens``. A token bucket refilled at
(limit - remaining) / reset is therefore a faithful local copy of the server's, and requests
wait for it instead of being answered 429.

Without headers the rate is learned from the 429s themselves: a 429 means the server's bucket
is empty, so between two 429s of one saturated stretch the server admitted exactly its refill
rate times the time between them (plus or minus one request). Requests are then paced a
little below that rate; ``limiter.AdaptiveLimit`` (AIMD on the pool) still halves the pool
on a 429 as before, which only an announced limit makes unnecessary.
"""

from __future__ import annotations

import asyncio
import bisect
import re
import time
from collections import deque
from dataclasses import dataclass

_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
KINDS = ("requests", "tokens")
OFFERED_WINDOW_S, FIRST_REPLY_WAIT_S = 0.25, 2.0
# Learned pacing: how long one saturated stretch is measured, how far below the learned rate
# requests are paced, and how often an unhurried pace probes upwards.
PRECISE_SPAN_S, MID_SPAN_S, EPISODE_GAP_S = 0.5, 0.1, 0.5
PACE_SHARE, MEASURE_SHARE = 0.985, 1.02
PROBE_AFTER_S, PROBE_STEP, CALM_S, CALM_STEP = 5.0, 1.01, 0.25, 1.08


def parse_duration(text: str | None) -> float | None:
    """Seconds in a reset header: ``1s``, ``6m0s``, ``20ms``, ``1h2m3.5s`` or a plain number
    of seconds; None for anything else (a hostile or unknown header is ignored, not fatal)."""
    if not isinstance(text, str) or not text.strip() or len(text) > 40:
        return None
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        parts = _PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            return None
        value = sum(float(n) * _UNIT_S[u] for n, u in parts)
    return value if 0 <= value < 1e7 else None


def _number(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if 0 <= value < 1e15 else None


@dataclass(frozen=True)
class Announced:
    """One announced limit: bucket capacity, what remains, seconds until it is full."""

    limit: float
    remaining: float
    reset_s: float


def announced(headers, kind: str) -> Announced | None:
    """The ``kind`` ("requests" or "tokens") limit of a response's headers, if all three are sane."""
    if headers is None:
        return None
    limit = _number(headers.get(f"x-ratelimit-limit-{kind}"))
    remaining = _number(headers.get(f"x-ratelimit-remaining-{kind}"))
    reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
    if limit is None or remaining is None or reset is None or limit <= 0:
        return None
    return Announced(limit, min(remaining, limit), reset)


class Bucket:
    """A local copy of one announced server bucket."""

    def __init__(self):
        self.capacity: float | None = None
        self.rate: float | None = None  # refill per second, once a deficit has been seen
        self.level = 0.0
        self._updated = time.monotonic()
        self._deficits: deque[tuple[float, float]] = deque(maxlen=32)

    def _refill(self, now: float) -> None:
        if self.rate is not None and self.capacity is not None:
            self.level = min(self.capacity, self.level + self.rate * (now - self._updated))
        self._updated = now

    def wait_s(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` can be taken (a cost above capacity waits for a full bucket)."""
        if self.rate is None or self.capacity is None:
            return 0.0
        self._refill(now)
        need = min(cost, self.capacity) - self.level
        return max(0.0, need / self.rate)

    def take(self, cost: float) -> None:
        if self.capacity is not None:
            self.level -= cost

    def learn(self, seen: Announced, spent_since: float, now: float) -> None:
        """Capacity and refill rate from a header; the level never above what the server said
        remained minus what we have sent since that request left (a lower bound on it now:
        other clients sharing the key show up here)."""
        self._refill(now)
        first = self.capacity is None
        self.capacity = seen.limit
        deficit = seen.limit - seen.remaining
        if deficit > 0 and seen.reset_s > 0:
            # Ratio of sums: the largest deficits, least hurt by the reset's rounding, weigh most.
            self._deficits.append((deficit, seen.reset_s))
            self.rate = sum(d for d, _ in self._deficits) / sum(r for _, r in self._deficits)
        floor = seen.remaining - spent_since
        self.level = floor if first else min(self.level, floor)


class LearnedRate:
    """The server's request rate, learned from 429s when it announces nothing.

    The first 429 halves the pace to half of what was being sent. A stretch of 429s (none
    more than ``EPISODE_GAP_S`` apart) is a measurement: after ``MID_SPAN_S`` the pace goes
    to just above the estimate (the stretch stays saturated, with few 429s), after
    ``PRECISE_SPAN_S`` it settles a little below it. A pace that meets no 429 goes up.
    """

    def __init__(self):
        self.rate: float | None = None
        self._start: tuple[int, float] | None = None  # first 429 of the stretch: (seq, time)
        self._last_429 = float("-inf")
        self._rejected: list[int] = []  # sequence numbers answered 429 in the stretch, ascending
        self._settled = False
        self._calm_since = time.monotonic()

    def rejected(self, seq: int, sent: float, offered: float) -> None:
        """A 429 for the request numbered ``seq``, sent at ``sent``; ``offered``: the rate
        requests were being sent at just before."""
        self._calm_since = time.monotonic()
        if self._start is None or sent - self._last_429 > EPISODE_GAP_S:
            self._start, self._settled, self._rejected = (seq, sent), False, []
            if self.rate is None:
                self.rate = max(offered / 2, 1.0)
        bisect.insort(self._rejected, seq)
        self._last_429 = max(self._last_429, sent)
        start_seq, start_time = self._start
        span = sent - start_time
        if self._settled or span < MID_SPAN_S:
            return
        # Requests sent strictly between the two 429s, less those answered 429 themselves:
        # the server admitted its refill rate times the span (its bucket empty at both ends).
        lo, hi = bisect.bisect_right(self._rejected, start_seq), bisect.bisect_left(self._rejected, seq)
        estimate = max(1.0, seq - start_seq - 1 - (hi - lo)) / span
        if span >= PRECISE_SPAN_S:
            self.rate, self._settled = estimate * PACE_SHARE, True
        else:
            self.rate = estimate * MEASURE_SHARE

    def probe(self, now: float) -> None:
        """A pace that met no 429 for a while goes up: quickly while still measuring (the
        estimate was low), slowly once settled (the limit may have been raised)."""
        if self.rate is None:
            return
        calm = now - self._calm_since
        if not self._settled and calm >= CALM_S:
            self.rate *= CALM_STEP
            self._calm_since = now
        elif self._settled and calm >= PROBE_AFTER_S:
            self.rate *= PROBE_STEP
            self._calm_since = now


@dataclass
class Ticket:
    """What a request took from the pacer, to reconcile its reply's headers."""

    seq: int
    sent: float
    spent: tuple[float, float]  # requests and tokens sent up to and including this one


class Pacer:
    """Admits one request at a time at the pace of the announced (or learned) limits.

    The very first request goes alone (for at most ``FIRST_REPLY_WAIT_S``): its reply says
    whether limits are announced, before a full pool of requests runs into them. One pacer
    lives as long as its judge, so later batches of answers start at the learned pace.
    """

    def __init__(self):
        self.buckets = {kind: Bucket() for kind in KINDS}
        self.learned = LearnedRate()
        self.announced = False
        self.waited_s = 0.0
        self._spent = [0.0, 0.0]
        self._seq = 0
        self._next_learned = 0.0
        self._recent: deque[float] = deque()  # send times of the last OFFERED_WINDOW_S
        self._lock: asyncio.Lock | None = None
        self._first_reply: asyncio.Event | None = None

    def start(self) -> None:
        """Called in each event loop that uses the pacer (asyncio primitives bind to one)."""
        self._lock = asyncio.Lock()
        self._first_reply = asyncio.Event()
        if self._seq:
            self._first_reply.set()

    async def acquire(self, tokens: float) -> Ticket:
        async with self._lock:  # one waiter at a time: no herd waking on every refill
            if self._seq == 1 and not self._first_reply.is_set():
                try:
                    await asyncio.wait_for(self._first_reply.wait(), FIRST_REPLY_WAIT_S)
                except asyncio.TimeoutError:
                    pass
            while True:
                now = time.monotonic()
                wait = max(self.buckets["requests"].wait_s(1, now),
                           self.buckets["tokens"].wait_s(tokens, now), self._learned_wait(now))
                if wait <= 0:
                    break
                self.waited_s += wait
                await asyncio.sleep(wait)
            self.buckets["requests"].take(1)
            self.buckets["tokens"].take(tokens)
            if self.learned.rate is not None and not self.announced:
                self._next_learned = max(self._next_learned, now - 0.05) + 1.0 / self.learned.rate
            self._spent[0] += 1
            self._spent[1] += tokens
            self._recent.append(now)
            while self._recent[0] < now - OFFERED_WINDOW_S:
                self._recent.popleft()
            self._seq += 1
            return Ticket(self._seq, now, (self._spent[0], self._spent[1]))

    def _learned_wait(self, now: float) -> float:
        if self.announced or self.learned.rate is None:
            return 0.0
        self.learned.probe(now)
        return self._next_learned - now

    def observe(self, ticket: Ticket, headers, rate_limited: bool) -> None:
        """A reply (or a 429) to ``ticket``'s request: learn from its headers or its status."""
        self.replied()
        now = time.monotonic()
        for index, kind in enumerate(KINDS):
            seen = announced(headers, kind)
            if seen is not None:
                self.announced = True
                self.buckets[kind].learn(seen, self._spent[index] - ticket.spent[index], now)
        if rate_limited and not self.announced:
            self.learned.rejected(ticket.seq, ticket.sent, len(self._recent) / OFFERED_WINDOW_S)

    def replied(self) -> None:
        """Any answer to a request (also a failure): the first one releases the others."""
        if self._first_reply is not None:
            self._first_reply.set()
