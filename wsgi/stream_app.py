"""A streamed response in WSGI: the app returns a generator, the server sends each item as it comes.

The catch: the worker (or thread) that called the app is busy until the
generator is exhausted. A stream of LINES lines, one every SLOW_SECONDS, holds
it for the whole time, so `gunicorn -w 4` holds exactly 4 streams at once and
the fifth client waits.

Run with:  gunicorn -w 4 wsgi.stream_app:app  (from the root, where gunicorn reads gunicorn.conf.py)
Test with: curl -N http://127.0.0.1:8000/
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

SLOW_SECONDS = float(os.environ.get("SLOW_SECONDS", "1"))
LINES = int(os.environ.get("LINES", "5"))


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    # No Content-Length: the server streams the body with chunked encoding.
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return lines(0 if environ.get("PATH_INFO") == "/health" else LINES)  # a healthcheck: "done" at once


def lines(count: int) -> Iterator[bytes]:
    for line in range(1, count + 1):
        yield f"line {line}\n".encode()
        time.sleep(SLOW_SECONDS)  # the worker waits here, serving nobody else
    yield b"done\n"
