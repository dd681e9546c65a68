"""FastAPI whose requests wait in a real database: `SELECT pg_sleep(SLOW_SECONDS)` through pools.

- GET /               the right way: `async def`, psycopg's AsyncConnectionPool, `await`.
- GET /def            a plain `def` route with the sync pool: it runs in anyio's thread pool
                      (THREAD_LIMIT threads, 40 by default) but only POOL_SIZE of those threads
                      hold a connection; the rest wait for one, up to POOL_TIMEOUT, then 503.
- GET /sync-in-async  the classic mistake: the sync driver inside `async def` blocks the
                      event loop, so the whole process serves one query at a time.
- GET /health         liveness: never touches the database.

Both pools (at most POOL_SIZE connections each, default 5) open in the lifespan
start-up and close at shut-down, once per worker process.

Run with:  python -m lab postgres    (a throwaway PostgreSQL; it prints DATABASE_URL)
           DATABASE_URL=postgresql://... uvicorn asgi.db_app:app
Test with: time (seq 10 | xargs -P10 -I{} curl -s http://127.0.0.1:8000/)   (watch: 2 rounds of 1 s)
Served-By, Started-At and Server-Timing name the slot that held a connection, from
when it got one (curl -i).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

SLOW_SECONDS = float(os.environ.get("SLOW_SECONDS", "1"))
POOL_SIZE = int(os.environ.get("POOL_SIZE", "5"))
POOL_TIMEOUT = float(os.environ.get("POOL_TIMEOUT", "30"))
THREAD_LIMIT = int(os.environ.get("THREAD_LIMIT", "40"))  # anyio's default
DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql:///postgres")
QUERY = "SELECT pg_sleep(%s)"

pool = AsyncConnectionPool(
    DATABASE_URL, min_size=POOL_SIZE, max_size=POOL_SIZE, timeout=POOL_TIMEOUT, open=False
)
# Only the two mistake routes use this one: it connects as they need it, up to POOL_SIZE.
sync_pool = ConnectionPool(DATABASE_URL, min_size=0, max_size=POOL_SIZE, timeout=POOL_TIMEOUT, open=False)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREAD_LIMIT
    await pool.open()  # connecting goes on in the background: start-up does not wait for the database
    sync_pool.open()
    yield
    await pool.close()
    sync_pool.close()


app = FastAPIOffline(title="WSGI vs ASGI lab: a real database", lifespan=lifespan)


def served_by(response: Response, started: float, thread: bool = False) -> None:
    """Name the slot that served the request (the process; a `def` route's thread too), when, how long."""
    slot = f"pid={os.getpid()}" + (f" thread={threading.get_native_id()}" if thread else "")
    response.headers["Served-By"] = slot
    response.headers["Started-At"] = f"{started:.6f}"
    response.headers["Server-Timing"] = f"app;dur={(time.time() - started) * 1000:.1f}"


@app.exception_handler(PoolTimeout)
async def no_connection(request: Request, error: PoolTimeout) -> JSONResponse:
    return JSONResponse({"detail": f"no database connection within {POOL_TIMEOUT:g} s"}, status_code=503)


@app.exception_handler(psycopg.OperationalError)
async def database_down(request: Request, error: psycopg.OperationalError) -> JSONResponse:
    return JSONResponse({"detail": f"database unavailable: {error}"}, status_code=503)


@app.get("/")
async def query(response: Response) -> dict[str, float]:
    async with pool.connection() as conn:  # awaits a free connection: the loop serves others meanwhile
        started = time.time()  # the slot here is a connection: waiting for one was queueing
        await conn.execute(QUERY, [SLOW_SECONDS])
    served_by(response, started)
    return {"waited": SLOW_SECONDS}


@app.get("/def")
def query_in_a_thread(response: Response) -> dict[str, float]:
    with sync_pool.connection() as conn:  # a thread blocks here until one of POOL_SIZE connections frees
        started = time.time()
        conn.execute(QUERY, [SLOW_SECONDS])
    served_by(response, started, thread=True)
    return {"waited": SLOW_SECONDS}


@app.get("/sync-in-async")
async def blocking_query(response: Response) -> dict[str, float]:
    with sync_pool.connection() as conn:  # the bug: a blocking driver call on the event loop
        started = time.time()
        conn.execute(QUERY, [SLOW_SECONDS])
    served_by(response, started)
    return {"waited": SLOW_SECONDS}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
