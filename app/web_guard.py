"""What stands between the web page's callbacks and careless or hostile clients.

- `Admission`, an ASGI middleware: a request joins Gradio's queue only while fewer than
  `Limits.max_waiting` wait and its client address has fewer than `Limits.per_client`
  waiting or running (a clear "server busy" line otherwise); an upload the client drops
  half-way has its partial file removed at once.
- `client_gone()`: whether the client of the running event has disconnected, so long work
  can stop between steps.
- `GuardedBlocks`: gr.Blocks whose input checks (inputs missing, of the wrong type, a
  file the client did not upload) answer with one line and log one line, never a
  traceback.
- `paths_only`: a gr.File without the empty temporary file gr.File writes per request.

Gradio keeps its queue in `Blocks._queue` (events waiting per concurrency id, events
running in `active_jobs`, each with the request that joined it); this module reads it and
changes nothing in it.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.context import LocalContext
from gradio_client import utils as client_utils
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect

log = logging.getLogger("avsub.web")


def one_line(error: BaseException) -> str:
    """The first line of an error's message, its whitespace collapsed."""
    lines = str(error).strip().splitlines()
    return " ".join(lines[0].split()) if lines else type(error).__name__


def refuse(message: str) -> gr.Error:
    """A one-line error for the client, logged as one line."""
    log.info("refused: %s", message)
    return gr.Error(message, print_exception=False)


# ------------------------------------------------------------------------ Gradio's queue


def queued_events(blocks: gr.Blocks) -> Iterator[tuple[Any, bool]]:
    """(event, running) for every event waiting in or run by the blocks' queue."""
    queue = getattr(blocks, "_queue", None)
    if queue is None:
        return
    for event_queue in list(queue.event_queue_per_concurrency_id.values()):
        for event in list(event_queue.queue):
            yield event, False
    for job in list(queue.active_jobs):
        for event in job or []:
            yield event, True


def _client_host(request) -> str | None:
    client = getattr(request, "client", None)
    return client.host if client is not None else None


def _paths(value) -> Iterator[str]:
    """Every "path" of the FileData dicts inside an event's inputs."""
    if isinstance(value, dict):
        if isinstance(value.get("path"), str):
            yield value["path"]
        for item in value.values():
            yield from _paths(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _paths(item)


def paths_in_queue(blocks: gr.Blocks) -> set[str]:
    """The files that waiting or running events will read."""
    found = set()
    for event, _ in queued_events(blocks):
        data = getattr(event.data, "data", None)
        found.update(str(Path(path).resolve()) for path in _paths(data))
    return found


def client_gone() -> bool:
    """True inside a queued callback whose client has disconnected (or cancelled)."""
    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    if blocks is None or event_id is None or getattr(blocks, "_queue", None) is None:
        return False
    event = blocks._queue.event_ids_to_events.get(event_id)
    return event is None or not event.alive


# ---------------------------------------------------------------------------- admission


class Admission:
    """ASGI middleware: bounded queue, a share per client, dropped uploads removed.

    `blocks`: the queued app; `limits`: app.web.Limits; `on_dropped_upload`: called after
    a client disconnected in the middle of an upload."""

    def __init__(self, app, blocks: gr.Blocks, limits, on_dropped_upload: Callable[[], None]):
        self.app, self.blocks, self.limits = app, blocks, limits
        self.on_dropped_upload = on_dropped_upload
        self.joining: Counter[str | None] = Counter()  # joins in progress, per client

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path.endswith("/queue/join") or "/call/" in path:
            return await self._join(scope, receive, send)
        if path.endswith("/upload"):
            return await self._upload(scope, receive, send)
        return await self.app(scope, receive, send)

    def refusal(self, host: str | None) -> tuple[int, str] | None:
        """(HTTP status, one-line message) when a request from `host` may not join now."""
        waiting = sum(self.joining.values())  # joins in progress count as waiting
        mine = self.joining[host]
        for event, running in queued_events(self.blocks):
            if event.alive:  # a request whose client has gone is about to stop
                waiting += not running
                mine += _client_host(event.request) == host
        if waiting >= self.limits.max_waiting:
            return 503, (
                f"server busy: {waiting} requests are waiting, the most this server queues; "
                "try again in a few minutes"
            )
        if mine >= self.limits.per_client:
            return 429, (
                f"this client already has {mine} requests waiting or running, this server's "
                "share per client; wait for one to finish"
            )
        return None

    async def _answer(self, send, status: int, message: str) -> None:
        body = json.dumps({"detail": message, "error": message}).encode()
        await send({
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
        })  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    async def _join(self, scope, receive, send):
        host = (scope.get("client") or (None,))[0]
        refused = self.refusal(host)
        if refused is not None:
            log.info("refused %s: %s", host, refused[1])
            return await self._answer(send, *refused)
        self.joining[host] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.joining[host] -= 1
            if self.joining[host] <= 0:
                del self.joining[host]

    async def _upload(self, scope, receive, send):
        host = (scope.get("client") or ("?",))[0]
        too_big = f"upload: over this server's limit of {self.limits.max_file_mb:g} MB"
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limits.max_file_bytes + 2**16:
            log.info("refused %s: %s", host, too_big)  # known before a byte is stored
            return await self._answer(send, 413, too_big)
        dropped, replaced = False, False

        async def watched():
            nonlocal dropped
            message = await receive()
            dropped = dropped or message["type"] == "http.disconnect"
            return message

        async def answer(message):
            # Gradio's 413 (a chunked upload that grew too big) gets the same line as above.
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 413:
                replaced = True
                log.info("refused %s: %s", host, too_big)
                return await self._answer(send, 413, too_big)
            if not replaced:
                await send(message)

        try:
            await self.app(scope, watched, answer)
        except ClientDisconnect:
            dropped = True  # nobody is left to answer
        finally:
            if dropped:
                log.info("upload dropped by %s", host)
                self.on_dropped_upload()


# ------------------------------------------------------------------------ Gradio classes


class GuardedBlocks(gr.Blocks):
    """gr.Blocks whose input checks fail with one line for the client and one in the log,
    served behind `Admission` (`limits`, `on_dropped_upload`: as Admission takes them)."""

    def __init__(self, *, limits, on_dropped_upload: Callable[[], None], **kwargs):
        super().__init__(**kwargs)
        self.limits, self.on_dropped_upload = limits, on_dropped_upload

    def launch(self, *args, app_kwargs: dict | None = None, **kwargs):
        app_kwargs = dict(app_kwargs or {})
        guard = Middleware(
            Admission, blocks=self, limits=self.limits, on_dropped_upload=self.on_dropped_upload
        )
        app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), guard]
        return super().launch(*args, app_kwargs=app_kwargs, **kwargs)

    async def preprocess_data(self, block_fn, inputs, state, explicit_call: bool = False):
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as error:  # Gradio's own: missing inputs, wrong types, bad paths
            raise refuse(f"bad request: {one_line(error)}") from None


def paths_only(upload: gr.File) -> gr.File:
    """`upload` (type "filepath") hands the callback the upload's path without the empty
    temporary file gr.File writes on every request; a subclass would do, but Gradio writes
    a .pyi stub beside the module of every component subclass."""

    def preprocess(payload):
        if payload is None:
            return None
        path = payload.path
        if upload.file_types and not client_utils.is_valid_file(path, upload.file_types):
            raise refuse(
                f"{Path(path).name}: invalid file type; upload one of {', '.join(upload.file_types)}"
            )
        return path

    upload.preprocess = preprocess
    return upload
