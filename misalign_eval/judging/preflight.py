"""Fail fast, before any generation, when the judge cannot possibly work."""

from __future__ import annotations

import functools

import openai

from misalign_eval.errors import InputError
from misalign_eval.judging.client import describe_error
from misalign_eval.judging.config import ENV_API_KEY, ENV_BASE_URL, ENV_MODEL, JudgeConfig

PREFLIGHT_TIMEOUT_S = 10.0


def preflight(config: JudgeConfig) -> None:
    """Check key, reachability and that the endpoint serves the judge model.

    Raises InputError with a message that names what to fix; never the key itself.
    """
    if config.is_openai and config.api_key is None:
        raise InputError(
            f"no judge API key: set {ENV_API_KEY} (or OPENAI_API_KEY) for the OpenAI API, "
            f"or point {ENV_BASE_URL} at another OpenAI-compatible server"
        )
    client = openai.OpenAI(
        base_url=config.base_url, api_key=config.key_for_client(),
        timeout=PREFLIGHT_TIMEOUT_S, max_retries=1,
    )
    try:
        served = [m.id for m in client.models.list()]
    except openai.AuthenticationError:
        raise InputError(
            f"the judge endpoint {config.base_url} rejected the API key (401); "
            f"check {ENV_API_KEY} / OPENAI_API_KEY"
        ) from None
    except openai.NotFoundError:
        return  # Some compatible servers do not implement /models; reachable is enough.
    except openai.OpenAIError as exc:
        raise InputError(
            f"the judge endpoint {config.base_url} is unreachable ({describe_error(exc)}); "
            f"check {ENV_BASE_URL} and that the server is running"
        ) from None
    finally:
        client.close()
    if served and config.model not in served:
        shown = ", ".join(sorted(served)[:10]) + (" ..." if len(served) > 10 else "")
        raise InputError(
            f"the judge endpoint {config.base_url} does not serve model {config.model!r} "
            f"(set {ENV_MODEL}); it serves: {shown}"
        )


@functools.lru_cache(maxsize=8)
def preflight_once(config: JudgeConfig) -> None:
    """Several tasks in one lm-eval run share the judge: check it once per process."""
    preflight(config)
