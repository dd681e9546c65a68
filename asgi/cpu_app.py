"""An ASGI app whose request computes: the same SHA-256 loop as wsgi/cpu_app.py.

`async` does not make computing overlap: a coroutine that hashes never
awaits, so the event loop runs nothing else until it returns. One uvicorn
process computes one request at a time; `--workers 2` on 2 CPUs, two.

Run with:  uvicorn asgi.cpu_app:app   (from the repository root)
Test with: time (seq 40 | xargs -P40 -I{} curl -s -o /dev/null http://127.0.0.1:8000/)
CPU_ROUNDS sets the hashes per request (default 20000: about 10 ms of one core).
Who served you: curl -i http://127.0.0.1:8000/ shows Served-By (the process),
Started-At (when it began, in Unix seconds) and Server-Timing (how long, in ms).
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

CPU_ROUNDS = int(os.environ.get("CPU_ROUNDS", "20000"))


def work(rounds: int = CPU_ROUNDS) -> bytes:
    digest = b""
    for _ in range(rounds):
        # 32 bytes in: hashlib releases the GIL only for inputs of 2 KiB or more.
        digest = hashlib.sha256(digest).digest()
    return digest


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":  # this app needs no start-up work (lifespan)
        return
    started = time.time()
    body = f"{CPU_ROUNDS} rounds of SHA-256: {work().hex()}\n".encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                # The slot that served it: one process, whose event loop computes nothing else meanwhile.
                (b"served-by", f"pid={os.getpid()}".encode()),
                (b"started-at", f"{started:.6f}".encode()),
                (b"server-timing", f"app;dur={(time.time() - started) * 1000:.1f}".encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
