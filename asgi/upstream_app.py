"""FastAPI whose request waits on another HTTP service, through one httpx2.AsyncClient per process.

The upstream is UPSTREAM_URL (default: the slow ASGI app on port 8003, as
`make serve` runs it). The client opens in the lifespan start-up and closes at
shut-down; every request shares its pool: at most UPSTREAM_CONNECTIONS
(httpx's default, 100) are out at once per process, so past 100 users the
client's pool, not the event loop, is the limit. Waiting longer than
UPSTREAM_TIMEOUT for a connection gives 503; an upstream that is down, 502.

Run with:  uvicorn asgi.slow_app:app --port 8003 &      (the upstream)
           uvicorn asgi.upstream_app:app
Test with: time (seq 32 | xargs -P32 -I{} curl -s http://127.0.0.1:8000/)   (watch: 1 round of 1 s)
Served-By, Started-At and Server-Timing name the process, when it began and how long (curl -i).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi_offline import FastAPIOffline

UPSTREAM_URL = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:8003/")
UPSTREAM_CONNECTIONS = int(os.environ.get("UPSTREAM_CONNECTIONS", "100"))
UPSTREAM_TIMEOUT = float(os.environ.get("UPSTREAM_TIMEOUT", "30"))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    limits = httpx2.Limits(
        max_connections=UPSTREAM_CONNECTIONS, max_keepalive_connections=UPSTREAM_CONNECTIONS
    )
    async with httpx2.AsyncClient(limits=limits, timeout=UPSTREAM_TIMEOUT) as client:
        app.state.client = client  # one per process, shared by every request
        yield
    # leaving the block closed every connection to the upstream


app = FastAPIOffline(title="WSGI vs ASGI lab: an upstream service", lifespan=lifespan)


@app.exception_handler(httpx2.PoolTimeout)
async def no_connection(request: Request, error: httpx2.PoolTimeout) -> JSONResponse:
    return JSONResponse({"detail": f"no upstream connection within {UPSTREAM_TIMEOUT:g} s"}, status_code=503)


@app.exception_handler(httpx2.HTTPError)
async def upstream_down(request: Request, error: httpx2.HTTPError) -> JSONResponse:
    return JSONResponse({"detail": f"upstream unavailable: {error!r}"}, status_code=502)


@app.get("/", response_class=PlainTextResponse)
async def call_upstream(request: Request, response: Response) -> str:
    started = time.time()
    client: httpx2.AsyncClient = request.app.state.client
    answer = await client.get(UPSTREAM_URL)  # awaits: the loop serves other requests meanwhile
    # Who served it (this process's event loop), when it began, and for how long: curl -i shows them.
    response.headers["Served-By"] = f"pid={os.getpid()}"
    response.headers["Started-At"] = f"{started:.6f}"
    response.headers["Server-Timing"] = f"app;dur={(time.time() - started) * 1000:.1f}"
    return f"upstream said: {answer.text}"


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
