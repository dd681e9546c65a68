"""A WSGI app that reads its request body as it arrives: `wsgi.input` is a stream (PEP 3333).

WSGI has no WebSockets and no lifespan, and one request holds its thread; but a request body
can still be read as it comes, a piece at a time, as here. gunicorn calls the app once the
headers are in and hands it a reader that waits for the rest.

Run with:  gunicorn -w 1 wsgi.upload_app:app   (from the repository root)
Test with: (for i in 1 2 3 4 5; do head -c 10000 /dev/zero; sleep 1; done) | curl -s -T - http://127.0.0.1:8000/
(watch: five pieces sent a second apart, each read as it came, over 5 s: not all at the end).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

CHUNK = 8_192


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    body = environ["wsgi.input"]
    called = time.monotonic()
    lines, total = [], 0
    while chunk := body.read(CHUNK):  # returns what has arrived, up to CHUNK; waits for more
        total += len(chunk)
        lines.append(f"{time.monotonic() - called:5.2f} s  {total:>7,} bytes read\n")
    answer = "".join(lines).encode() or b"no body\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
    return [answer]
