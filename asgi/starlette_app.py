"""Starlette, the toolkit under FastAPI: a JSON homepage and a lifespan.

Start-up and shut-down work goes in one `lifespan` context manager (Starlette
1.0 removed the old `on_startup`/`on_shutdown` lists).

Run with:  uvicorn asgi.starlette_app:app   (from the repository root)
Test with: curl http://127.0.0.1:8000/
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def homepage(request: Request) -> JSONResponse:
    return JSONResponse({"hello": "world"})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # Open pools here; they are closed after the yield, when the server stops.
    yield


app = Starlette(routes=[Route("/", homepage)], lifespan=lifespan)
