"""Grade many answers concurrently with the ``openai`` async client.

One bounded pool of workers covers every (answer, rubric) pair handed over; an adaptive
limit shrinks the pool when the endpoint answers 429. Retries are ours, with the openai
client's policy (429 honouring ``Retry-After``, 408/409/5xx, timeouts, dropped connections,
exponential back-off with jitter) plus a 200 whose body is not JSON: owning the loop lets
``health.JudgeHealth`` see every attempt and stop a dead judge after one round of failures.
The transport is openai's aiohttp client and replies are parsed from raw JSON: at hundreds of
calls per second the default transport and response models cost more CPU than the judging.

A call that still fails becomes an ``error`` outcome carrying the exception class and HTTP
status only: provider error bodies can echo part of the API key.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3

import openai
from tqdm.auto import tqdm

from misalign_eval.errors import JudgeFailure
from misalign_eval.judging.cache import VerdictCache, verdict_key
from misalign_eval.judging.config import JudgeConfig
from misalign_eval.judging.health import JudgeHealth
from misalign_eval.judging.limiter import AdaptiveLimit
from misalign_eval.judging.ratelimit import Pacer
from misalign_eval.judging.replies import (  # noqa: F401 - re-exported: the client's vocabulary
    MALFORMED, SAMPLED_MAX_TOKENS, TOP_LOGPROBS, JudgeReplyError, RubricOutcome,
    decoding_parameters, outcome_from_reply, parse_body, score_reply, verdict_reply,
)
from misalign_eval.judging.rubrics import Rubric
from misalign_eval.judging.usage import JudgeUsage
from misalign_eval.judging import verdicts

log = logging.getLogger("misalign_eval")

JUDGE_DISABLED = "JudgeDisabled"
# The openai client's back-off: 0.5 s doubling up to 8 s; a server's Retry-After up to 60 s.
INITIAL_RETRY_DELAY, MAX_RETRY_DELAY, MAX_RETRY_AFTER = 0.5, 8.0, 60.0
RETRYABLE_STATUS = {408, 409, 429}


def retryable(exc: BaseException) -> bool:
    """As the openai client decides (x-should-retry, 408, 409, 429, 5xx, connection errors and
    timeouts), plus a 200 whose body is not JSON, which is as transient as a 500."""
    if isinstance(exc, JudgeReplyError):
        return str(exc) == MALFORMED
    if isinstance(exc, openai.APIStatusError):
        header = exc.response.headers.get("x-should-retry")
        if header in ("true", "false"):
            return header == "true"
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError)


def retry_delay(exc: BaseException, retries_done: int) -> float:
    """Seconds before the next attempt: the server's Retry-After when sane, else back-off."""
    response = getattr(exc, "response", None)
    headers = response.headers if response is not None else {}
    for header, divisor in (("retry-after-ms", 1000), ("retry-after", 1)):
        try:
            delay = float(headers.get(header)) / divisor
        except (TypeError, ValueError):
            continue
        if 0 < delay <= MAX_RETRY_AFTER:
            return delay
    return min(INITIAL_RETRY_DELAY * 2.0 ** retries_done, MAX_RETRY_DELAY) * (1 - 0.25 * random.random())


def _response_class() -> type:
    """The HTTP response class ``client.post(cast_to=...)`` hands back raw (openai 3 ships
    its own httpx fork, earlier versions use httpx)."""
    try:
        from openai._httpx2 import http_response_types
    except ImportError:
        import httpx

        return httpx.Response
    return http_response_types()[0]


RESPONSE_CLASS = _response_class()


def request_tokens(body: dict) -> float:
    """Tokens a request counts against a token limit before it is answered: about 4
    characters per prompt token plus the completion tokens it may use (as OpenAI estimates)."""
    chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", ()))
    return chars / 4 + (body.get("max_tokens") or 16) * (body.get("n") or 1)


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


