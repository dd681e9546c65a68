"""FastAPI: the same ideas with a framework, and where each route runs.

- `async def` routes run on the event loop: they must only `await` I/O.
- plain `def` routes run in a thread pool (anyio's, 40 threads unless
  THREAD_LIMIT says otherwise), so blocking calls there are safe, but only that
  many can wait at once per process.
- `time.sleep` inside `async def` blocks the loop: every request waits.
- a WebSocket route is an `async def` that receives and sends until the client leaves.

Run with:  uvicorn asgi.fastapi_app:app   (from the repository root)
Test with: curl http://127.0.0.1:8000/slow        (docs at http://127.0.0.1:8000/docs)
FastAPIOffline is FastAPI with /docs and /redoc served from the package's own
copy of Swagger UI and ReDoc: plain FastAPI loads them from a CDN, blank offline.
The slow routes sleep SLOW_SECONDS seconds (default 1), and name the slot that
served them in response headers: curl -i http://127.0.0.1:8000/slow-sync
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect
from fastapi_offline import FastAPIOffline

SLOW_SECONDS = float(os.environ.get("SLOW_SECONDS", "1"))
# How many `def` routes run at once per process: the size of anyio's thread pool.
THREAD_LIMIT = int(os.environ.get("THREAD_LIMIT", "40"))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The limiter belongs to the event loop, so it is sized once the loop runs.
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREAD_LIMIT
    yield


app = FastAPIOffline(title="WSGI vs ASGI lab", lifespan=lifespan)


def served_by(response: Response, started: float, thread: bool = False) -> None:
    """Name the slot that served the request (the process; a `def` route's thread too), when, how long."""
    slot = f"pid={os.getpid()}" + (f" thread={threading.get_native_id()}" if thread else "")
    response.headers["Served-By"] = slot
    response.headers["Started-At"] = f"{started:.6f}"
    response.headers["Server-Timing"] = f"app;dur={(time.time() - started) * 1000:.1f}"


@app.get("/")
async def hello() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/client")
async def client(request: Request) -> dict[str, str]:
    # Behind a trusted proxy the server fills both in from X-Forwarded-For and -Proto.
    return {"client": request.client.host if request.client else "", "scheme": request.url.scheme}


@app.get("/slow")
async def slow_async(response: Response) -> dict[str, float]:
    started = time.time()
    await asyncio.sleep(SLOW_SECONDS)  # yields: the loop serves others meanwhile
    served_by(response, started)
    return {"slept": SLOW_SECONDS}


@app.get("/slow-sync")
def slow_sync(response: Response) -> dict[str, float]:
    started = time.time()  # in the thread: a request waiting for a free one is not counted yet
    time.sleep(SLOW_SECONDS)  # blocks one pool thread, not the loop
    served_by(response, started, thread=True)
    return {"slept": SLOW_SECONDS}


@app.get("/blocking")
async def blocking(response: Response) -> dict[str, float]:
    started = time.time()
    time.sleep(SLOW_SECONDS)  # the bug: blocks the event loop for everyone
    served_by(response, started)
    return {"slept": SLOW_SECONDS}


@app.websocket("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass  # the client closed the connection: nothing left to do
