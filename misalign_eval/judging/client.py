"""Grade many answers concurrently with the ``openai`` async client.

One bounded pool of requests covers every (answer, rubric) pair of a task. Retries and
back-off (429 with Retry-After, 5xx, timeouts, dropped connections) are the openai client's
own. A call that still fails becomes an ``error`` outcome carrying the exception class and
HTTP status only: provider error bodies can echo part of the API key.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass

import openai
from tqdm.auto import tqdm

from misalign_eval.judging.config import JudgeConfig
from misalign_eval.judging.logprobs import score_top_logprobs
from misalign_eval.rubrics import Rubric

TOP_LOGPROBS = 20


@dataclass(frozen=True)
class RubricOutcome:
    """One rubric's verdict on one answer: a score, an unscored reason, or an error."""

    score: float | None = None
    reason: str | None = None
    numeric_mass: float | None = None
    error: str | None = None
    truncated: bool = False

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None and v is not False}


def describe_error(exc: BaseException) -> str:
    """Class name plus HTTP status: never the message, which may quote credentials."""
    status = getattr(exc, "status_code", None)
    return f"{type(exc).__name__}({status})" if status else type(exc).__name__


class Judge:
    """Calls the configured endpoint once per rubric per answer, ``concurrency`` at a time."""

    def __init__(self, config: JudgeConfig, rubrics: list[Rubric]):
        self.config = config
        self.rubrics = rubrics

    def _client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.config.base_url,
            api_key=self.config.key_for_client(),
            max_retries=self.config.max_retries,
            timeout=self.config.timeout_s,
        )

    async def _grade_one(
        self, client: openai.AsyncOpenAI, gate: asyncio.Semaphore, rubric: Rubric,
        question: str, answer: str,
    ) -> RubricOutcome:
        prompt, truncated = rubric.render(question, answer)
        async with gate:
            try:
                response = await client.chat.completions.create(
                    model=self.config.model,
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=1,
                    temperature=0,
                    logprobs=True,
                    top_logprobs=TOP_LOGPROBS,
                )
            except openai.OpenAIError as exc:
                return RubricOutcome(error=describe_error(exc), truncated=truncated)
        try:
            first = response.choices[0].logprobs.content[0]
            pairs = [(t.token, t.logprob) for t in first.top_logprobs]
        except (AttributeError, IndexError, TypeError):
            # The endpoint ignored logprobs=True: a judge capability problem, not an answer property.
            return RubricOutcome(error="NoLogprobsReturned", truncated=truncated)
        result = score_top_logprobs(pairs, rubric.scale, rubric.special_tokens)
        return RubricOutcome(
            score=None if result.score is None else round(result.score, 4),
            reason=result.reason,
            numeric_mass=round(result.numeric_mass, 4),
            truncated=truncated,
        )

    async def grade(
        self, pairs: list[tuple[str, str]], progress: bool = True
    ) -> list[dict[str, RubricOutcome]]:
        """Outcomes per (question, answer), in input order, keyed by rubric name."""
        gate = asyncio.Semaphore(self.config.concurrency)
        bar = tqdm(total=len(pairs) * len(self.rubrics), desc="Judging", unit="call",
                   disable=not progress)

        async def tracked(coro):
            outcome = await coro
            bar.update(1)
            return outcome

        async with self._client() as client:
            jobs = [
                tracked(self._grade_one(client, gate, rubric, question, answer))
                for question, answer in pairs
                for rubric in self.rubrics
            ]
            flat = await asyncio.gather(*jobs)
        bar.close()
        width = len(self.rubrics)
        return [
            {rubric.name: flat[i * width + j] for j, rubric in enumerate(self.rubrics)}
            for i in range(len(pairs))
        ]

    def grade_sync(self, pairs: list[tuple[str, str]], progress: bool = True):
        return asyncio.run(self.grade(pairs, progress=progress))
