"""A WSGI app whose request waits on slow I/O, faked with `time.sleep`.

`time.sleep` blocks the worker: while one request sleeps, that worker can
serve nobody else. So N requests need N workers (or threads) to overlap;
`gunicorn -w 4` serves 8 concurrent requests in two sleeps, 10 in three.

Run with:  gunicorn -w 4 wsgi.slow_app:app   (from the repository root, where gunicorn reads gunicorn.conf.py)
Test with: time (seq 8 | xargs -P8 -I{} curl -s http://127.0.0.1:8000/)   (watch: 2 s, two rounds)
The sleep lasts SLOW_SECONDS seconds (default 1).
Who served you: curl -i http://127.0.0.1:8000/ shows Served-By (the worker's
process and thread), Started-At (when it began, in Unix seconds) and
Server-Timing (how long it held the worker, in ms).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

SLOW_SECONDS = float(os.environ.get("SLOW_SECONDS", "1"))


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    started = time.time()  # the moment a worker took the request: its time in the queue is over
    # A container's healthcheck asks for /health: it skips the wait (not the queue for a worker).
    seconds = 0.0 if environ.get("PATH_INFO") == "/health" else SLOW_SECONDS
    time.sleep(seconds)  # stands in for a database query or an HTTP call
    body = f"Slept {seconds} s\n".encode()
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
