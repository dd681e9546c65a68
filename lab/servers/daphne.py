"""Daphne: Django Channels' ASGI server, on Twisted: one process, always."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from typing import ClassVar

from lab.apps import ASGI_APPS
from lab.servers.base import Reading, Record, Stack

NO_LIFESPAN = (
    "Daphne runs no lifespan scope (docs/sources.md#daphne-lifespan), so the pool the app opens in its"
    " lifespan never opens"
)


class Daphne(Record):
    name = program = module = package = "daphne"
    # On SIGTERM Twisted's reactor stops at once: requests in flight are dropped
    # (docs/sources.md#daphne-sigterm).
    drains = False
    left_out: ClassVar[dict[str, str]] = {"db": NO_LIFESPAN, "upstream": NO_LIFESPAN}

    def bind(self, host: str, port: int) -> list[str]:
        return ["-b", host, "-p", str(port)]

    def read(self, options: list[str]) -> Reading:
        from daphne.cli import CommandLineInterface  # type: ignore[import-untyped]  # no types shipped

        sys.argv = ["daphne"]  # argparse names the program in its errors from sys.argv[0]
        try:  # a flag daphne lacks exits here, as daphne would
            args = CommandLineInterface().parser.parse_args(options)
        except SystemExit as exit:
            if exit.code:
                raise
            raise SystemExit(f"daphne {' '.join(options)} starts no server") from None  # --help, --version
        # One Twisted reactor in one process. Its access log goes to stdout at the default verbosity,
        # 1, unless --access-log names a file (docs/sources.md#daphne-access-log).
        return Reading(
            1, (), "daphne", respawns=False, access_log=bool(args.access_log) or args.verbosity >= 1
        )

    def h2c(self, reading: Reading) -> tuple[str, ...] | str:
        return "Daphne speaks HTTP/2 only over TLS, negotiated with ALPN (docs/sources.md#daphne-http2)"

    def websocket(self, options: Sequence[str], reading: Reading) -> str | None:
        return "autobahn"


STACKS = (
    Stack("daphne", "ASGI", Daphne(), (), dataclasses.replace(ASGI_APPS, db=None, upstream=None), port=8013),
)
