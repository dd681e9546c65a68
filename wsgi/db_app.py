"""A WSGI app whose request waits in a real database: `SELECT pg_sleep(SLOW_SECONDS)` through a pool.

Each gunicorn worker opens its own pool of POOL_SIZE connections (default 5)
with its first request. A request borrows one for its query: a sync worker
needs only one, but a gthread worker with 16 threads can have only POOL_SIZE
of them in the database at once; the others wait for a connection, up to
POOL_TIMEOUT seconds (default 30), then get a 503. The pool is a slot too.

Run with:  python -m lab postgres    (a throwaway PostgreSQL; it prints DATABASE_URL)
           DATABASE_URL=postgresql://... gunicorn -w 1 --threads 16 wsgi.db_app:app
Test with: time (seq 10 | xargs -P10 -I{} curl -s http://127.0.0.1:8000/)   (watch: 2 rounds, not 1)
GET /health answers without touching the database. Served-By, Started-At and
Server-Timing name the thread that held a connection, from when it got one (curl -i).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

SLOW_SECONDS = float(os.environ.get("SLOW_SECONDS", "1"))
POOL_SIZE = int(os.environ.get("POOL_SIZE", "5"))
POOL_TIMEOUT = float(os.environ.get("POOL_TIMEOUT", "30"))

# WSGI has no start-up event, so the pool opens with the worker's first request: in the
# worker, after gunicorn forked it (even with --preload), so no connection is ever shared
# between processes. open() is thread-safe and does nothing once the pool is open.
pool = ConnectionPool(
    os.environ.get("DATABASE_URL", "postgresql:///postgres"),
    min_size=POOL_SIZE, max_size=POOL_SIZE, timeout=POOL_TIMEOUT, open=False,
)  # fmt: skip
atexit.register(pool.close)  # the worker's clean exit closes every connection


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
    if environ.get("PATH_INFO") == "/health":  # liveness: never waits in the pool or the database
        return respond(start_response, "200 OK", "ok\n")
    pool.open()
    try:
        with pool.connection() as conn:  # waits here when every connection is busy
            started = time.time()  # the slot here is a connection: waiting for one was queueing
            conn.execute("SELECT pg_sleep(%s)", [SLOW_SECONDS])
    except PoolTimeout:
        return respond(
            start_response, "503 Service Unavailable", f"no database connection within {POOL_TIMEOUT:g} s\n"
        )
    except psycopg.OperationalError as error:
        return respond(start_response, "503 Service Unavailable", f"database unavailable: {error}\n")
    return respond(start_response, "200 OK", f"Waited {SLOW_SECONDS} s in the database\n", served_by(started))
