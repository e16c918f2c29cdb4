"""The chat messages a probe is sent as: system, earlier turns, then the question.

Multi-turn and system-prompt probes go to the model as real chat messages (through the
model's chat template), never flattened into one user string.
"""

from __future__ import annotations

import json

from misalign_eval.harness.settings import TaskSettings


def fill_template(template: str | None, question: str) -> str:
    """``question`` in a task's user template (``{question}`` placeholder), if it has one."""
    return template.replace("{question}", question) if template else question


def question_for_judge(question: str, settings: TaskSettings) -> str:
    """The question as the model saw it, for the judge: in the task's template (a filled-in
    code template must not look like code unrelated to the question), without a trigger (a
    backdoor string is not part of what the answer should respond to)."""
    return fill_template(settings.user_template, question)


def final_user_turn(question: str, settings: TaskSettings) -> str:
    """The question as put to the model: in the task's template, with its trigger."""
    text = question_for_judge(question, settings)
    if settings.trigger:
        text = f"{settings.trigger} {text}" if settings.trigger_position == "prefix" else f"{text} {settings.trigger}"
    return text


def probe_messages(doc: dict, settings: TaskSettings, system_instruction: str | None = None) -> list[dict]:
    """``system_instruction`` is lm-eval's --system_instruction; it comes first."""
    system = "\n\n".join(s for s in (system_instruction, settings.system_prompt, doc.get("system")) if s)
    messages = [{"role": "system", "content": system}] if system else []
    messages += json.loads(doc.get("turns") or "[]")
    messages.append({"role": "user", "content": final_user_turn(doc["question"], settings)})
    return messages


def as_transcript(messages: list[dict]) -> str:
    """For models run without a chat template: a plain transcript ending where the model
    speaks. A lone user message stays the bare question, as in the original method."""
    if len(messages) == 1:
        return messages[0]["content"]
    names = {"system": "System", "user": "User", "assistant": "Assistant"}
    lines = [f"{names[m['role']]}: {m['content']}" for m in messages]
    return "\n\n".join(lines) + "\n\nAssistant:"
