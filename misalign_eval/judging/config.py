"""Judge settings: an optional YAML file, then environment variables, then CLI flags.

Secrets never pass through lm-eval's ``--metadata`` or model args (both are written into
results files): the API key comes only from the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from misalign_eval.errors import InputError

OPENAI_BASE_URL = "https://api.openai.com/v1"
# The dated GPT-4o snapshot used as judge in the emergent-misalignment literature.
DEFAULT_JUDGE_MODEL = "gpt-4o-2024-08-06"
# Local OpenAI-compatible servers (vLLM, Ollama) accept any key; the client needs one.
PLACEHOLDER_KEY = "no-key-needed"
CACHE_OFF = "off"

ENV_API_KEY = "MISALIGN_JUDGE_API_KEY"
ENV_CONFIG = "MISALIGN_JUDGE_CONFIG"
# Setting name -> environment variable. The YAML file uses the setting names.
ENV_VARS = {
    "base_url": "MISALIGN_JUDGE_BASE_URL",
    "model": "MISALIGN_JUDGE_MODEL",
    "concurrency": "MISALIGN_JUDGE_CONCURRENCY",
    "timeout_s": "MISALIGN_JUDGE_TIMEOUT",
    "max_retries": "MISALIGN_JUDGE_MAX_RETRIES",
    "mode": "MISALIGN_JUDGE_MODE",
    "samples": "MISALIGN_JUDGE_SAMPLES",
    "max_error_rate": "MISALIGN_JUDGE_MAX_ERROR_RATE",
    "cache": "MISALIGN_JUDGE_CACHE",
    "price_per_mtok": "MISALIGN_JUDGE_PRICE_PER_MTOK",
}
ENV_BASE_URL, ENV_MODEL = ENV_VARS["base_url"], ENV_VARS["model"]
ENV_MODE, ENV_CACHE = ENV_VARS["mode"], ENV_VARS["cache"]


def default_cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "misalign-eval" / "judge-cache.sqlite"


class JudgeConfig(BaseModel):
    """Everything that decides how answers are graded (the key is kept secret)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = OPENAI_BASE_URL
    model: str = DEFAULT_JUDGE_MODEL
    api_key: SecretStr | None = None
    concurrency: int = Field(default=32, ge=1, le=1024)
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)
    # logprobs: the reference method (one token, top-20 logprobs). sampled: for endpoints
    # without logprobs or whose tokenizer splits "100": `samples` short integer answers.
    # off: generate only (e.g. --predict_only on a GPU box); grade later with
    # `misalign-eval judge`. Every answer is then an error "JudgeDisabled", never a score.
    mode: Literal["logprobs", "sampled", "off"] = "logprobs"
    samples: int = Field(default=5, ge=1, le=50)
    max_error_rate: float = Field(default=0.05, ge=0, le=1)
    cache: str = ""  # "" = default location, "off" = no cache, else a path
    # Price per million prompt and completion tokens: turns the usage into a cost estimate.
    price_per_mtok: tuple[float, float] | None = None

    @field_validator("model", mode="before")
    @classmethod
    def _models(cls, value):
        """One judge model, or an ensemble: 'a,b,c' (flag, environment) or a YAML list.
        Kept as one comma-joined string, so a one-member list is exactly the single judge."""
        if isinstance(value, (list, tuple)):
            if not value or not all(isinstance(v, str) for v in value):
                raise ValueError("give a judge model name, or a list of model names")
            value = ",".join(value)
        if isinstance(value, str):
            names = [name.strip() for name in value.split(",")]
            if not all(names):
                raise ValueError("a judge model name is empty; give names separated by "
                                 "commas, e.g. judge-a,judge-b,judge-c")
            return ",".join(names)
        return value

    @field_validator("price_per_mtok", mode="before")
    @classmethod
    def _two_prices(cls, value):
        """'2.5,10' (flag, environment) or [2.5, 10] (YAML): input and output price."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValueError("give two prices, input and output per million tokens, e.g. 2.5,10")
        try:
            prices = tuple(float(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError("prices must be numbers, e.g. 2.5,10") from None
        if not all(0 <= p < 1e6 for p in prices):
            raise ValueError("prices must be non-negative numbers per million tokens")
        return prices

    @property
    def host(self) -> str:
        """host[:port] only: a URL may carry user:password@ or ?key=..., never shown."""
        url = urlparse(self.base_url)
        name = f"[{url.hostname}]" if url.hostname and ":" in url.hostname else (url.hostname or "?")
        return f"{name}:{url.port}" if url.port else name

    @property
    def safe_url(self) -> str:
        """The base URL for messages: scheme, host, port and path, without credentials."""
        url = urlparse(self.base_url)
        return f"{url.scheme}://{self.host}{url.path}"

    @property
    def is_openai(self) -> bool:
        return self.host.endswith("api.openai.com")

    @property
    def models(self) -> tuple[str, ...]:
        """The judge models: one, or an ensemble's members in the order given."""
        return tuple(self.model.split(","))

    @property
    def is_ensemble(self) -> bool:
        return len(self.models) > 1

    def member(self, model: str) -> "JudgeConfig":
        """One ensemble member's settings: the same in all but the model."""
        return self.model_copy(update={"model": model})

    @property
    def identity(self) -> str:
        """Model, host and scoring mode: enough to tell two judges apart, nothing secret.
        An ensemble names every member, in order (the first breaks ties)."""
        model = f"ensemble({','.join(self.models)})" if self.is_ensemble else self.model
        return f"{model}@{self.host} mode={self.mode}"

    @property
    def cache_path(self) -> Path | None:
        if self.cache == CACHE_OFF:
            return None
        return Path(self.cache).expanduser() if self.cache else default_cache_path()

    def key_for_client(self) -> str:
        return self.api_key.get_secret_value() if self.api_key else PLACEHOLDER_KEY

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, defaults: dict | None = None,
                 **overrides) -> "JudgeConfig":
        """``defaults`` (e.g. a question file's judge) < file (``MISALIGN_JUDGE_CONFIG``)
        < environment < ``overrides`` (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = dict(defaults or {})
        source = {k: "task metadata" for k in values}
        if env.get(ENV_CONFIG):
            from_file = _read_config_file(Path(env[ENV_CONFIG]))
            values.update(from_file)
            source.update({k: env[ENV_CONFIG] for k in from_file})
        for setting, var in ENV_VARS.items():
            if env.get(var):
                values[setting] = env[var]
                source[setting] = var
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            config = cls.model_validate(values)
        except ValidationError as exc:
            # Name where each bad value came from; the key is never among these messages.
            problems = "; ".join(
                f"{source.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors())
            raise InputError(f"judge configuration: {problems}") from None
        config = config.model_copy(update={"base_url": checked_base_url(config.base_url)})
        # OPENAI_API_KEY is for OpenAI only: never send it to some other judge host.
        key = env.get(ENV_API_KEY) or (env.get("OPENAI_API_KEY") if config.is_openai else None)
        return config.model_copy(update={"api_key": SecretStr(key) if key else None})


def checked_base_url(base_url: str) -> str:
    """The judge's base URL, refused with the fix when unusable (never echoing it: it may
    carry a secret), and the common wrong form corrected: a subject-style URL ending in
    /chat/completions becomes its /v1 base (the client adds /chat/completions itself)."""
    example = "give the OpenAI-compatible base, e.g. http://localhost:8000/v1"
    if not base_url.startswith(("http://", "https://")):
        raise InputError(f"{ENV_BASE_URL} is not an http(s) URL; {example}")
    try:
        url = urlparse(base_url)
        url.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise InputError(f"{ENV_BASE_URL} is not a valid URL (bad port, or an IPv6 address "
                         f"without [brackets]); {example}") from None
    if url.username is not None or url.password is not None:
        raise InputError(f"{ENV_BASE_URL} carries credentials (user:password@host); give the URL "
                         f"without them and put the key in {ENV_API_KEY}")
    if not url.hostname:
        raise InputError(f"{ENV_BASE_URL} names no host; {example}")
    path = url.path.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return url._replace(path=path).geturl()


def _read_config_file(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise InputError(f"{path}: cannot read judge config ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: judge config must be a mapping of settings")
    if "api_key" in data:
        raise InputError(f"{path}: do not put the API key in a file; set {ENV_API_KEY}")
    unknown = sorted(set(data) - set(ENV_VARS))
    if unknown:
        raise InputError(f"{path}: unknown setting(s) {', '.join(unknown)}; "
                         f"known: {', '.join(ENV_VARS)}")
    return data
