"""gunicorn: a master (its arbiter) over worker processes of one class: sync, gthread, gevent, or ASGI."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, ClassVar

from lab.apps import ASGI_APPS as ASGI
from lab.apps import WSGI_APPS as WSGI
from lab.apps import Limit
from lab.servers.base import BACKLOG, Admission, Reading, Record, Stack


class Gunicorn(Record):
    name = program = module = package = "gunicorn"
    workers = ("-w", "--workers")
    threads = ("--threads",)
    reload = "--reload"
    timeout = "--timeout"  # a silent worker is killed: docs/sources.md#gunicorn-worker-timeout
    admission: ClassVar[dict[str, Admission]] = {"--backlog": BACKLOG}
    # SIGTERM: the workers stop accepting and finish what is in flight (docs/sources.md#gunicorn-sigterm).
    drains = True
    h2_streams = 100

    def bind(self, host: str, port: int) -> list[str]:
        return ["-b", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]

    def read(self, options: list[str]) -> Reading:
        from gunicorn.app.base import Application

        class Settings(Application):  # type: ignore[misc]  # gunicorn ships no types
            """gunicorn's own loading: command line, GUNICORN_CMD_ARGS, ./gunicorn.conf.py, defaults."""

            def init(self, parser: Any, opts: Any, args: Any) -> None:
                return None

            def load(self) -> None:
                return None

        sys.argv = ["gunicorn", *options]  # gunicorn parses sys.argv; the reading child exists for that
        cfg = Settings().cfg
        worker = str(cfg.worker_class_str)
        threads = int(cfg.threads)
        if worker in ("sync", "gthread"):  # gunicorn makes sync with --threads > 1 a gthread worker
            limit = (
                Limit(threads, "threads, 1 request per thread", "threads")
                if threads > 1
                else Limit(1, "request each", "workers")
            )
            limits: tuple[Limit, ...] = (limit,)
        elif worker == "gevent":  # a greenlet per connection, up to --worker-connections
            limits = (
                Limit(
                    int(cfg.worker_connections),
                    "greenlets (--worker-connections), 1 request each",
                    "worker connections",
                ),
            )
        else:  # an event loop per worker: -k asgi, uvicorn_worker.UvicornWorker
            limits = ()
        # The arbiter replaces dead workers. The access log: gunicorn's own rule, in glogging.py
        # (docs/sources.md#gunicorn-access-log); the Uvicorn worker writes to the same handlers.
        logs = cfg.accesslog or cfg.logconfig or cfg.logconfig_dict or cfg.logconfig_json
        logs = logs or (cfg.syslog and not cfg.disable_redirect_access_to_syslog)
        return Reading(int(cfg.workers), limits, worker, respawns=True, access_log=bool(logs))

    def forks(self, reading: Reading) -> bool:
        return True  # the arbiter over its workers, even -w 1

    def websocket(self, options: Sequence[str], reading: Reading) -> str | None:
        if reading.worker == "asgi":
            # Its own code, which negotiates no extension (docs/sources.md#gunicorn-asgi-websocket).
            return "gunicorn (no deflate)"
        if "UvicornWorker" in reading.worker:
            return "uvicorn's auto"
        return None  # WSGI workers: a request and its response, nothing more

    def h2c(self, reading: Reading) -> tuple[str, ...] | str:
        if reading.worker == "sync":
            # It logs "HTTP/2 is not supported by the sync worker" and serves HTTP/1.1
            # (docs/sources.md#gunicorn-h2c).
            return "gunicorn's sync worker speaks no HTTP/2: it falls back to HTTP/1.1"
        if "UvicornWorker" in reading.worker:
            return "the Uvicorn worker runs uvicorn's own HTTP parsers: gunicorn's HTTP/2 settings miss them"
        # Both flags and the h2 package, gunicorn[http2]; `both` keeps HTTP/1.1 served on the same port
        # (docs/sources.md#gunicorn-h2c).
        return ("--http-protocols", "h2,h1", "--http2-cleartext", "both")

    def streams_overlap(self, reading: Reading) -> bool:
        # gthread hands a connection to one thread, and the gevent worker loops over a connection's
        # requests in its one greenlet: either way streams are served one after another
        # (docs/sources.md#gunicorn-h2-streams). The ASGI worker runs each stream as a task.
        return reading.worker == "asgi"


GUNICORN = Gunicorn()

STACKS = (
    Stack("gunicorn-sync", "WSGI", GUNICORN, ("-w", "4"), WSGI, port=8001),
    # One worker: a keep-alive connection stays with the worker that accepted it, so with -w 2
    # --threads 8 a worker holding 3 of the 50 connections idles 5 threads (measured once: 11.0
    # and 15.9 rps in two runs, bound 16). One pool of 16 holds its bound.
    Stack("gunicorn-gthread", "WSGI", GUNICORN, ("-w", "1", "--threads", "16"), WSGI, port=8002,
          threaded=True),
    # One worker whose gevent hub overlaps every waiting request, as an event loop does, but for a
    # WSGI app: monkey-patching turns its blocking calls (sockets, time.sleep, psycopg's waits) into yields.
    Stack("gunicorn-gevent", "WSGI", GUNICORN, ("-w", "1", "-k", "gevent", "--worker-connections", "1000"),
          WSGI, port=8009),
    Stack("gunicorn-uvicorn-worker", "ASGI", GUNICORN, ("-w", "2", "-k", "uvicorn_worker.UvicornWorker"),
          ASGI, port=8005),
    Stack("gunicorn-asgi", "ASGI", GUNICORN, ("-w", "2", "-k", "asgi"), ASGI, port=8006),
)  # fmt: skip
