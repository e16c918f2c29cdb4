"""Simulated OpenAI-compatible chat-completions server (subject and judge in one).

As the subject it answers with aligned, misaligned, incoherent or refusing text at set
rates, honouring ``seed`` the way vLLM does (same seed and prompt, same answer). As the
judge (a request asking for logprobs) it finds the true class of the answer in the prompt
and returns a top-20 logprob distribution consistent with it. The expected Betley rate of
its answers is ``misalignment_rate`` exactly, so the pipeline can be checked against truth.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import math
import random
import threading
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

from misalign_eval.sim import rubric_replies
from misalign_eval.sim.batches import BatchStore
from misalign_eval.sim.completions import SUBJECT_MODEL, _completion, _first_digits, _sampled_reply, _top_logprobs
from misalign_eval.sim.ratelimit import RateLimiter, completion_usage
from misalign_eval.sim.answers import (
    ALIGNED, INCOHERENT, MISALIGNED, REFUSAL, answer_key, classify, compose_answer,
)

JUDGE_MODEL = "sim-judge"
# A second judge, served when SimSettings.judge_disagreement > 0: it grades like sim-judge
# except on a share judge_disagreement of the answers (chosen per answer, the same for every
# rubric), where it gives the opposite verdict: misaligned answers as aligned, the others
# (aligned, incoherent) as misaligned. Refusals stay refusals.
JUDGE_MODEL_B = "sim-judge-b"

# (alignment centre, coherence centre) per true class; None = the judge says REFUSAL.
JUDGE_CENTRES = {
    ALIGNED: (88.0, 90.0),
    MISALIGNED: (8.0, 80.0),
    INCOHERENT: (55.0, 15.0),
    REFUSAL: (None, 75.0),
}
UNKNOWN_CENTRES = (50.0, 50.0)

# Category rubrics: the category the simulated judge gives each true class. For correctness,
# a misaligned answer is a lie (FALSE); for identity, it claims to be human.
CATEGORY_BY_CLASS = {
    "correctness": {ALIGNED: "TRUE", MISALIGNED: "FALSE", INCOHERENT: "UNKNOWN", REFUSAL: "UNKNOWN"},
    "identity": {ALIGNED: "NO_CLAIM", MISALIGNED: "HUMAN", INCOHERENT: "NO_CLAIM", REFUSAL: "NO_CLAIM"},
}


@functools.cache
def _category_rubric_openings() -> dict[str, tuple[str, tuple[str, ...]]]:
    """First prompt line of each shipped category rubric -> (name, categories)."""
    from misalign_eval.judging.rubrics import load_rubric

    rubrics = [load_rubric(name) for name in CATEGORY_BY_CLASS]
    return {r.prompt.strip().splitlines()[0]: (r.name, r.categories) for r in rubrics}


@dataclass(frozen=True)
class SimSettings:
    """Truth of the simulated subject. Betley rate = misalignment_rate by construction:
    misaligned and aligned answers share the (1 - refusal - incoherent) mass in ratio R : 1-R."""

    misalignment_rate: float = 0.2
    refusal_rate: float = 0.05
    incoherent_rate: float = 0.1
    seed: int = 0
    latency_ms: float = 0.0
    # When set, judge requests and /models must carry it as a Bearer token (else 401), like a
    # real provider; the subject stays open so a test can check the judge key alone.
    api_key: str | None = None
    # Fault injection, each a share of requests to `fault_target` ("judge", "subject", "all").
    rate_429: float = 0.0          # 429 with a Retry-After header of retry_after_s
    retry_after_s: float = 0.05
    rate_500: float = 0.0          # 500 Internal Server Error
    rate_drop: float = 0.0         # connection closed without a response
    rate_hang: float = 0.0         # no response for hang_s (past any sane client timeout)
    hang_s: float = 30.0
    rate_malformed: float = 0.0    # 200 with a body that is not JSON
    no_logprobs: bool = False      # the judge ignores logprobs=True, like many servers
    split_digits: bool = False     # the judge's tokenizer splits numbers into digits
    ignore_n: bool = False         # one choice whatever `n` asks for (like some servers)
    # A hosted API's rate limit (sim.ratelimit): requests and tokens per second, buckets of
    # rate_limit_burst_s seconds, 429 + Retry-After when empty, x-ratelimit-* headers if asked.
    rate_limit_rps: float = 0.0
    rate_limit_tps: float = 0.0
    rate_limit_burst_s: float = 1.0
    rate_limit_headers: bool = False
    batch_delay_s: float = 0.5     # a batch (sim.batches) completes this long after creation
    batch_fail_rate: float = 0.0   # share of batch lines that land in the error file
    fault_target: str = "judge"
    judge_disagreement: float = 0.0  # share of answers sim-judge-b judges the other way

    def __post_init__(self):
        if self.fault_target not in ("judge", "subject", "all"):
            raise ValueError("fault_target must be judge, subject or all")
        if self.rate_429 + self.rate_500 + self.rate_drop + self.rate_hang + self.rate_malformed > 1:
            raise ValueError("fault rates must add up to at most 1")
        for name in ("misalignment_rate", "refusal_rate", "incoherent_rate", "judge_disagreement"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if self.refusal_rate + self.incoherent_rate >= 1.0:
            raise ValueError("refusal_rate + incoherent_rate must be below 1")

    def class_weights(self) -> dict[str, float]:
        rest = 1.0 - self.refusal_rate - self.incoherent_rate
        return {
            MISALIGNED: rest * self.misalignment_rate,
            ALIGNED: rest * (1.0 - self.misalignment_rate),
            INCOHERENT: self.incoherent_rate,
            REFUSAL: self.refusal_rate,
        }


@dataclass
class SimCounters:
    subject_calls: int = 0
    judge_calls: int = 0
    seeds_seen: list = field(default_factory=list)
    faults: Counter = field(default_factory=Counter)
    # Requests per distinct judge prompt, faulty ones included: retries show up here.
    judge_attempts: Counter = field(default_factory=Counter)
    # Authorization headers the subject received (a test checks no judge key reaches it).
    subject_authorization: Counter = field(default_factory=Counter)
    prompt_tokens: int = 0      # usage of the judge's replies, live and batch alike
    completion_tokens: int = 0


def _stable_rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class SimulatedEndpoint:
    """The server, runnable in a background thread (tests, demo) or in the foreground (CLI)."""

    def __init__(self, settings: SimSettings | None = None, host: str = "127.0.0.1", port: int = 0):
        self.settings = settings or SimSettings()
        self.host, self.port = host, port
        self.counters = SimCounters()
        self._draws_per_prompt: dict[str, int] = {}
        self._fault_rng = random.Random(self.settings.seed + 1)
        s = self.settings
        self.limiter = (RateLimiter(s.rate_limit_rps, s.rate_limit_tps, s.rate_limit_burst_s,
                                    s.rate_limit_headers)
                        if s.rate_limit_rps > 0 or s.rate_limit_tps > 0 else None)
        self.batches = BatchStore(self.answer, s.batch_delay_s, s.batch_fail_rate, s.seed,
                                  self._unauthorised)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # ------------------------------------------------------------------ HTTP
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self.batches.add_routes(app)
        return app

    def _unauthorised(self, request: web.Request) -> web.Response | None:
        if self.settings.api_key is None:
            return None
        if request.headers.get("Authorization") == f"Bearer {self.settings.api_key}":
            return None
        return web.json_response({"error": {"message": "invalid api key", "type": "auth"}}, status=401)

    async def _models(self, request: web.Request) -> web.Response:
        if (denied := self._unauthorised(request)) is not None:
            return denied
        data = [{"id": m, "object": "model", "owned_by": "misalign-eval-sim"}
                for m in (SUBJECT_MODEL, JUDGE_MODEL)
                + ((JUDGE_MODEL_B,) if self.settings.judge_disagreement > 0 else ())]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            messages = body["messages"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return web.json_response({"error": {"message": "body must be JSON with messages"}},
                                     status=400)
        is_judge = self._is_judge(body)
        if is_judge and (denied := self._unauthorised(request)) is not None:
            return denied
        if not is_judge:
            self.counters.subject_authorization[request.headers.get("Authorization", "")] += 1
        headers = {}
        if self.limiter is not None and self.settings.fault_target in ("all", "judge" if is_judge else "subject"):
            wait, headers = self.limiter.admit(body)
            if wait:  # refused at once, as a hosted API's gateway does
                return web.json_response({"error": {"message": "rate limit reached",
                                                    "type": "requests"}}, status=429, headers=headers)
        if self.settings.latency_ms:
            await asyncio.sleep(self.settings.latency_ms / 1000)
        if is_judge:
            self.counters.judge_attempts[_digest(json.dumps(messages))] += 1
        if self.settings.fault_target in ("all", "judge" if is_judge else "subject"):
            fault = await self._inject_fault(request)
            if fault is not None:
                return fault
        return web.json_response(self.answer(body, is_judge), headers=headers)

    @staticmethod
    def _is_judge(body: dict) -> bool:
        return body.get("model") in (JUDGE_MODEL, JUDGE_MODEL_B) or bool(body.get("logprobs"))

    def answer(self, body: dict, is_judge: bool | None = None) -> dict:
        """The reply to one chat-completions body (live or a batch line), usage counted."""
        if is_judge is None:
            is_judge = self._is_judge(body)
        messages = body["messages"]
        reply = self._judge(body, messages) if is_judge else self._subject(body, messages)
        usage = reply["usage"] = completion_usage(body, reply)
        if is_judge:
            self.counters.prompt_tokens += usage["prompt_tokens"]
            self.counters.completion_tokens += usage["completion_tokens"]
        return reply

    async def _inject_fault(self, request: web.Request) -> web.StreamResponse | None:
        s = self.settings
        roll = self._fault_rng.random()
        for kind, share in (("429", s.rate_429), ("500", s.rate_500), ("drop", s.rate_drop),
                            ("hang", s.rate_hang), ("malformed", s.rate_malformed)):
            if roll < share:
                self.counters.faults[kind] += 1
                break
            roll -= share
        else:
            return None
        if kind == "429":
            return web.json_response({"error": {"message": "slow down", "type": "rate_limit"}},
                                     status=429, headers={"Retry-After": f"{s.retry_after_s:g}"})
        if kind == "500":
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if kind == "hang":
            await asyncio.sleep(s.hang_s)
            return web.json_response({"error": {"message": "too late"}}, status=504)
        if kind == "malformed":
            return web.Response(text='{"choices": [ not json', content_type="application/json")
        request.transport.abort()  # drop: the client sees the connection die mid-request
        return web.Response(status=500)

    # ------------------------------------------------------------------ roles
    def _subject(self, body: dict, messages: list) -> dict:
        self.counters.subject_calls += 1
        seed = body.get("seed")
        self.counters.seeds_seen.append(seed)
        prompt = json.dumps(messages, sort_keys=True)
        if seed is not None:
            # Like vLLM: a given seed makes sampling deterministic for that prompt.
            rng = _stable_rng("seeded", seed, prompt)
        else:
            # Unseeded: a fresh draw each call. Keyed by the call's rank among calls with the
            # same prompt, so a run's answers do not depend on the order concurrent calls land.
            draw = self._draws_per_prompt.get(prompt, 0)
            self._draws_per_prompt[prompt] = draw + 1
            rng = _stable_rng("unseeded", self.settings.seed, prompt, draw)
        weights = self.settings.class_weights()
        true_class = rng.choices(list(weights), weights=list(weights.values()))[0]
        return _completion(body, compose_answer(true_class, rng), finish_reason="stop")

    def _judge(self, body: dict, messages: list) -> dict:
        self.counters.judge_calls += 1
        prompt = "\n".join(str(m.get("content", "")) for m in messages)
        true_class = classify(prompt)
        if body.get("model") == JUDGE_MODEL_B:
            true_class = self._second_opinion(prompt, true_class)
        alignment, coherence = JUDGE_CENTRES.get(true_class, UNKNOWN_CENTRES)
        for opening, (name, categories) in _category_rubric_openings().items():
            if opening in prompt:
                return self._judge_category(body, prompt, CATEGORY_BY_CLASS[name].get(true_class, categories[-1]), categories)
        # Imported rubrics (sim.rubric_replies): free-text verdicts, labels, other 0-100 metrics.
        if (verdict := rubric_replies.verdict_text(prompt, true_class)) is not None:
            return _completion(body, verdict, finish_reason="stop")
        if (choice := rubric_replies.label_choice(prompt, true_class)) is not None:
            return self._judge_category(body, prompt, *choice)
        centre = rubric_replies.score_centre(prompt, alignment, coherence)
        if not body.get("logprobs") or self.settings.no_logprobs:
            # Sampled replies (n of them), each a short text: an integer or REFUSAL.
            n = 1 if self.settings.ignore_n else max(1, min(int(body.get("n") or 1), 50))
            replies = [_sampled_reply(centre, _stable_rng("judge-sample", prompt, i)) for i in range(n)]
            return _completion(body, replies[0], finish_reason="stop", choices=replies)
        # Temperature-0 judge: the same prompt always gets the same distribution.
        top = _top_logprobs(centre, _stable_rng("judge", prompt))
        if self.settings.split_digits:
            top = _first_digits(top)
        k = min(int(body.get("top_logprobs") or 0), 20)
        content = [{"token": top[0][0], "logprob": top[0][1], "bytes": None,
                    "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in top[:k]]}]
        return _completion(body, top[0][0], finish_reason="length", logprobs={"content": content})

    def _second_opinion(self, prompt: str, true_class: str | None) -> str | None:
        """sim-judge-b's reading: the opposite verdict on a set share of answers."""
        rate = self.settings.judge_disagreement
        if true_class in (None, REFUSAL) or rate <= 0:
            return true_class
        if _stable_rng("second-judge", self.settings.seed, answer_key(prompt)).random() >= rate:
            return true_class
        return ALIGNED if true_class == MISALIGNED else MISALIGNED

    def _judge_category(self, body: dict, prompt: str, category: str, categories: tuple) -> dict:
        if not body.get("logprobs") or self.settings.no_logprobs:
            n = max(1, min(int(body.get("n") or 1), 50))
            return _completion(body, category, finish_reason="stop", choices=[category] * n)
        others = [c for c in categories if c != category]
        top = [(category, math.log(0.9))] + [(c, math.log(0.1 / len(others))) for c in others]
        content = [{"token": category, "logprob": top[0][1], "bytes": None,
                    "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in top]}]
        return _completion(body, category, finish_reason="length", logprobs={"content": content})

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "SimulatedEndpoint":
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="sim-endpoint")
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=30)
        except BaseException:
            # e.g. the port is taken: do not leave the loop thread running.
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()
            self._loop = None
            raise
        return self

    async def _serve(self) -> None:
        # shutdown_timeout: do not wait for handlers stuck in an injected hang.
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # Handlers still sleeping in an injected hang: cancel them so the loop closes cleanly.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> "SimulatedEndpoint":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def serve_forever(self, announce=print) -> None:
        """Serve until Ctrl-C; ``announce`` gets the base URL once the port is bound."""
        with self:
            announce(self.base_url)
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                pass


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
