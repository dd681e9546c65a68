"""A WSGI app whose request waits on another HTTP service, through one httpx2 client per process.

The upstream is UPSTREAM_URL (default: the slow ASGI app on port 8003, as
`make serve` runs it). The client is made once per worker and reused, so its
connections are pooled: at most UPSTREAM_CONNECTIONS requests (httpx's default,
100) are out at once per process; more wait for a connection, up to
UPSTREAM_TIMEOUT seconds, then get a 503. An upstream that is down gives 502.

Run with:  uvicorn asgi.slow_app:app --port 8003 &      (the upstream)
           gunicorn -w 1 --threads 16 wsgi.upstream_app:app
Test with: time (seq 32 | xargs -P32 -I{} curl -s http://127.0.0.1:8000/)   (watch: 2 rounds of 1 s)
GET /health answers without calling the upstream. Served-By, Started-At and
Server-Timing name the worker's process and thread, when it began and how long (curl -i).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import httpx2

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

UPSTREAM_URL = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8003/")
UPSTREAM_CONNECTIONS = int(os.environ.get("UPSTREAM_CONNECTIONS", "100"))
UPSTREAM_TIMEOUT = float(os.environ.get("UPSTREAM_TIMEOUT", "30"))

# One client per worker process, made as the worker imports this file: every
# request shares its connection pool instead of opening a connection of its own.
client = httpx2.Client(
    limits=httpx2.Limits(
        max_connections=UPSTREAM_CONNECTIONS, max_keepalive_connections=UPSTREAM_CONNECTIONS
    ),
    timeout=UPSTREAM_TIMEOUT,
)
atexit.register(client.close)


def respond(
    start_response: StartResponse, status: str, text: str, more: list[tuple[str, str]] | None = None
) -> list[bytes]:
    body = text.encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    start_response(status, headers + (more or []))
    return [body]


def served_by(started: float) -> list[tuple[str, str]]:
    """Headers naming the slot that served the request (process and thread), when and how long."""
    return [
        ("Served-By", f"pid={os.getpid()} thread={threading.get_native_id()}"),
        ("Started-At", f"{started:.6f}"),
        ("Server-Timing", f"app;dur={(time.time() - started) * 1000:.1f}"),
    ]


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/health":
        return respond(start_response, "200 OK", "ok\n")
    started = time.time()
    try:
        answer = client.get(UPSTREAM_URL)  # the worker (or thread) waits here
    except httpx2.PoolTimeout:
        return respond(
            start_response,
            "503 Service Unavailable",
            f"no upstream connection within {UPSTREAM_TIMEOUT:g} s\n",
        )
    except httpx2.HTTPError as error:
        return respond(start_response, "502 Bad Gateway", f"upstream unavailable: {error!r}\n")
    return respond(start_response, "200 OK", f"upstream said: {answer.text}", served_by(started))
