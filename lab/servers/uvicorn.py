"""uvicorn: one event loop per process; with --workers N, a supervisor over N of them."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import ClassVar

from lab import apps
from lab.apps import ASGI_APPS as ASGI
from lab.apps import Apps, Limit, Target
from lab.servers.base import BACKLOG, Admission, Reading, Record, Stack


class Uvicorn(Record):
    name = program = module = package = "uvicorn"
    workers = ("--workers",)
    reload = "--reload"
    admission: ClassVar[dict[str, Admission]] = {
        # Counted when a request's headers are complete: open connections (idle keep-alive ones and
        # the asker's own included) or running requests reaching N
        # (docs/sources.md#uvicorn-limit-concurrency).
        "--limit-concurrency": Admission(
            "open connections or requests in flight",
            "answers 503 at once",
            True,
            # Under uvloop (what --loop auto picks here) libuv accepts one connection per loop pass, and
            # the loop does not turn while a request computes: the queue waits in the kernel, uncounted.
            # With UVICORN_LOOP=asyncio the selector accepts up to --backlog per pass, and they count
            # (docs/sources.md#uvicorn-limit-concurrency-loop).
            unseen="under uvloop (--loop auto) it accepts one connection per loop pass, and the loop does not"
            " turn while a request computes, so the queue waits in the kernel's listen queue, where the"
            " limit cannot count it; with UVICORN_LOOP=asyncio it accepts every waiting connection at once.",
        ),
        "--backlog": BACKLOG,
    }
    # SIGTERM: in-flight requests finish, with no time limit by default (docs/sources.md#uvicorn-sigterm).
    drains = True
    h2_streams = 100

    def bind(self, host: str, port: int) -> list[str]:
        return ["--host", host, "--port", str(port)]

    def read(self, options: list[str]) -> Reading:
        from uvicorn.config import Config
        from uvicorn.main import main as command

        params = command.make_context("uvicorn", options).params
        # uvicorn's Config applies WEB_CONCURRENCY when --workers is absent, as the server will.
        processes = Config(params["app"], workers=params["workers"]).workers
        limits: tuple[Limit, ...] = ()
        if params["limit_concurrency"] is not None:
            n = int(params["limit_concurrency"])
            if n < 2:
                raise SystemExit(
                    "--limit-concurrency must be 2 or more: uvicorn counts the asking connection too"
                )
            limits = (
                Limit(
                    n - 1,
                    f"requests at once before it answers 503 (--limit-concurrency {n} counts the "
                    "asking connection too)",
                    "--limit-concurrency",
                ),
            )
        # --workers N: a supervisor process restarts a worker that dies (docs/sources.md#uvicorn-supervisor).
        # Its access log is on unless --no-access-log (docs/sources.md#uvicorn-access-log).
        return Reading(processes, limits, "uvicorn", respawns=processes > 1, access_log=params["access_log"])

    def forks(self, reading: Reading) -> bool:
        return reading.processes > 1  # one process serves itself; --workers N runs them under a supervisor

    def h2c(self, reading: Reading) -> tuple[str, ...] | str:
        # HTTP/2 only through the separate zttp package: h2 over TLS by ALPN, cleartext h2c with prior
        # knowledge (docs/sources.md#uvicorn-http2). Its default parsers, httptools and h11, speak HTTP/1.1.
        if importlib.util.find_spec("zttp") is None:
            return "uvicorn's HTTP/2 needs the zttp package (pip install zttp), which is not installed here"
        return ("--http", "zttp", "--http2")

    def websocket(self, options: Sequence[str], reading: Reading) -> str | None:
        return options[options.index("--ws") + 1] if "--ws" in options else "auto"

    def no_reload(self, reading: Reading) -> str | None:
        if reading.processes > 1:
            # uvicorn itself does not refuse: it logs '"workers" flag is ignored when reloading is
            # enabled.' and runs one process (docs/sources.md#uvicorn-reload-workers).
            return "with --reload uvicorn ignores --workers and runs one process: use the 'uvicorn' stack"
        return None


UVICORN = Uvicorn()

STACKS = (
    Stack("uvicorn", "ASGI", UVICORN, (), ASGI, port=8003),
    Stack("uvicorn-workers", "ASGI", UVICORN, ("--workers", "2"), ASGI, port=8004),
    # The pitfalls, on uvicorn: a plain `def` route in anyio's thread pool (40 threads unless
    # THREAD_LIMIT says otherwise), and a blocking call inside `async def`.
    Stack(
        "fastapi-def", "ASGI", UVICORN, (),
        Apps(
            slow=Target("asgi.fastapi_app:app", "/slow-sync", (apps.THREAD_POOL,)),
            hello=Target("asgi.fastapi_app:app"),
            # The pitfall with a real driver: 40 threads share a pool of POOL_SIZE connections.
            db=Target("asgi.db_app:app", "/def", (
                Limit("asgi.db_app:THREAD_LIMIT", "threads of anyio's pool (THREAD_LIMIT)", "thread pool"),
                apps.ASGI_POOL,
            )),
            upstream=None, cpu=None,
        ),
        port=8007, pitfall=True, threaded=True, thread_setting="THREAD_LIMIT",
    ),
    Stack(
        "blocking-async", "ASGI", UVICORN, (),
        Apps(
            slow=Target("asgi.blocking_app:app", limits=(apps.BLOCKED_LOOP,)), hello=None,
            db=Target("asgi.db_app:app", "/sync-in-async", (apps.BLOCKED_LOOP,)),  # a sync driver
            upstream=None, cpu=None,
        ),
        port=8008, pitfall=True,
    ),
)  # fmt: skip