class Judge:
    """Grades (question, answer) pairs with every rubric, through the cache when given."""

    def __init__(self, config: JudgeConfig, rubrics: list[Rubric], cache: VerdictCache | None = None):
        self.config = config
        self.rubrics = rubrics
        self.cache = cache
        self.decoding = decoding_parameters(config)
        self.usage = JudgeUsage()
        self.rate_limit_cuts = 0
        self.pacer = Pacer()  # kept across grade() calls: later batches start at the known pace

    def _request(self, rubric: Rubric, question: str, answer: str,
                 reference: str | None) -> tuple[dict, bool]:
        """The exact request body for one rubric call, and whether the answer was cut."""
        prompt, truncated = rubric.render(question, answer, reference)
        return {"model": self.config.model, "messages": [{"role": "user", "content": prompt}],
                **(verdicts.decoding() if rubric.kind == "verdict" else self.decoding)}, truncated

    def jobs(self, items: list[tuple], keyed: bool = True) -> list[tuple]:
        """One (answer index, rubric, request body, truncated, cache key) per rubric call of
        (question, answer[, reference]) items; the key is "" unless ``keyed``."""
        jobs = []
        for index, item in enumerate(items):
            question, answer, reference = item[0], item[1], item[2] if len(item) > 2 else None
            for rubric in self.rubrics:
                body, truncated = self._request(rubric, question, answer, reference)
                key = verdict_key(self.config.base_url, body, rubric.sha256) if keyed else ""
                jobs.append((index, rubric, body, truncated, key))
        return jobs

    def remember(self, key: str, outcome: RubricOutcome) -> None:
        """Store a verdict obtained elsewhere (a batch's output) like a live one."""
        self._remember(key, outcome)

    def look_up(self, keys: list[str]) -> dict[str, dict]:
        return self._look_up(keys)

    async def _call(self, client: openai.AsyncOpenAI, rubric: Rubric, body: dict,
                    truncated: bool, limit: AdaptiveLimit, health: JudgeHealth,
                    pacer: Pacer) -> RubricOutcome:
        """One rubric call with bounded retries; every attempt waits for the pacer and is
        reported to ``health``."""
        tokens = request_tokens(body)
        for retries_done in range(self.config.max_retries + 1):
            ticket = await pacer.acquire(tokens)
            try:
                # The raw response: its headers announce the rate limit; no response models.
                response = await client.post("/chat/completions", body=body, cast_to=RESPONSE_CLASS)
                pacer.observe(ticket, response.headers, rate_limited=False)
                self.usage.calls_made += 1
                data = parse_body(response.content)
                self.usage.add_reply(data)
                outcome = outcome_from_reply(data, self.config, rubric, truncated)
            except Exception as exc:  # noqa: BLE001 - any failure of an untrusted endpoint is an error outcome
                pacer.replied()
                error = describe_error(exc)
                if getattr(exc, "status_code", None) == 429:
                    pacer.observe(ticket, exc.response.headers, rate_limited=True)
                    self.usage.rate_limited += 1
                    if not pacer.announced:  # also shrink the pool (AIMD), as without pacing
                        limit.rate_limited()
                    health.rate_limited(error)
                else:
                    health.attempt(error)
                if retries_done < self.config.max_retries and retryable(exc) and not health.dead:
                    await asyncio.sleep(retry_delay(exc, retries_done))
                    continue
                return RubricOutcome(error=error, truncated=truncated)
            health.attempt(None)
            return outcome
        raise AssertionError("unreachable")  # the loop always returns

    async def grade(self, items: list[tuple], progress: bool = True, bar=None
                    ) -> list[dict[str, RubricOutcome]]:
        """Outcomes per (question, answer[, reference]), in input order, keyed by rubric name.

        ``bar``: an open tqdm bar to advance (one per call) instead of a bar of our own.
        """
        if self.config.mode == "off":
            return [{r.name: RubricOutcome(error=JUDGE_DISABLED) for r in self.rubrics} for _ in items]
        jobs = self.jobs(items, keyed=self.cache is not None)
        results: list[dict[str, RubricOutcome]] = [{} for _ in items]
        cached = self._look_up([job[4] for job in jobs])
        todo = []
        for job in jobs:
            if job[4] in cached:
                results[job[0]][job[1].name] = RubricOutcome(**cached[job[4]])
            else:
                todo.append(job)
        self.usage.calls_cached += len(jobs) - len(todo)
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
        pacer = self.pacer
        pacer.start()
        health = JudgeHealth(self.config.max_error_rate, self.config.max_retries)
        client = openai.AsyncOpenAI(base_url=self.config.base_url,
                                    api_key=self.config.key_for_client(), max_retries=0,
                                    timeout=self.config.timeout_s,
                                    http_client=openai.DefaultAioHttpClient())
        queue = iter(todo)
        dead = asyncio.Event()

        async def worker() -> None:
            for index, rubric, body, truncated, key in queue:
                async with limit:
                    outcome = await self._call(client, rubric, body, truncated, limit, health, pacer)
                if outcome.error is None:
                    limit.succeeded()
                    self._remember(key, outcome)
                health.call(outcome.error)
                results[index][rubric.name] = outcome
                bar.update(1)
                if health.dead:
                    dead.set()
                    return

        async with client:
            pool = asyncio.ensure_future(asyncio.gather(
                *(worker() for _ in range(min(self.config.concurrency, len(todo))))))
            watch = asyncio.ensure_future(dead.wait())
            try:
                await asyncio.wait([pool, watch], return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                # Ctrl-C (asyncio.run cancels this task): stop the workers before the client
                # closes under them, so none turns the cancellation into an error outcome.
                pool.cancel()
                watch.cancel()
                await asyncio.gather(pool, watch, return_exceptions=True)
                raise
            watch.cancel()
            if dead.is_set():
                pool.cancel()  # calls still hanging are not waited for
                await asyncio.gather(pool, return_exceptions=True)
            else:
                await pool
        self.rate_limit_cuts += limit.cuts
        if dead.is_set() and health.n_calls < len(todo):  # all done: the callers' check decides
            raise JudgeFailure(
                f"the judge at {self.config.safe_url} looks dead: {health.describe()}, far above "
                f"what max_error_rate {self.config.max_error_rate:.1%} allows with "
                f"{self.config.max_retries} retries. Stopped early, after {health.n_calls} of "
                f"{len(todo)} judge calls; verdicts obtained so far are cached.")

    def _look_up(self, keys: list[str]) -> dict[str, dict]:
        """Cached verdicts; a cache damaged after it was checked costs calls, not the run."""
        if self.cache is None:
            return {}
        try:
            return self.cache.get_many(keys)
        except (sqlite3.Error, ValueError) as exc:
            self._drop_cache(exc)
            return {}

    def _drop_cache(self, exc: Exception) -> None:
        log.warning("judge cache %s failed (%s); continuing without it", self.cache.path, exc)
        self.cache = None

    def _remember(self, key: str, outcome: RubricOutcome) -> None:
        """Store a verdict; a cache that fails (disk full, locked too long) must not stop the
        grading: warn once and go on without it."""
        if self.cache is None:
            return
        try:
            self.cache.put(key, outcome.to_json())
        except sqlite3.Error as exc:
            self._drop_cache(exc)

    def grade_sync(self, items: list[tuple], progress: bool = True, bar=None):
        return asyncio.run(self.grade(items, progress=progress, bar=bar))
