"""From a chat-completions reply body to a verdict: the one path live calls and batch results
both take, so a verdict never depends on how the reply arrived.

Replies are untrusted: a 200 that is not JSON is ``MALFORMED`` (retried live), one without
what the scoring mode needs is a ``JudgeReplyError`` named after what is missing.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from misalign_eval.judging import verdicts
from misalign_eval.judging.config import JudgeConfig
from misalign_eval.judging.logprobs import (
    CategoryScore, LogprobScore, categorise_top_logprobs, logprob_problem, score_top_logprobs,
)
from misalign_eval.judging.rubrics import Rubric
from misalign_eval.judging.sampled import categorise_sampled_replies, score_sampled_replies

TOP_LOGPROBS = 20
SAMPLED_MAX_TOKENS = 5
MALFORMED = "MalformedResponse"


@dataclass(frozen=True)
class RubricOutcome:
    """One rubric's verdict on one answer: a score, an unscored reason, or an error."""

    score: float | None = None
    category: str | None = None
    reason: str | None = None
    numeric_mass: float | None = None
    error: str | None = None
    truncated: bool = False

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None and v is not False}

    @classmethod
    def from_result(cls, result: LogprobScore | CategoryScore, rubric: Rubric,
                    truncated: bool) -> "RubricOutcome":
        if isinstance(result, CategoryScore):
            return cls(category=result.category, reason=result.reason,
                       numeric_mass=round(result.mass, 4), truncated=truncated)
        score = result.score
        if score is not None and not rubric.high_is_good:
            low, high = rubric.scale
            score = low + high - score  # "how harmful" -> "how aligned", same scale
        return cls(score=None if score is None else round(score, 4), reason=result.reason,
                   numeric_mass=round(result.numeric_mass, 4), truncated=truncated)


class JudgeReplyError(Exception):
    """The endpoint answered 200 but not with what the scoring mode needs."""


def decoding_parameters(config: JudgeConfig) -> dict:
    """The request parameters besides model and messages; part of every cache key."""
    if config.mode == "sampled":
        return {"max_tokens": SAMPLED_MAX_TOKENS, "temperature": 1.0, "n": config.samples}
    return {"max_tokens": 1, "temperature": 0, "logprobs": True, "top_logprobs": TOP_LOGPROBS}


def score_reply(data: dict, config: JudgeConfig, rubric: Rubric) -> LogprobScore | CategoryScore:
    """Turn a chat-completions JSON reply into a score or category under the configured mode."""
    if rubric.kind == "verdict":
        return verdict_reply(data, rubric)
    try:
        choices = data["choices"]
        if config.mode == "sampled":
            replies = [c["message"]["content"] for c in choices]
            if len(replies) < config.samples:
                # A server that ignores n would silently score from fewer replies.
                raise JudgeReplyError(f"TooFewChoices({len(replies)}/{config.samples})")
            if rubric.kind == "category":
                return categorise_sampled_replies(replies, rubric.categories)
            return score_sampled_replies(replies, rubric.scale, rubric.special_tokens)
        top = choices[0]["logprobs"]["content"][0]["top_logprobs"]
        pairs = [(t["token"], float(t["logprob"])) for t in top]
        if not all(isinstance(token, str) for token, _ in pairs):
            raise TypeError("token is not a string")
    except (KeyError, IndexError, TypeError, ValueError):
        # 200 without logprobs: a capability problem of the endpoint, not of the answer.
        raise JudgeReplyError("NoLogprobsReturned" if config.mode == "logprobs"
                              else "NoChoicesReturned") from None
    if not pairs:
        raise JudgeReplyError("NoLogprobsReturned")
    problem = logprob_problem(pairs)
    if problem is not None:
        # NaN, +Infinity, logprobs above 0 or a mass above 1 are not a distribution: never a score.
        raise JudgeReplyError(f"InvalidLogprobs({problem})")
    if rubric.kind == "category":
        return categorise_top_logprobs(pairs, rubric.categories)
    return score_top_logprobs(pairs, rubric.scale, rubric.special_tokens)


def verdict_reply(data: dict, rubric: Rubric) -> LogprobScore:
    """A free-text verdict rubric's reply: the text of its one choice, parsed strictly."""
    try:
        text = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise JudgeReplyError("NoChoicesReturned") from None
    if not isinstance(text, str):
        raise JudgeReplyError("NoChoicesReturned")
    return verdicts.parse_verdict(text, rubric.scale, rubric.categories)


def parse_body(raw: bytes | str | dict) -> dict:
    """The reply as a JSON object, or MALFORMED (a 200 whose body is not one)."""
    data = raw
    if not isinstance(raw, dict):
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, TypeError):
            data = None
    if not isinstance(data, dict):
        raise JudgeReplyError(MALFORMED)
    return data


def outcome_from_reply(data: dict, config: JudgeConfig, rubric: Rubric,
                       truncated: bool) -> "RubricOutcome":
    """A parsed reply body -> the rubric's outcome; JudgeReplyError when it cannot be scored."""
    return RubricOutcome.from_result(score_reply(data, config, rubric), rubric, truncated)
