"""A streamed response in ASGI: one line every SLOW_SECONDS, LINES times (default 5).

Each `http.response.body` message with `more_body: True` goes out as one chunk
(chunked transfer encoding). Between lines the coroutine awaits, so one process
holds as many open streams as clients ask for.

Run with:  uvicorn asgi.stream_app:app   (from the repository root)
Test with: curl -N http://127.0.0.1:8000/        (-N: print each line as it arrives)
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

SLOW_SECONDS = float(os.environ.get("SLOW_SECONDS", "1"))
LINES = int(os.environ.get("LINES", "5"))


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})  # fmt: skip
    lines = 0 if scope["path"] == "/health" else LINES  # a healthcheck gets "done" at once
    for line in range(1, lines + 1):
        await send({"type": "http.response.body", "body": f"line {line}\n".encode(), "more_body": True})
        await asyncio.sleep(SLOW_SECONDS)
    await send({"type": "http.response.body", "body": b"done\n"})
