"""An ASGI app whose request waits on slow I/O, faked with `await asyncio.sleep`.

`await` hands control back to the event loop while the request waits, so one
process overlaps as many waiting requests as arrive: 10 concurrent requests
finish in about one sleep, not ten.

Run with:  uvicorn asgi.slow_app:app   (from the repository root)
Test with: time (seq 8 | xargs -P8 -I{} curl -s http://127.0.0.1:8000/)   (watch: 1 s, one round)
The sleep lasts SLOW_SECONDS seconds (default 1).
Who served you: curl -i http://127.0.0.1:8000/ shows Served-By (the process),
Started-At (when it began, in Unix seconds) and Server-Timing (how long, in ms).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

SLOW_SECONDS = float(os.environ.get("SLOW_SECONDS", "1"))


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":  # this app needs no start-up work (lifespan)
        return
    started = time.time()  # the moment the app began this request
    seconds = 0.0 if scope["path"] == "/health" else SLOW_SECONDS  # a healthcheck never waits
    await asyncio.sleep(seconds)  # stands in for an awaited database query
    body = f"Slept {seconds} s\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                # The slot that served it: one process, whose event loop may hold many at once.
                (b"served-by", f"pid={os.getpid()}".encode()),
                (b"started-at", f"{started:.6f}".encode()),
                (b"server-timing", f"app;dur={(time.time() - started) * 1000:.1f}".encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
