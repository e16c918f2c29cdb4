"""Notice a dead judge early: a sequential test over the judge calls made so far.

Waiting for every answer before checking ``max_error_rate`` means paying for retries on every
call of a judge that is down (hours, when most calls hang until the timeout). Two one-sided
CUSUM tests (Page 1954; the repeated form of Wald's sequential probability ratio test) watch
the stream of results and fire once the failure share is clearly above what the limit allows:

- calls: the share of calls that end in error (after retries) against ``max_error_rate``;
- attempts: the share of single attempts that fail, against ``max_error_rate ** (1 / (retries
  + 1))``, the attempt failure share that, with independent retries, gives calls failing at
  ``max_error_rate``. This one fires after a single round of timeouts instead of after every
  call has used up its retries. A 429 is neither: a busy judge is not a dead one.

Each test accumulates the log-likelihood ratio of "failing at p1" against "failing at p0"
(the limit), floored at 0 so a long healthy stretch earns no credit against a later outage,
and fires at ``THRESHOLD``: under p0 a false alarm is about as rare as 1 in e**THRESHOLD.
A healthy judge sits well below p0, so its drift is negative and it does not fire.
"""

from __future__ import annotations

import math
from collections import Counter

THRESHOLD = math.log(1e5)
# p1 = p0 + SHIFT * (1 - p0): how far above the limit counts as "clearly above".
CALL_SHIFT, ATTEMPT_SHIFT = 0.2, 0.75
FLOOR = 1e-3  # max_error_rate 0 still needs a finite p0


class Cusum:
    """One-sided CUSUM for a failure share above ``p0``."""

    def __init__(self, p0: float, shift: float):
        p0 = min(max(p0, FLOOR), 1.0)
        p1 = p0 + shift * (1.0 - p0)
        self.enabled = p0 < 1.0
        self.on_failure = math.log(p1 / p0) if self.enabled else 0.0
        self.on_success = math.log((1.0 - p1) / (1.0 - p0)) if self.enabled else 0.0
        self.statistic = 0.0

    def add(self, failed: bool) -> bool:
        """Record one result; True once the failure share is clearly above p0."""
        if not self.enabled:
            return False
        self.statistic = max(0.0, self.statistic + (self.on_failure if failed else self.on_success))
        return self.statistic >= THRESHOLD


class JudgeHealth:
    """Both tests, plus what failed, for the message that stops the run."""

    def __init__(self, max_error_rate: float, max_retries: int):
        self.max_error_rate = max_error_rate
        self.calls = Cusum(max_error_rate, CALL_SHIFT)
        self.attempts = Cusum(max_error_rate ** (1.0 / (max_retries + 1)), ATTEMPT_SHIFT)
        self.n_calls = self.n_failed_calls = self.n_attempts = self.n_failed_attempts = 0
        self.failures: Counter = Counter()
        self.dead = False

    def attempt(self, error: str | None) -> None:
        self.n_attempts += 1
        if error is not None:
            self.n_failed_attempts += 1
            self.failures[error] += 1
        self.dead |= self.attempts.add(error is not None)

    def rate_limited(self, error: str) -> None:
        self.failures[error] += 1  # named in the message, but no evidence of a dead judge

    def call(self, error: str | None) -> None:
        self.n_calls += 1
        self.n_failed_calls += error is not None
        self.dead |= self.calls.add(error is not None)

    def describe(self) -> str:
        common = ", ".join(f"{e} x{n}" for e, n in self.failures.most_common(3)) or "none"
        return (f"{self.n_failed_attempts} of {self.n_attempts} attempts and "
                f"{self.n_failed_calls} of {self.n_calls} finished calls failed "
                f"(most common: {common})")
