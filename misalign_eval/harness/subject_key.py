"""Keep OPENAI_API_KEY away from a subject server that is not OpenAI.

lm-eval's ``local-completions`` and ``local-chat-completions`` send ``OPENAI_API_KEY`` as the
bearer token to whatever ``base_url`` the model args name; ``openai-completions`` and
``openai-chat-completions`` do too when ``base_url`` is given (their default is OpenAI). With
the key set for an OpenAI judge (as the README suggests), a local or third-party subject server
would receive it. ``misalign-eval run`` withholds it from the local models (the judge keeps
it) and refuses the openai ones, which cannot start without a key; a plain ``lm_eval`` run
gets a warning from the task.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from urllib.parse import urlparse

from misalign_eval.errors import InputError
from misalign_eval.harness.lm_eval_args import option_value
from misalign_eval.judging.config import ENV_API_KEY, JudgeConfig

log = logging.getLogger("misalign_eval")

LOCAL_API_MODELS = ("local-completions", "local-chat-completions")
# Their base_url defaults to OpenAI's; they raise at start-up when OPENAI_API_KEY is unset.
OPENAI_API_MODELS = {"openai-completions": "local-completions",
                     "openai-chat-completions": "local-chat-completions"}
OPENAI_HOST = "api.openai.com"


def _is_openai(host: str) -> bool:
    return host == OPENAI_HOST or host.endswith("." + OPENAI_HOST)


def subject_host_receiving_key(argv: list[str], environ=os.environ) -> str | None:
    """The subject's host if lm-eval would send OPENAI_API_KEY to a host that is not OpenAI."""
    model = option_value(argv, "--model")
    if not environ.get("OPENAI_API_KEY") or model not in (*LOCAL_API_MODELS, *OPENAI_API_MODELS):
        return None
    model_args = option_value(argv, "--model_args") or ""
    base_url = next((part.split("=", 1)[1] for part in model_args.split(",")
                     if part.strip().startswith("base_url=")), None)
    if base_url is None and model in OPENAI_API_MODELS:
        return None  # lm-eval's default base_url: OpenAI itself
    try:
        host = urlparse((base_url or "").strip()).hostname or ""
    except ValueError:
        host = ""
    return None if _is_openai(host) else (host or "the subject server")


def withhold_key_from_subject(argv: list[str]) -> None:
    """For ``misalign-eval run``: unset OPENAI_API_KEY for lm-eval when the subject is not
    OpenAI, handing it to the judge first (through MISALIGN_JUDGE_API_KEY) if the judge is."""
    host = subject_host_receiving_key(argv)
    if host is None:
        return
    model = option_value(argv, "--model")
    if model in OPENAI_API_MODELS:
        raise InputError(
            f"--model {model} would send OPENAI_API_KEY to the subject at {host}, which is not "
            f"{OPENAI_HOST}; for another server use --model {OPENAI_API_MODELS[model]} with the "
            f"same --model_args (misalign-eval run keeps OPENAI_API_KEY from it; set the "
            f"subject's own key in its own way), or drop base_url to evaluate an OpenAI model")
    key = os.environ.pop("OPENAI_API_KEY")
    if JudgeConfig.from_env(dict(os.environ, OPENAI_API_KEY=key)).is_openai:
        os.environ.setdefault(ENV_API_KEY, key)
    print(f"misalign-eval: OPENAI_API_KEY is not sent to the subject at {host} (not "
          f"{OPENAI_HOST}); set the subject's key in its own way if it needs one", file=sys.stderr)


@functools.cache
def warn_if_key_goes_to_subject() -> None:
    """For plain ``lm_eval`` runs: say so once when the key would reach another host."""
    host = subject_host_receiving_key(sys.argv)
    if host is not None:
        log.warning("OPENAI_API_KEY is set and lm-eval's %s sends it to the subject at %s, "
                    "which is not %s; run through `misalign-eval run` (which withholds it) or "
                    "unset it and give the judge %s", option_value(sys.argv, "--model"), host,
                    OPENAI_HOST, ENV_API_KEY)
