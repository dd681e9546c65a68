"""Waitress: the pure-Python threaded WSGI server, one process, that runs natively on Windows."""

from __future__ import annotations

import getopt
from typing import ClassVar

from lab.apps import WSGI_APPS, Limit
from lab.servers.base import BACKLOG, Admission, Reading, Record, Stack


class Waitress(Record):
    name = package = "waitress"
    program = "waitress-serve"
    module = "waitress"  # `python -m waitress` runs waitress-serve (and exits 0 even on an error)
    threads = ("--threads",)
    admission: ClassVar[dict[str, Admission]] = {
        # Counted over every open connection, idle keep-alive ones included; past it Waitress stops
        # accepting, and the rest wait in the kernel's listen queue
        # (docs/sources.md#waitress-connection-limit).
        "--connection-limit": Admission(
            "open connections, idle ones included", "the rest wait in the kernel's listen queue", False
        ),
        "--backlog": BACKLOG,
    }
    # It installs no signal handler: SIGTERM ends the process at once, dropping what is in flight.
    # SIGINT drains for up to 5 s (docs/sources.md#waitress-sigterm), so a container stops it with that.
    drains = False
    stop_signal = "SIGINT"

    def bind(self, host: str, port: int) -> list[str]:
        return ["--listen", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]

    def read(self, options: list[str]) -> Reading:
        """Waitress's own getopt parser and Adjustments, which apply its defaults; nothing served."""
        from waitress.adjustments import Adjustments  # type: ignore[import-untyped]  # no types shipped

        try:
            settings, apps = Adjustments.parse_args(options)
        except getopt.GetoptError as error:
            raise SystemExit(f"waitress-serve: {error}") from None
        if settings.pop("help"):
            raise SystemExit(f"waitress-serve {' '.join(options)} starts no server")
        settings.pop("call")
        if len(apps) != 1:  # getopt stops at the first argument that is not an option
            raise SystemExit("waitress-serve: give one app, after every option")
        try:
            adjustments = Adjustments(**settings)
        except ValueError as error:
            raise SystemExit(f"waitress-serve: {error}") from None
        # One request per thread; the connection limit counts its own listening socket and its
        # wake-up pipe too (docs/sources.md#waitress-connection-limit).
        sockets = 2 * len(adjustments.listen)
        limits = (
            Limit(int(adjustments.threads), "threads (--threads), 1 request each", "threads"),
            Limit(
                int(adjustments.connection_limit) - sockets,
                "connections (--connection-limit)",
                "connection limit",
            ),
        )
        # One process: nothing replaces it. It writes no access log (docs/sources.md#waitress-access-log).
        return Reading(1, limits, "waitress", respawns=False, access_log=False)

    def h2c(self, reading: Reading) -> tuple[str, ...] | str:
        return "Waitress speaks HTTP/1.0 and 1.1 only (docs/sources.md#waitress-no-http2)"


STACKS = (
    # Sixteen threads, as gthread's and granian-wsgi's: the same slots on a third server.
    Stack("waitress", "WSGI", Waitress(), ("--threads", "16"), WSGI_APPS, port=8014, threaded=True),
)
