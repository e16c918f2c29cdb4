"""Grade many answers concurrently with the ``openai`` async client.

One bounded pool of workers covers every (answer, rubric) pair handed over; an adaptive
limit shrinks the pool when the endpoint answers 429. Retries with back-off (429 honouring
``Retry-After``, 5xx, timeouts, dropped connections) are the openai client's own. The
transport is openai's aiohttp client and replies are parsed from raw JSON: at hundreds of
calls per second the default transport and response models cost more CPU than the judging.

A call that still fails becomes an ``error`` outcome carrying the exception class and HTTP
status only: provider error bodies can echo part of the API key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from dataclasses import asdict, dataclass

import openai
from tqdm.auto import tqdm

from misalign_eval.judging.cache import VerdictCache, verdict_key
from misalign_eval.judging.config import JudgeConfig
from misalign_eval.judging.limiter import AdaptiveLimit
from misalign_eval.judging.logprobs import (
    CategoryScore, LogprobScore, categorise_top_logprobs, score_top_logprobs,
)
from misalign_eval.judging.sampled import categorise_sampled_replies, score_sampled_replies
from misalign_eval.judging.rubrics import Rubric

log = logging.getLogger("misalign_eval")

TOP_LOGPROBS = 20
JUDGE_DISABLED = "JudgeDisabled"
SAMPLED_MAX_TOKENS = 5


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


def describe_error(exc: BaseException) -> str:
    """Class name, HTTP status and root cause: never a message, which may quote credentials.

    The root cause matters: openai's aiohttp transport reports a refused or dropped
    connection as APITimeoutError; its cause (ClientConnectorError, ServerDisconnectedError)
    tells what really happened.
    """
    if isinstance(exc, JudgeReplyError):
        return str(exc)
    status = getattr(exc, "status_code", None)
    text = f"{type(exc).__name__}({status})" if status else type(exc).__name__
    root = exc
    while root.__cause__ is not None or (root.__context__ is not None and not root.__suppress_context__):
        root = root.__cause__ or root.__context__
    if root is not exc and type(root).__name__ not in text:
        text += f"[{type(root).__name__}]"
    return text


def decoding_parameters(config: JudgeConfig) -> dict:
    """The request parameters besides model and messages; part of every cache key."""
    if config.mode == "sampled":
        return {"max_tokens": SAMPLED_MAX_TOKENS, "temperature": 1.0, "n": config.samples}
    return {"max_tokens": 1, "temperature": 0, "logprobs": True, "top_logprobs": TOP_LOGPROBS}


def score_reply(data: dict, config: JudgeConfig, rubric: Rubric) -> LogprobScore | CategoryScore:
    """Turn a chat-completions JSON reply into a score or category under the configured mode."""
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
    except (KeyError, IndexError, TypeError, ValueError):
        # 200 without logprobs: a capability problem of the endpoint, not of the answer.
        raise JudgeReplyError("NoLogprobsReturned" if config.mode == "logprobs"
                              else "NoChoicesReturned") from None
    if not pairs:
        raise JudgeReplyError("NoLogprobsReturned")
    if rubric.kind == "category":
        return categorise_top_logprobs(pairs, rubric.categories)
    return score_top_logprobs(pairs, rubric.scale, rubric.special_tokens)


class Judge:
    """Grades (question, answer) pairs with every rubric, through the cache when given."""

    def __init__(self, config: JudgeConfig, rubrics: list[Rubric], cache: VerdictCache | None = None):
        self.config = config
        self.rubrics = rubrics
        self.cache = cache
        self.decoding = decoding_parameters(config)
        self.calls_made = 0
        self.cache_hits = 0
        self.rate_limit_cuts = 0

    def _request(self, rubric: Rubric, question: str, answer: str,
                 reference: str | None) -> tuple[dict, bool]:
        """The exact request body for one rubric call, and whether the answer was cut."""
        prompt, truncated = rubric.render(question, answer, reference)
        return {"model": self.config.model, "messages": [{"role": "user", "content": prompt}],
                **self.decoding}, truncated

    async def _call(self, client: openai.AsyncOpenAI, rubric: Rubric, body: dict,
                    truncated: bool) -> RubricOutcome:
        try:
            # cast_to=bytes: the client's retries and errors, without its response models.
            raw = await client.post("/chat/completions", body=body, cast_to=bytes)
            self.calls_made += 1
            result = score_reply(json.loads(raw), self.config, rubric)
        except json.JSONDecodeError:
            return RubricOutcome(error="MalformedResponse", truncated=truncated)
        except Exception as exc:  # noqa: BLE001 - any failure of an untrusted endpoint is an error outcome
            return RubricOutcome(error=describe_error(exc), truncated=truncated)
        return RubricOutcome.from_result(result, rubric, truncated)

    async def grade(self, items: list[tuple], progress: bool = True, bar=None
                    ) -> list[dict[str, RubricOutcome]]:
        """Outcomes per (question, answer[, reference]), in input order, keyed by rubric name.

        ``bar``: an open tqdm bar to advance (one per call) instead of a bar of our own.
        """
        if self.config.mode == "off":
            return [{r.name: RubricOutcome(error=JUDGE_DISABLED) for r in self.rubrics} for _ in items]
        jobs = []  # (answer index, rubric, request body, truncated, cache key)
        for index, item in enumerate(items):
            question, answer, reference = item[0], item[1], item[2] if len(item) > 2 else None
            for rubric in self.rubrics:
                body, truncated = self._request(rubric, question, answer, reference)
                key = (verdict_key(self.config.base_url, body, rubric.sha256)
                       if self.cache is not None else "")
                jobs.append((index, rubric, body, truncated, key))
        results: list[dict[str, RubricOutcome]] = [{} for _ in items]
        cached = self.cache.get_many([job[4] for job in jobs]) if self.cache is not None else {}
        todo = []
        for job in jobs:
            if job[4] in cached:
                results[job[0]][job[1].name] = RubricOutcome(**cached[job[4]])
            else:
                todo.append(job)
        self.cache_hits += len(jobs) - len(todo)
        own_bar = bar is None
        if own_bar:
            bar = tqdm(total=len(jobs), desc="Judging", unit="call", disable=not progress,
                       dynamic_ncols=True)
        bar.update(len(jobs) - len(todo))
        if todo:
            await self._run_pool(todo, results, bar)
        if own_bar:
            bar.close()
        return [{r.name: outcome[r.name] for r in self.rubrics} for outcome in results]

    async def _run_pool(self, todo, results, bar) -> None:
        limit = AdaptiveLimit(self.config.concurrency)

        async def on_response(response) -> None:
            if response.status_code == 429:
                limit.rate_limited()

        http_client = openai.DefaultAioHttpClient(event_hooks={"response": [on_response]})
        client = openai.AsyncOpenAI(base_url=self.config.base_url,
                                    api_key=self.config.key_for_client(),
                                    max_retries=self.config.max_retries,
                                    timeout=self.config.timeout_s, http_client=http_client)
        queue = iter(todo)

        async def worker() -> None:
            for index, rubric, body, truncated, key in queue:
                async with limit:
                    outcome = await self._call(client, rubric, body, truncated)
                if outcome.error is None:
                    limit.succeeded()
                    self._remember(key, outcome)
                results[index][rubric.name] = outcome
                bar.update(1)

        async with client:
            await asyncio.gather(*(worker() for _ in range(min(self.config.concurrency, len(todo)))))
        self.rate_limit_cuts += limit.cuts

    def _remember(self, key: str, outcome: RubricOutcome) -> None:
        """Store a verdict; a cache that fails (disk full, locked too long) must not stop the
        grading: warn once and go on without it."""
        if self.cache is None:
            return
        try:
            self.cache.put(key, outcome.to_json())
        except sqlite3.Error as exc:
            log.warning("judge cache %s failed (%s); continuing without it", self.cache.path, exc)
            self.cache = None

    def grade_sync(self, items: list[tuple], progress: bool = True, bar=None):
        return asyncio.run(self.grade(items, progress=progress, bar=bar))
