"""The Uvicorn worker that gunicorn runs (gunicorn.conf.py), without uvicorn's `server: uvicorn`
response header: it names the server to every client, and no client needs it."""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {**UvicornWorker.CONFIG_KWARGS, "server_header": False}
