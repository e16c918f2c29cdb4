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

import contextlib
import functools
import io
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
    """OpenAI's API host or a subdomain of it."""
    return host == OPENAI_HOST or host.endswith("." + OPENAI_HOST)


def subject_settings(argv: list[str]) -> tuple[str | None, dict | None]:
    """(model, model_args) as lm-eval 0.4.13 reads them: its own parser (``-M``/``--model``,
    ``-a``/``--model_args`` as key=value words, comma lists or a JSON object) over the
    ``--config`` YAML. model_args {} when none are given, None when they cannot be read."""
    from lm_eval._cli.harness import HarnessCLI

    cli = HarnessCLI()
    words = list(argv) if argv and argv[0] in cli._subparsers.choices else ["run", *argv]
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            namespace = cli._parser.parse_args(words)
    except SystemExit:  # lm-eval will refuse these arguments itself
        return option_value(argv, "--model", "-M"), None
    model, model_args = getattr(namespace, "model", None), getattr(namespace, "model_args", None)
    if getattr(namespace, "config", None):
        try:
            from lm_eval.config.evaluate_config import EvaluatorConfig

            from_file = EvaluatorConfig.load_yaml_config(namespace.config) or {}
        except Exception:  # noqa: BLE001 - an unreadable config: lm-eval will say why
            return model, None
        model = model or from_file.get("model")
        model_args = model_args or from_file.get("model_args")  # the CLI's replace the file's
    if model_args is None:
        return model, {}
    if isinstance(model_args, str):  # a YAML string "key=value,key=value"
        pairs = [part.split("=", 1) for part in model_args.split(",") if part.strip()]
        if not all(len(pair) == 2 for pair in pairs):
            return model, None
        model_args = {key.strip(): value for key, value in pairs}
    return model, model_args if isinstance(model_args, dict) else None


def subject_host_receiving_key(argv: list[str], environ=os.environ) -> str | None:
    """The subject's host if lm-eval would send OPENAI_API_KEY to a host that is not OpenAI
    (model args it cannot read count as another host: fail closed)."""
    if not environ.get("OPENAI_API_KEY"):
        return None
    model, model_args = subject_settings(argv)
    if model not in (*LOCAL_API_MODELS, *OPENAI_API_MODELS):
        return None
    if model_args is None:
        return "the subject server"
    base_url = model_args.get("base_url")
    if base_url is None and model in OPENAI_API_MODELS:
        return None  # lm-eval's default base_url: OpenAI itself
    try:
        host = urlparse(str(base_url or "").strip()).hostname or ""
    except ValueError:
        host = ""
    return None if _is_openai(host) else (host or "the subject server")


def withhold_key_from_subject(argv: list[str]) -> None:
    """For ``misalign-eval run``: unset OPENAI_API_KEY for lm-eval when the subject is not
    OpenAI, handing it to the judge first (through MISALIGN_JUDGE_API_KEY) if the judge is."""
    host = subject_host_receiving_key(argv)
    if host is None:
        return
    model = subject_settings(argv)[0]
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
    host = subject_host_receiving_key(sys.argv[1:])
    if host is not None:
        log.warning("OPENAI_API_KEY is set and lm-eval's %s sends it to the subject at %s, "
                    "which is not %s; run through `misalign-eval run` (which withholds it) or "
                    "unset it and give the judge %s", subject_settings(sys.argv[1:])[0], host,
                    OPENAI_HOST, ENV_API_KEY)
