"""The Uvicorn worker that gunicorn runs (gunicorn.conf.py), with two changes: no `server: uvicorn`
response header (it names the server to every client, and no client needs it), and a quiet stop."""

from __future__ import annotations

from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker


class Worker(UvicornWorker):
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {**UvicornWorker.CONFIG_KWARGS, "server_header": False}
    sockets: list[Any]  # gunicorn's listening sockets, set by its Worker.__init__ (untyped there)

    async def _serve(self) -> None:
        # uvloop closes a listening socket's descriptor itself, then closes the object it was
        # given: a plain socket it detaches, but gunicorn's wrapper tries again and logs "Error
        # while closing socket [Errno 9]" at every stop. Handed the plain sockets, it closes once.
        self.sockets = [listener.sock for listener in self.sockets]
        await super()._serve()
