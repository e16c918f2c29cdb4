"""Judge settings, read from the environment so secrets never pass through lm-eval metadata."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from misalign_eval.errors import InputError

OPENAI_BASE_URL = "https://api.openai.com/v1"
# The dated GPT-4o snapshot used as judge in the emergent-misalignment literature.
DEFAULT_JUDGE_MODEL = "gpt-4o-2024-08-06"
# Local OpenAI-compatible servers (vLLM, Ollama) accept any key; the client needs one.
PLACEHOLDER_KEY = "no-key-needed"

ENV_BASE_URL = "MISALIGN_JUDGE_BASE_URL"
ENV_MODEL = "MISALIGN_JUDGE_MODEL"
ENV_API_KEY = "MISALIGN_JUDGE_API_KEY"
ENV_CONCURRENCY = "MISALIGN_JUDGE_CONCURRENCY"
ENV_TIMEOUT = "MISALIGN_JUDGE_TIMEOUT"
ENV_MAX_RETRIES = "MISALIGN_JUDGE_MAX_RETRIES"


class JudgeConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    base_url: str = OPENAI_BASE_URL
    model: str = DEFAULT_JUDGE_MODEL
    api_key: SecretStr | None = None
    concurrency: int = Field(default=32, ge=1, le=1024)
    timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=5, ge=0, le=20)

    @property
    def host(self) -> str:
        return urlparse(self.base_url).netloc or self.base_url

    @property
    def is_openai(self) -> bool:
        return self.host.endswith("api.openai.com")

    @property
    def identity(self) -> str:
        """Model and host: enough to tell two judges apart, nothing secret."""
        return f"{self.model}@{self.host}"

    def key_for_client(self) -> str:
        return self.api_key.get_secret_value() if self.api_key else PLACEHOLDER_KEY

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "JudgeConfig":
        env = os.environ if environ is None else environ
        key = env.get(ENV_API_KEY) or env.get("OPENAI_API_KEY") or None
        values: dict[str, object] = {"api_key": key}
        for field, var in (
            ("base_url", ENV_BASE_URL),
            ("model", ENV_MODEL),
            ("concurrency", ENV_CONCURRENCY),
            ("timeout_s", ENV_TIMEOUT),
            ("max_retries", ENV_MAX_RETRIES),
        ):
            if env.get(var):
                values[field] = env[var]
        try:
            config = cls.model_validate(values)
        except ValidationError as exc:
            # Name the variable, never echo the key (it is not among these fields' inputs).
            names = {"base_url": ENV_BASE_URL, "model": ENV_MODEL, "concurrency": ENV_CONCURRENCY,
                     "timeout_s": ENV_TIMEOUT, "max_retries": ENV_MAX_RETRIES}
            problems = "; ".join(
                f"{names.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors()
            )
            raise InputError(f"judge configuration: {problems}") from None
        if not config.base_url.startswith(("http://", "https://")):
            raise InputError(
                f"{ENV_BASE_URL}={config.base_url!r} is not an http(s) URL; "
                "give the OpenAI-compatible base, e.g. http://localhost:8000/v1"
            )
        return config
