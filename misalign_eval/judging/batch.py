"""Grade through OpenAI's Batch API (half the price, within a 24 h window), or through a file
of requests run elsewhere: ``vllm run-batch -i IN.jsonl -o OUT.jsonl --model JUDGE`` reads
the same lines (``custom_id``, ``method``, ``url``, ``body``) and writes results in the same
format (platform.openai.com/docs/guides/batch).

Only calls missing from the verdict cache are sent. A request's ``custom_id`` is its cache
key, so a result lands in the cache whoever produced it, through the same reply validation
and scoring as a live reply (``replies.outcome_from_reply``). A created batch's id is kept
next to the cache (``<cache>.batches.json``, keyed by the set of requests): the same command,
killed and started again, polls that batch instead of paying for a new one. Failed lines are
not cached, so the live pass that follows grades them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openai

from misalign_eval.errors import InputError, JudgeFailure
from misalign_eval.judging.client import Judge, describe_error
from misalign_eval.judging.replies import JudgeReplyError, outcome_from_reply, parse_body

log = logging.getLogger("misalign_eval")

BATCH_URL = "/v1/chat/completions"
MAX_LINES = 50_000  # OpenAI's limit of requests per batch
TERMINAL = ("completed", "failed", "expired", "cancelled")


@dataclass
class Pending:
    """The distinct rubric calls the cache cannot answer: custom_id -> (rubric, body, truncated)."""

    requests: dict[str, tuple] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [json.dumps({"custom_id": key, "method": "POST", "url": BATCH_URL, "body": body},
                           ensure_ascii=False) for key, (_, body, _) in self.requests.items()]

    def digest(self, base_url: str) -> str:
        """Names this set of requests to this judge: the same command finds its batch again."""
        material = json.dumps([base_url.rstrip("/"), sorted(self.requests)])
        return hashlib.sha256(material.encode()).hexdigest()[:32]


def pending_requests(judge: Judge, items: list[tuple]) -> Pending:
    if judge.cache is None:
        raise InputError("batch grading keeps its results in the verdict cache; do not turn "
                         "the cache off (--no-cache, MISALIGN_JUDGE_CACHE=off) with --batch")
    jobs = judge.jobs(items, keyed=True)
    cached = judge.look_up([job[4] for job in jobs])
    pending = Pending()
    for _, rubric, body, truncated, key in jobs:
        if key not in cached:
            pending.requests.setdefault(key, (rubric, body, truncated))
    return pending


def write_atomically(path: Path, text: str) -> None:
    """The whole file or nothing: a temporary name next to it, then a rename."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as sink:
            sink.write(text)
        os.replace(name, path)
    except OSError as exc:
        if "name" in locals():
            Path(name).unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write ({exc.strerror or exc})") from None


@dataclass
class BatchTally:
    """What a batch's results did: verdicts cached, lines failed (by reason), lines ignored."""

    answered: int = 0
    failed: Counter = field(default_factory=Counter)
    unknown: int = 0  # custom_ids this run did not ask for (another run's, or a stale file)
    missing: int = 0  # requests without any result line

    def describe(self) -> str:
        if not (self.answered or self.failed or self.missing or self.unknown):
            return "nothing to send to a batch: every judge call is answered by the cache"
        text = f"{self.answered} verdicts from the batch"
        if self.failed:
            common = ", ".join(f"{e} x{n}" for e, n in self.failed.most_common(3))
            text += f"; {sum(self.failed.values())} lines failed ({common})"
        if self.missing:
            text += f"; {self.missing} requests had no result line"
        if self.unknown:
            text += f"; {self.unknown} result lines were not asked for here and were ignored"
        if self.failed or self.missing:
            text += "; those calls are graded live"
        return text


