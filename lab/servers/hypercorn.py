"""Hypercorn: the ASGI server on the hyper libraries (h11, h2, wsproto); HTTP/2 without TLS."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import ClassVar
from unittest import mock

from lab.apps import ASGI_APPS
from lab.servers.base import BACKLOG, Admission, Reading, Record, Stack


class Hypercorn(Record):
    name = program = module = package = "hypercorn"
    workers = ("-w", "--workers")
    reload = "--reload"
    admission: ClassVar[dict[str, Admission]] = {"--backlog": BACKLOG}
    drains = True  # measured: SIGTERM with 8 in flight, 8 finished (tests/test_faults.py)
    h2_streams = 100

    def bind(self, host: str, port: int) -> list[str]:
        return ["-b", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]

    def read(self, options: list[str]) -> Reading:
        """Worker processes, read by Hypercorn's own argument parser (its config kept, not run)."""
        import hypercorn.__main__ as hypercorn

        sys.argv = ["hypercorn"]  # argparse names the program in its errors from sys.argv[0]
        try:
            with mock.patch.object(hypercorn, "run", return_value=0) as run:
                hypercorn.main(options)
        except SystemExit as exit:
            if exit.code:  # argparse's error, already printed as one line
                raise
            raise SystemExit(f"hypercorn {' '.join(options)} starts no server") from None  # --help, --version
        (config,), _ = run.call_args
        # --workers 0 serves in the master itself: still one process. A worker that exits with an
        # error ends the server; only one that exits with 0 is replaced
        # (docs/sources.md#hypercorn-worker-death).
        # Its access log is off unless --access-logfile names one (docs/sources.md#hypercorn-access-log).
        return Reading(
            max(1, int(config.workers)), (), "hypercorn", respawns=False, access_log=bool(config.accesslog)
        )

    def forks(self, reading: Reading) -> bool:
        return True  # workers are processes under a master, even --workers 1

    def h2c(self, reading: Reading) -> tuple[str, ...] | str:
        return ()  # prior knowledge on a plain socket (docs/sources.md#hypercorn-h2c)

    def websocket(self, options: Sequence[str], reading: Reading) -> str | None:
        return "wsproto"  # with permessage-deflate offered (docs/sources.md#hypercorn-websocket)


STACKS = (Stack("hypercorn", "ASGI", Hypercorn(), ("--workers", "1"), ASGI_APPS, port=8012),)
