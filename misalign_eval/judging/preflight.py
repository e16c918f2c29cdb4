"""Fail fast, before any generation, when the judge cannot possibly work."""

from __future__ import annotations

import functools
import json

import openai

from misalign_eval.errors import InputError
from misalign_eval.judging.cache import VerdictCache
from misalign_eval.judging.client import MALFORMED, decoding_parameters, describe_error
from misalign_eval.judging.config import ENV_API_KEY, ENV_BASE_URL, ENV_MODE, ENV_MODEL, JudgeConfig
from misalign_eval.judging.logprobs import logprob_problem, score_top_logprobs
from misalign_eval.judging.sampled import score_sampled_replies

PREFLIGHT_TIMEOUT_S = 10.0


CAPABILITY_PROMPT = ("On a scale from 0 to 100, how warm is a cup of freshly made tea? "
                     "Reply with the integer only.")


def preflight(config: JudgeConfig) -> None:
    """Check key, reachability, that the endpoint serves the judge model, and that it can
    score in the configured mode.

    Raises InputError with a message that names what to fix; never the key itself.
    """
    if config.mode == "off":
        return  # nothing will be sent to the judge
    if config.is_ensemble:  # every member must work: one broken member fails every answer
        for model in dict.fromkeys(config.models):
            preflight(config.member(model))
        return
    if config.cache_path is not None:
        VerdictCache(config.cache_path).close()  # a damaged cache must fail now, not after generation
    if config.is_openai and config.api_key is None:
        raise InputError(
            f"no judge API key: set {ENV_API_KEY} (or OPENAI_API_KEY) for the OpenAI API, "
            f"or point {ENV_BASE_URL} at another OpenAI-compatible server"
        )
    with openai.OpenAI(base_url=config.base_url, api_key=config.key_for_client(),
                       timeout=PREFLIGHT_TIMEOUT_S, max_retries=1) as client:
        check_model_served(client, config)
        check_scoring_capability(client, config)


def check_model_served(client: openai.OpenAI, config: JudgeConfig) -> None:
    url = config.safe_url
    try:
        served = [m.id for m in client.models.list()]
    except openai.AuthenticationError:
        raise InputError(f"the judge endpoint {url} rejected the API key (401); "
                         f"check {ENV_API_KEY} / OPENAI_API_KEY") from None
    except openai.NotFoundError:
        return  # Some compatible servers do not implement /models.
    except openai.OpenAIError as exc:
        raise InputError(f"the judge endpoint {url} is unreachable ({describe_error(exc)}); "
                         f"check {ENV_BASE_URL} and that the server is running") from None
    if served and config.model not in served:
        shown = ", ".join(sorted(served)[:10]) + (" ..." if len(served) > 10 else "")
        raise InputError(f"the judge endpoint {url} does not serve model {config.model!r} "
                         f"(set {ENV_MODEL}); it serves: {shown}")


def check_scoring_capability(client: openai.OpenAI, config: JudgeConfig) -> None:
    """One real judge-style request: does the reply support the configured scoring mode?

    The logprob method needs top logprobs whose tokens are whole numbers: a tokenizer that
    splits "100" into "10"+"0" yields single digits only, and scores would be wrong. The
    sampled method needs the server to honour ``n``. Nothing switches modes behind the
    user's back: the message says which mode to choose.
    """
    data = _test_reply(client, config)
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise InputError(f"the judge endpoint {config.safe_url} answered a test request "
                         "without choices; is it an OpenAI-compatible chat endpoint?")
    fallback = f"set {ENV_MODE}=sampled to grade by sampling short integer answers instead"
    if config.mode == "sampled":
        if len(choices) < config.samples:
            raise InputError(f"judge {config.model!r} returned {len(choices)} of the "
                             f"{config.samples} replies asked for (n); this server ignores n: "
                             f"set MISALIGN_JUDGE_SAMPLES={len(choices)} knowingly, or use "
                             "another server")
        replies = [(c.get("message") or {}).get("content") for c in choices]
        if score_sampled_replies(replies).score is None:
            raise InputError(f"judge {config.model!r} did not answer a test question with an "
                             f"integer (replies: {replies[:3]!r}); choose another judge model")
        return
    try:
        top = choices[0]["logprobs"]["content"][0]["top_logprobs"]
        tokens = [(t["token"], float(t["logprob"])) for t in top]
    except (KeyError, IndexError, TypeError, ValueError):
        tokens = []
    if not tokens:
        raise InputError(f"judge {config.model!r} at {config.safe_url} returns no logprobs; {fallback}")
    if logprob_problem(tokens) or not all(isinstance(t, str) for t, _ in tokens):
        raise InputError(f"judge {config.model!r} at {config.safe_url} returns logprobs that are "
                         f"not a probability distribution ({logprob_problem(tokens) or 'tokens'}); "
                         "choose another judge server")
    numbers = [int(t.strip()) for t, _ in tokens if t.strip().isdecimal()]
    if score_top_logprobs(tokens).score is None or not any(10 <= n <= 100 for n in numbers):
        shown = ", ".join(repr(t) for t, _ in tokens[:6])
        raise InputError(f"judge {config.model!r} does not give whole numbers 0..100 as single "
                         f"tokens (top tokens: {shown}); {fallback}")


def _test_reply(client: openai.OpenAI, config: JudgeConfig) -> dict | None:
    """The reply to one judge-style request. Two attempts: the client retries a 429 or 5xx
    once itself, and a 200 whose body is not JSON is tried once more here."""
    body = {"model": config.model, "messages": [{"role": "user", "content": CAPABILITY_PROMPT}],
            **decoding_parameters(config)}
    for attempt in (1, 2):
        try:
            return json.loads(client.post("/chat/completions", body=body, cast_to=bytes))
        except openai.NotFoundError:
            raise InputError(f"the judge endpoint {config.safe_url} answered 404 to "
                             f"{config.safe_url.rstrip('/')}/chat/completions; {ENV_BASE_URL} must be "
                             f"the OpenAI-compatible base URL, usually ending in /v1 (e.g. "
                             f"{suggested_base_url(config)})") from None
        except (openai.OpenAIError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            error = MALFORMED if isinstance(exc, ValueError) else describe_error(exc)
            if attempt == 2 or not isinstance(exc, ValueError):
                raise InputError(f"the judge endpoint {config.safe_url} failed a test request "
                                 f"({error})") from None
    return None


def suggested_base_url(config: JudgeConfig) -> str:
    """The base URL with /v1 where the path lacks it: what a 404 most often means."""
    url = config.safe_url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


@functools.lru_cache(maxsize=8)
def preflight_once(config: JudgeConfig) -> None:
    """Several tasks in one lm-eval run share the judge: check it once per process."""
    preflight(config)
