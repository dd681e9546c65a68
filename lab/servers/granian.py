"""Granian: a Rust HTTP server with both interfaces; its workers are processes under a master."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar
from unittest import mock

from lab.apps import ASGI_APPS, WSGI_APPS, Limit
from lab.servers.base import BACKLOG, Admission, Reading, Record, Stack


class Granian(Record):
    name = program = module = package = "granian"
    workers = ("--workers",)
    threads = ("--blocking-threads",)
    reload = "--reload"
    admission: ClassVar[dict[str, Admission]] = {
        # A permit per connection, taken before accept() and held until the connection closes: it
        # caps connections, not requests, so idle keep-alive ones hold permits too
        # (docs/sources.md#granian-backpressure).
        "--backpressure": Admission(
            "connections per worker", "the rest wait in the kernel's listen queue", False
        ),
        "--backlog": BACKLOG,
    }
    drains = True  # measured: SIGTERM with 8 in flight, 8 finished (tests/test_faults.py)
    h2_streams = 200
    # Its HTTP work runs on Rust threads outside the GIL, so one process can use more than one core
    # (docs/sources.md#granian-beside-gil).
    beside_gil = True

    def bind(self, host: str, port: int) -> list[str]:
        return ["--host", host, "--port", str(port)]

    def read(self, options: list[str]) -> Reading:
        """Granian's click command builds its Server; keep that Server instead of serving it."""
        import click
        from granian import cli
        from granian.server import Server

        built: list[Any] = []  # granian.server.Server is chosen at import time: no one type

        def keep(*args: Any, **kwargs: Any) -> mock.Mock:
            built.append(Server(*args, **kwargs))  # its own defaults: backpressure, blocking threads
            return mock.Mock()  # whose serve() does nothing

        try:
            with mock.patch.object(cli, "Server", keep):
                # As `granian` itself runs it: GRANIAN_WORKERS, GRANIAN_BACKPRESSURE... count too.
                cli.cli.main(
                    args=options, prog_name="granian", standalone_mode=False, auto_envvar_prefix="GRANIAN"
                )
        except click.ClickException as error:
            raise SystemExit(f"granian: {error.format_message()}") from None
        if not built:  # --help, --version: granian would print and exit, serving nothing
            raise SystemExit(f"granian {' '.join(options)} starts no server")
        (server,) = built
        given = any(o.startswith("--backpressure") for o in options) or "GRANIAN_BACKPRESSURE" in os.environ
        unset = "" if given else "; unset: --backlog / workers"
        limits = [
            Limit(int(server.backpressure), f"connections at once (--backpressure{unset})", "backpressure")
        ]
        if str(server.interface) == "wsgi":  # an ASGI app runs on one event loop per worker instead
            threads = int(
                server.blocking_threads
            )  # unset: backpressure / 2 (docs/sources.md#granian-blocking-threads)
            limits.insert(
                0, Limit(threads, "blocking threads (--blocking-threads), 1 request each", "threads")
            )
        # A worker that dies ends the server, unless --respawn-failed-workers
        # (docs/sources.md#granian-worker-death).
        # Its access log is off unless --access-log (docs/sources.md#granian-access-log).
        respawns = bool(server.respawn_failed_workers)
        return Reading(
            int(server.workers), tuple(limits), "granian", respawns, access_log=bool(server.log_access)
        )

    def forks(self, reading: Reading) -> bool:
        return True  # workers are processes under a master, even --workers 1

    def h2c(self, reading: Reading) -> tuple[str, ...] | str:
        # hyper's auto builder takes the HTTP/2 preface on a plain socket (docs/sources.md#granian-h2c).
        return ()

    def websocket(self, options: Sequence[str], reading: Reading) -> str | None:
        return "granian (Rust)" if "asgi" in options else None


GRANIAN = Granian()
WSGI = ("--interface", "wsgi", "--workers", "1")

STACKS = (
    # Granian's WSGI side: its pool of Python threads runs the app. Sixteen stated, as gthread's:
    # the same slots on another server.
    Stack("granian-wsgi", "WSGI", GRANIAN, (*WSGI, "--blocking-threads", "16"), WSGI_APPS, port=8010,
          threaded=True),
    # The same server with the other interface: one event loop per worker.
    Stack("granian-asgi", "ASGI", GRANIAN, ("--interface", "asgi", "--workers", "1"), ASGI_APPS, port=8011),
)  # fmt: skip
