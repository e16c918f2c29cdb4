"""Persistent verdict cache in SQLite: a re-run pays only for answers not yet graded.

The key covers everything that can change a verdict (the exact request body: judge model,
rendered prompt, decoding parameters; the base URL; the rubric's content; the parser
version), so a changed judge never reuses an old verdict. Only verdicts are stored, never errors: a failed call is retried
on the next run. WAL mode and a busy timeout let several processes share one file; every
verdict is committed as it arrives, so a killed run loses nothing it already paid for.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

from tenacity import retry, retry_if_exception, stop_after_delay, wait_random

from misalign_eval.errors import InputError
from misalign_eval.judging.config import CACHE_OFF

# Bump when the way a verdict is computed from the judge's reply changes.
PARSER_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS verdicts (
    key TEXT PRIMARY KEY,
    verdict TEXT NOT NULL,
    created REAL NOT NULL DEFAULT (julianday('now'))
)
"""


def verdict_key(base_url: str, body: dict, rubric_sha256: str) -> str:
    """Key on the exact request (judge model, rendered prompt with question, answer and
    reference as truncated and defanged, decoding parameters), where it goes, and how the
    reply is read (the rubric's scale, special tokens, categories, polarity; the parser)."""
    material = json.dumps([PARSER_VERSION, base_url.rstrip("/"), body, rubric_sha256],
                          sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


# Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is
# locked" at once (without its busy timeout) when another process is doing the same.
@retry(retry=retry_if_exception(_locked), stop=stop_after_delay(60), wait=wait_random(0.02, 0.3),
       reraise=True)
def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: autocommit, each INSERT is durable on its own.
    db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(_SCHEMA)
    except sqlite3.Error:
        db.close()
        raise
    return db


class VerdictCache:
    def __init__(self, path: Path):
        """Open and check the cache: a damaged file (valid header, broken pages) must fail
        here, before generation, not when the first verdict is looked up."""
        self.path = path
        fix = f"set MISALIGN_JUDGE_CACHE to another path or to '{CACHE_OFF}'"
        if path.is_dir():
            raise InputError(f"{path}: the judge cache path is a directory; {fix}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = _connect(path)
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check")]
        except (OSError, sqlite3.Error) as exc:
            raise InputError(f"{path}: cannot open the judge cache ({exc}); {fix}") from None
        if problems != ["ok"]:
            self._db.close()
            first = next((line for line in "\n".join(problems).splitlines()
                          if line.strip() and not line.startswith("***")), "quick_check failed")
            raise InputError(f"{path}: the judge cache is damaged ({first[:120]}); move it "
                             f"aside (e.g. mv {path} {path}.damaged) to start a new one, or {fix}")

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key, verdict FROM verdicts WHERE key IN ({marks})", chunk)
            found.update((key, json.loads(verdict)) for key, verdict in rows)
        return found

    def put(self, key: str, verdict: dict) -> None:
        self._db.execute("INSERT OR REPLACE INTO verdicts (key, verdict) VALUES (?, ?)",
                         (key, json.dumps(verdict)))

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0]

    def close(self) -> None:
        self._db.close()
