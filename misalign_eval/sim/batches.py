"""OpenAI's Files and Batch API, in memory, for the simulated endpoint.

``POST /v1/files`` (multipart, purpose ``batch``), ``GET /v1/files/{id}`` and its
``/content``, ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``.
A batch is ``validating``, then ``in_progress`` with its completed count growing, and
``completed`` once ``batch_delay_s`` has passed; each line is then answered by the same
handler as a live request, and a share ``batch_fail_rate`` of lines goes to the error file.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

from aiohttp import web


def _error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error"}},
                             status=status)


class BatchStore:
    def __init__(self, answer: Callable[[dict], dict], delay_s: float, fail_rate: float,
                 seed: int, authorised: Callable[[web.Request], web.Response | None]):
        self.answer, self.delay_s, self.fail_rate = answer, delay_s, fail_rate
        self.authorised = authorised
        self.files: dict[str, dict] = {}
        self.contents: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.lines_answered = 0
        self._rng = random.Random(seed + 2)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{id}", self._file)
        app.router.add_get("/v1/files/{id}/content", self._content)
        app.router.add_post("/v1/batches", self._create)
        app.router.add_get("/v1/batches/{id}", self._get)
        app.router.add_post("/v1/batches/{id}/cancel", self._cancel)

    def _store(self, content: bytes, filename: str, purpose: str) -> dict:
        file_id = f"file-{self._rng.getrandbits(64):016x}"
        self.contents[file_id] = content
        self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(content),
                               "created_at": int(time.time()), "filename": filename,
                               "purpose": purpose, "status": "processed"}
        return self.files[file_id]

    async def _upload(self, request: web.Request) -> web.Response:
        if (denied := self.authorised(request)) is not None:
            return denied
        fields: dict[str, object] = {}
        async for part in await request.multipart():
            fields[part.name] = (part.filename, await part.read()) if part.filename else await part.text()
        if "file" not in fields or not fields.get("purpose"):
            return _error("multipart form needs 'file' and 'purpose'")
        filename, content = fields["file"]
        return web.json_response(self._store(bytes(content), filename, str(fields["purpose"])))

    async def _file(self, request: web.Request) -> web.Response:
        if (denied := self.authorised(request)) is not None:
            return denied
        found = self.files.get(request.match_info["id"])
        return web.json_response(found) if found else _error("no such file", 404)

    async def _content(self, request: web.Request) -> web.Response:
        if (denied := self.authorised(request)) is not None:
            return denied
        content = self.contents.get(request.match_info["id"])
        if content is None:
            return _error("no such file", 404)
        return web.Response(body=content, content_type="application/octet-stream")

    async def _create(self, request: web.Request) -> web.Response:
        if (denied := self.authorised(request)) is not None:
            return denied
        body = await request.json()
        input_id = body.get("input_file_id")
        if input_id not in self.files or self.files[input_id]["purpose"] != "batch":
            return _error("input_file_id must name a file uploaded with purpose batch")
        if body.get("endpoint") != "/v1/chat/completions":
            return _error("only /v1/chat/completions batches are simulated")
        lines = [line for line in self.contents[input_id].decode().splitlines() if line.strip()]
        batch_id = f"batch_{self._rng.getrandbits(64):016x}"
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
            "input_file_id": input_id, "completion_window": body.get("completion_window", "24h"),
            "status": "validating", "output_file_id": None, "error_file_id": None,
            "created_at": int(time.time()), "in_progress_at": None, "completed_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": body.get("metadata"), "_started": time.monotonic(), "_lines": lines,
        }
        return web.json_response(self._public(self.batches[batch_id]))

    async def _get(self, request: web.Request) -> web.Response:
        if (denied := self.authorised(request)) is not None:
            return denied
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return _error("no such batch", 404)
        self._advance(batch)
        return web.json_response(self._public(batch))

    async def _cancel(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["id"])
        if batch is None:
            return _error("no such batch", 404)
        if batch["status"] not in ("completed", "failed", "expired"):
            batch["status"] = "cancelled"
        return web.json_response(self._public(batch))

    @staticmethod
    def _public(batch: dict) -> dict:
        return {k: v for k, v in batch.items() if not k.startswith("_")}

    def _advance(self, batch: dict) -> None:
        if batch["status"] not in ("validating", "in_progress"):
            return
        elapsed = time.monotonic() - batch["_started"]
        total = batch["request_counts"]["total"]
        if elapsed < self.delay_s:
            if elapsed >= self.delay_s / 4:
                batch["status"] = "in_progress"
                batch["in_progress_at"] = batch["in_progress_at"] or int(time.time())
                batch["request_counts"]["completed"] = int(total * elapsed / self.delay_s)
            return
        outputs, errors = [], []
        for index, line in enumerate(batch["_lines"]):
            self.lines_answered += 1
            outputs_or_errors, record = self._answer_line(batch["id"], index, line)
            (outputs if outputs_or_errors else errors).append(json.dumps(record))
        batch["output_file_id"] = self._store("\n".join(outputs).encode() + b"\n", "output.jsonl",
                                              "batch_output")["id"] if outputs else None
        batch["error_file_id"] = self._store("\n".join(errors).encode() + b"\n", "errors.jsonl",
                                             "batch_output")["id"] if errors else None
        batch["request_counts"] = {"total": total, "completed": len(outputs), "failed": len(errors)}
        batch["status"], batch["completed_at"] = "completed", int(time.time())

    def _answer_line(self, batch_id: str, index: int, line: str) -> tuple[bool, dict]:
        record = {"id": f"batch_req_{index}", "custom_id": None, "response": None, "error": None}
        try:
            request = json.loads(line)
            record["custom_id"] = request["custom_id"]
            body = request["body"]
            if self._rng.random() < self.fail_rate:
                raise RuntimeError("simulated batch line failure")
            reply = self.answer(body)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            record["error"] = {"code": "invalid_request", "message": type(exc).__name__}
            return False, record
        except RuntimeError as exc:
            record["response"] = {"status_code": 500, "request_id": f"req_{batch_id}_{index}",
                                  "body": {"error": {"message": str(exc)}}}
            record["error"] = {"code": "server_error", "message": str(exc)}
            return False, record
        record["response"] = {"status_code": 200, "request_id": f"req_{batch_id}_{index}",
                              "body": reply}
        return True, record
