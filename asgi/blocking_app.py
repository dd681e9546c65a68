"""The classic mistake: blocking I/O (`time.sleep`) inside `async def`.

Everything on an event loop shares one thread. `time.sleep` never yields, so
while one request sleeps the loop can run nothing else: every other request on
this process waits its turn. 10 concurrent requests take ten sleeps, worse
than a WSGI server with two workers. Fix: `await asyncio.sleep` (an async
client), or a plain `def` endpoint that a framework runs in a thread pool.

Run with:  uvicorn asgi.blocking_app:app   (from the repository root)
Test with: time (seq 4 | xargs -P4 -I{} curl -s http://127.0.0.1:8000/)   (watch: 4 s, not 1)
The sleep lasts SLOW_SECONDS seconds (default 1).
Who served you: curl -i http://127.0.0.1:8000/ shows Served-By (the process),
Started-At (when it began, in Unix seconds) and Server-Timing (how long, in ms).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

SLOW_SECONDS = float(os.environ.get("SLOW_SECONDS", "1"))


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    started = time.time()  # the moment the loop got to this request
    # /health skips the sleep, but still waits for the loop that another request is blocking.
    seconds = 0.0 if scope["path"] == "/health" else SLOW_SECONDS
    time.sleep(seconds)  # the bug: blocks the event loop for every connection
    body = f"Blocked the event loop for {seconds} s\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                # The slot that served it: one process, whose one event loop this request blocks.
                (b"served-by", f"pid={os.getpid()}".encode()),
                (b"started-at", f"{started:.6f}".encode()),
                (b"server-timing", f"app;dur={(time.time() - started) * 1000:.1f}".encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
