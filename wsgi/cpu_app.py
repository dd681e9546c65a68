"""A WSGI app whose request computes: a fixed loop of small SHA-256 hashes.

Waiting can be overlapped; computing cannot. While a request hashes, its
worker holds the GIL, so threads in the same process take turns (gthread
does not help), and only processes on separate cores compute at once:
`gunicorn -w 4` on 2 CPUs serves 2 requests at a time, not 4.

Run with:  gunicorn -w 4 wsgi.cpu_app:app   (from the repository root, where gunicorn reads gunicorn.conf.py)
Test with: time (seq 40 | xargs -P40 -I{} curl -s -o /dev/null http://127.0.0.1:8000/)
CPU_ROUNDS sets the hashes per request (default 20000: about 10 ms of one core).
asgi/cpu_app.py does the same work.
Who served you: curl -i http://127.0.0.1:8000/ shows Served-By (the worker's
process and thread), Started-At (when it began, in Unix seconds) and
Server-Timing (how long it held the worker, in ms).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

CPU_ROUNDS = int(os.environ.get("CPU_ROUNDS", "20000"))


def work(rounds: int = CPU_ROUNDS) -> bytes:
    digest = b""
    for _ in range(rounds):
        # 32 bytes in: hashlib releases the GIL only for inputs of 2 KiB or more.
        digest = hashlib.sha256(digest).digest()
    return digest


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    started = time.time()
    body = f"{CPU_ROUNDS} rounds of SHA-256: {work().hex()}\n".encode()
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            # The slot that served it: one process and one of its threads, busy until now.
            ("Served-By", f"pid={os.getpid()} thread={threading.get_native_id()}"),
            ("Started-At", f"{started:.6f}"),
            ("Server-Timing", f"app;dur={(time.time() - started) * 1000:.1f}"),
        ],
    )
    return [body]