def result_lines(text: bytes | str, where: str) -> Iterator[tuple[str, dict]]:
    """(file:line, object) per non-blank line of a results file; bad lines are refused."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{where}: not UTF-8 text (byte offset {exc.start})") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise InputError(f"{where}:{number}: not a JSON line of batch results") from None
        if not isinstance(record, dict) or not isinstance(record.get("custom_id"), str):
            raise InputError(f"{where}:{number}: a batch result line needs a string 'custom_id' "
                             "(the format of OpenAI's batch output and vllm run-batch)")
        yield f"{where}:{number}", record


def ingest(judge: Judge, pending: Pending, records: Iterable[tuple[str, dict]]) -> BatchTally:
    """Results into the cache, each reply validated and scored like a live one."""
    tally = BatchTally()
    seen = set()
    for _, record in records:
        key = record["custom_id"]
        if key not in pending.requests:
            tally.unknown += 1
            continue
        seen.add(key)
        rubric, _, truncated = pending.requests[key]
        response = record.get("response") if isinstance(record.get("response"), dict) else {}
        status = response.get("status_code")
        if status != 200:
            error = record.get("error") if isinstance(record.get("error"), dict) else {}
            code = error.get("code") if isinstance(error.get("code"), str) else None
            tally.failed[f"BatchLine({status if isinstance(status, int) else code or 'error'})"[:60]] += 1
            continue
        try:
            data = parse_body(response.get("body"))
            judge.usage.add_reply(data, batch=True)
            outcome = outcome_from_reply(data, judge.config, rubric, truncated)
        except JudgeReplyError as exc:
            tally.failed[str(exc)] += 1
            continue
        judge.remember(key, outcome)
        tally.answered += 1
    tally.missing = len(set(pending.requests) - seen)
    return tally


# ------------------------------------------------------------------ the Batch API


def state_path(cache_path: Path) -> Path:
    return cache_path.with_name(cache_path.name + ".batches.json")


def _read_state(path: Path) -> dict:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        log.warning("%s: unreadable, so earlier batches are not resumed", path)
        return {}
    return state if isinstance(state, dict) else {}


def _save_state(path: Path, digest: str, batch_ids: list[str] | None) -> None:
    state = _read_state(path)
    if batch_ids is None:
        state.pop(digest, None)
    else:
        state[digest] = batch_ids
    write_atomically(path, json.dumps(state, indent=1))


def run_batches(judge: Judge, pending: Pending, poll_s: float,
                say: Callable[[str], None]) -> list[tuple[str, dict]]:
    """Submit (or resume) the batches for ``pending`` and return their result lines once done."""
    config = judge.config
    path = state_path(judge.cache.path)
    digest = pending.digest(config.base_url)
    lines = pending.lines()
    chunks = [lines[i:i + MAX_LINES] for i in range(0, len(lines), MAX_LINES)]
    batch_ids = list(_read_state(path).get(digest) or [])
    records: list[tuple[str, dict]] = []
    try:
        with openai.OpenAI(base_url=config.base_url, api_key=config.key_for_client(),
                           timeout=config.timeout_s, max_retries=config.max_retries) as client:
            for index, chunk in enumerate(chunks):
                batch = None
                if index < len(batch_ids):
                    batch = client.batches.retrieve(batch_ids[index])
                    if batch.status in ("failed", "expired", "cancelled"):
                        say(f"batch {batch.id} ended {batch.status}; submitting its requests again")
                        batch = None
                    else:
                        say(f"resuming batch {batch.id} ({batch.status})")
                if batch is None:
                    upload = client.files.create(file=("judge-requests.jsonl", "\n".join(chunk).encode()),
                                                 purpose="batch")
                    batch = client.batches.create(input_file_id=upload.id, endpoint=BATCH_URL,
                                                  completion_window="24h")
                    batch_ids[index:index + 1] = [batch.id]
                    _save_state(path, digest, batch_ids)
                    say(f"submitted batch {batch.id}: {len(chunk)} requests")
                batch = _wait(client, batch, poll_s, say)
                for file_id, name in ((batch.output_file_id, "output"), (batch.error_file_id, "errors")):
                    if file_id:
                        content = client.files.content(file_id).content
                        records.extend(result_lines(content, f"batch {batch.id} {name} file"))
    except openai.OpenAIError as exc:
        raise JudgeFailure(f"the Batch API at {config.safe_url} failed ({describe_error(exc)}); "
                           "run the same command again to resume") from None
    _save_state(path, digest, None)
    return records


def _wait(client: openai.OpenAI, batch, poll_s: float, say: Callable[[str], None]):
    shown = None
    while True:
        counts = batch.request_counts
        status = (f"batch {batch.id}: {batch.status}"
                  + (f", {counts.completed} of {counts.total} done, {counts.failed} failed" if counts else ""))
        if status != shown:
            say(status)
            shown = status
        if batch.status in TERMINAL:
            break
        time.sleep(poll_s)
        batch = client.batches.retrieve(batch.id)
    if batch.status != "completed":
        raise JudgeFailure(f"batch {batch.id} ended {batch.status}; run the same command again "
                           "to submit its requests anew, or grade live without --batch")
    return batch
