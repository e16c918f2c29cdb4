"""What judging cost: calls made and answered from the cache, tokens from each reply's
``usage``, and an estimate in money when a price is given.

Tokens are counted for every reply that carried ``usage``, also those whose content could not
be scored: the provider bills them all. Batch lines are kept apart, since the Batch API bills
them at half the price (platform.openai.com/docs/guides/batch).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Key of the task metadata (written into lm-eval's results file) holding a run's usage.
USAGE_KEY = "judge_usage"
BATCH_DISCOUNT = 0.5


def reply_tokens(data: dict) -> tuple[int, int]:
    """(prompt, completion) tokens of a reply's ``usage``; 0 for what is absent or not a count
    (the reply is untrusted: a string, a bool, a negative or absurd number counts nothing)."""
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return 0, 0

    def count(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9 else 0
    return count("prompt_tokens"), count("completion_tokens")


@dataclass
class JudgeUsage:
    """Running totals of one judge (live calls and batch lines alike)."""

    calls_made: int = 0        # live requests answered 200 (retries of a malformed 200 included)
    calls_cached: int = 0      # rubric calls answered from the verdict cache
    batch_lines: int = 0       # rubric calls answered by a batch's output file
    rate_limited: int = 0      # live requests answered 429
    prompt_tokens: int = 0
    completion_tokens: int = 0
    batch_prompt_tokens: int = 0
    batch_completion_tokens: int = 0

    def add_reply(self, data: dict, batch: bool = False) -> None:
        prompt, completion = reply_tokens(data)
        if batch:
            self.batch_lines += 1
            self.batch_prompt_tokens += prompt
            self.batch_completion_tokens += completion
        else:
            self.prompt_tokens += prompt
            self.completion_tokens += completion

    def merge(self, other: "JudgeUsage") -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def cost(self, price: tuple[float, float] | None) -> float | None:
        """Estimated cost in the price's currency (per million tokens, input and output)."""
        if price is None:
            return None
        live = self.prompt_tokens * price[0] + self.completion_tokens * price[1]
        batch = self.batch_prompt_tokens * price[0] + self.batch_completion_tokens * price[1]
        return (live + BATCH_DISCOUNT * batch) / 1e6

    def to_json(self, price: tuple[float, float] | None = None) -> dict:
        """Numbers only (the results file's metadata; lm-eval's metric table stays numeric)."""
        out: dict = asdict(self)
        if price is not None:
            out["price_per_mtok"] = list(price)
            out["cost_estimate"] = round(self.cost(price), 6)
        return out

    def describe(self, price: tuple[float, float] | None = None) -> str:
        """The `judge` summary's lines: calls, tokens, and the cost when a price is known."""
        batch = (f", from a batch {self.batch_lines} ({self.batch_prompt_tokens:,} prompt + "
                 f"{self.batch_completion_tokens:,} completion tokens)" if self.batch_lines else "")
        text = (f"judge calls made {self.calls_made}, answered from cache {self.calls_cached}{batch}"
                f"\njudge tokens: {self.prompt_tokens:,} prompt + {self.completion_tokens:,} "
                f"completion (live calls)")
        if self.rate_limited:
            text += f"; {self.rate_limited} requests answered 429"
        cost = self.cost(price)
        if cost is not None:
            text += (f"\nestimated judge cost {cost:.4f} at {price[0]:g} per million prompt and "
                     f"{price[1]:g} per million completion tokens"
                     + (" (batch lines at half price, as OpenAI's Batch API bills them)"
                        if self.batch_lines else ""))
        else:
            text += " (--price-per-mtok IN,OUT turns them into a cost)"
        return text


def estimate_cost(calls: int, prompt_tokens: float, completion_tokens: float,
                  price: tuple[float, float], batch: bool = False) -> float:
    """What ``calls`` judge calls of that size cost (for plans, before any call is made)."""
    per_call = prompt_tokens * price[0] + completion_tokens * price[1]
    return calls * per_call * (BATCH_DISCOUNT if batch else 1.0) / 1e6
