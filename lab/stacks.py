"""The server stacks, defined once: the runner, compose and the tests read it; the locustfiles match it."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lab import settings
from lab.errors import LabError


@dataclass(frozen=True)
class Limit:
    """Something in the app that lets one process serve only so many requests at once."""

    value: int | str  # a number, or "module:NAME" read from the app under the server's environment
    what: str  # "connections in the database pool": what the number counts
    name: str  # "db pool": the limit, in a word or two, where the report says which one binds


@dataclass(frozen=True)
class Target:
    """An app to serve and the path to load."""

    app: str  # import string, as gunicorn and uvicorn take it
    path: str = "/"
    limits: tuple[Limit, ...] = ()  # the app's own limits per process (thread pool, connection pool)


@dataclass(frozen=True)
class Slots:
    """How many requests a stack serves at once, derived from the command it runs."""

    count: int | None  # None: as many as arrive, until the CPU runs out
    why: str  # where that number comes from, for the report
    processes: int  # processes that serve requests
    binding: str = "event loop"  # the limit that sets count: "workers", "threads", or an app's limit

    def computing(self, cpus: int) -> Slots:
        """Requests that compute at once: a process runs Python on one core at a time (its GIL).

        Threads and coroutines overlap waiting, not computing: each process computes one
        request at a time, and no more processes at once than there are CPUs.
        """
        count = min(self.processes, cpus)
        per = f"{self.processes} process{'es' if self.processes > 1 else ''}"
        if cpus < self.processes:
            why = f"{per} but {cpus} CPUs, one request computing on each"
            return Slots(count, why, self.processes, "CPUs")
        why = f"{per}, each computing one request at a time (one GIL each)"
        return Slots(count, why, self.processes, "GIL")

    def bound_rps(self, users: int, seconds: float) -> float:
        """Little's law for a closed loop with no think time: in flight / time in the server."""
        in_flight = users if self.count is None else min(users, self.count)
        return in_flight / seconds


@dataclass(frozen=True)
class Stack:
    name: str
    interface: Literal["WSGI", "ASGI"]
    server: Literal["gunicorn", "uvicorn", "granian", "hypercorn", "daphne"]
    options: tuple[str, ...]
    slow: Target  # the request that waits SLOW_SECONDS on I/O
    hello: Target | None  # the cheapest request, for peak throughput; None where it teaches nothing
    db: Target | None  # a request that waits SLOW_SECONDS in PostgreSQL, through a connection pool
    upstream: Target | None  # a request that waits on another HTTP service, through a client's pool
    port: int  # where `python -m lab serve` puts it, and so where the locustfile looks by default
    cpu: Target | None = None  # a request that computes (CPU_ROUNDS hashes) and waits on nothing
    pitfall: bool = False  # a mistake on show, kept out of the default comparison
    env: tuple[tuple[str, str], ...] = ()  # set for the server process (the app reads it)
    threads: str | None = None  # what --threads sets: a server option, or an environment variable

    def target(self, kind: str) -> Target:
        """Its app of this kind ("slow", "cpu", ...); one line if it has none."""
        target: Target | None = getattr(self, kind)
        if target is None:
            raise LabError(f"{self.name} has no {kind!r} app")
        return target

    def command(self, target: Target, host: str = "127.0.0.1", port: int | None = None) -> list[str]:
        """The command line a student would type, with the bind address filled in."""
        port = self.port if port is None else port
        if self.server in ("gunicorn", "hypercorn"):
            bind = ["-b", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
        elif self.server == "daphne":
            bind = ["-b", host, "-p", str(port)]
        else:
            bind = ["--host", host, "--port", str(port)]
        return [self.server, *self.options, *bind, target.app]

    @property
    def user_class(self) -> str:
        """The locustfiles' User class for this stack: gunicorn-sync -> GunicornSync (a test holds them)."""
        return "".join(part.capitalize() for part in self.name.split("-"))

    @property
    def supervised(self) -> bool:
        """A master restarts its workers: gunicorn's arbiter, or uvicorn's --workers supervisor.

        Granian and Hypercorn also run their workers under a master, but neither replaces
        one that dies (Granian only with --respawn-failed-workers): they are not supervised.
        """
        if self.server == "granian":
            (got,) = settings.resolve([self.settings_query(self.slow)])
            return got.respawns
        return self.server == "gunicorn" or (self.server == "uvicorn" and self.slots(self.slow).processes > 1)

    def configured(self, workers: int | None = None, threads: int | None = None) -> Stack:
        """The same stack with another worker or thread count: the command and the theory change together."""
        options, env = self.options, dict(self.env)
        if workers is not None:
            if self.server == "daphne":
                raise LabError("daphne runs one process and has no --workers; choose another stack")
            flag = "-w" if self.server == "gunicorn" else "--workers"
            options = (*without(options, ("-w", "--workers")), flag, str(workers))
        if threads is not None:
            if self.threads is None:
                raise LabError(
                    f"{self.name} has no threads to set; --threads applies to: {', '.join(threaded())}"
                )
            if self.threads.startswith("-"):
                options = (*without(options, (self.threads,)), self.threads, str(threads))
            else:
                env[self.threads] = str(threads)
        return dataclasses.replace(self, options=options, env=tuple(sorted(env.items())))

    def with_env(self, **values: str) -> Stack:
        return dataclasses.replace(self, env=tuple(sorted({**dict(self.env), **values}.items())))

    def settings_query(self, target: Target) -> tuple[list[str], dict[str, str], list[str]]:
        refs = [limit.value for limit in target.limits if isinstance(limit.value, str)]
        return self.command(target), dict(self.env), refs

    def slots(self, target: Target) -> Slots:
        """Requests served at once: workers x the smallest per-process limit, or unbounded.

        Per process the limits are the server's (1 request per sync worker, N threads) and
        the app's own (a thread pool, a connection pool); in flight is the smallest of them.
        """
        (got,) = settings.resolve([self.settings_query(target)])
        read = iter(got.limits)
        per = f"{got.workers} worker{'s' if got.workers > 1 else ''}"
        limits: list[tuple[int, str, str]] = []  # (per process, what it counts, its name)
        if self.interface == "WSGI" and got.worker_class == "gevent":
            # Monkey-patched, every wait (a socket, time.sleep) yields to the worker's other greenlets.
            what = "greenlets (--worker-connections), 1 request each"
            limits.append((got.connections, what, "worker connections"))
        elif self.interface == "WSGI" and self.server == "granian":
            limits.append((got.threads, "blocking threads (--blocking-threads), 1 request each", "threads"))
        elif self.interface == "WSGI":
            what = "threads, 1 request per thread" if got.threads > 1 else "request each"
            limits.append((got.threads, what, "threads" if got.threads > 1 else "workers"))
        if got.backpressure:
            environ = {**os.environ, **dict(self.env)}
            given = (
                any(o.startswith("--backpressure") for o in self.options) or "GRANIAN_BACKPRESSURE" in environ
            )
            what = f"requests at once (--backpressure{'' if given else '; unset: --backlog / workers'})"
            limits.append((got.backpressure, what, "backpressure"))
        for limit in target.limits:
            value = next(read) if isinstance(limit.value, str) else limit.value
            limits.append((value, limit.what, limit.name))
        if not limits:
            loops = "1 event loop" if got.workers == 1 else f"{per}, each an event loop that"
            return Slots(None, f"{loops} overlaps every awaiting request", got.workers)
        n, what, name = min(limits, key=lambda limit: limit[0])
        why = f"{per} x {n} {what}"
        others = [f"{v} {w}" for v, w, other in limits if other != name]
        if others:
            why += f", the smallest limit per worker (also: {'; '.join(others)})"
        return Slots(got.workers * n, why, got.workers, name)


def without(options: tuple[str, ...], flags: tuple[str, ...]) -> tuple[str, ...]:
    """The options with every form of these valued flags removed: `-w 2`, `-w2`, `--workers=2`."""
    kept: list[str] = []
    skip = False
    for token in options:
        if skip:
            skip = False
        elif token in flags:
            skip = True  # its value is the next token
        elif not any(
            token.startswith(f + "=") or (len(f) == 2 and token.startswith(f) and token != f) for f in flags
        ):
            kept.append(token)
    return tuple(kept)


WSGI_HELLO, WSGI_SLOW = Target("wsgi.app:app"), Target("wsgi.slow_app:app")
ASGI_HELLO, ASGI_SLOW = Target("asgi.app:app"), Target("asgi.slow_app:app")
WSGI_CPU, ASGI_CPU = Target("wsgi.cpu_app:app"), Target("asgi.cpu_app:app")
# The real waits: a query in PostgreSQL through a connection pool, a call to another HTTP service.
WSGI_DB = Target(
    "wsgi.db_app:app", limits=(Limit("wsgi.db_app:POOL_SIZE", "connections in the database pool", "db pool"),)
)
ASGI_POOL = Limit("asgi.db_app:POOL_SIZE", "connections in the database pool", "db pool")
ASGI_DB = Target("asgi.db_app:app", limits=(ASGI_POOL,))
WSGI_UPSTREAM = Target(
    "wsgi.upstream_app:app",
    limits=(
        Limit(
            "wsgi.upstream_app:UPSTREAM_CONNECTIONS", "connections in the HTTP client's pool", "client pool"
        ),
    ),
)
ASGI_UPSTREAM = Target(
    "asgi.upstream_app:app",
    limits=(
        Limit(
            "asgi.upstream_app:UPSTREAM_CONNECTIONS", "connections in the HTTP client's pool", "client pool"
        ),
    ),
)
BLOCKED_LOOP = Limit(
    1, "request at a time: a blocking call inside async def stops the event loop", "blocked loop"
)

STACKS: tuple[Stack, ...] = (
    Stack(
        "gunicorn-sync", "WSGI", "gunicorn", ("-w", "4"),
        slow=WSGI_SLOW, hello=WSGI_HELLO, db=WSGI_DB, upstream=WSGI_UPSTREAM, port=8001, cpu=WSGI_CPU,
    ),
    Stack(
        # One worker: a keep-alive connection stays with the worker that accepted it, so
        # with -w 2 --threads 8 a worker holding 3 of the 50 connections idles 5 threads
        # (measured: 11.0 and 15.9 rps in two runs, bound 16). One pool of 16 holds its bound.
        "gunicorn-gthread", "WSGI", "gunicorn", ("-w", "1", "--threads", "16"),
        slow=WSGI_SLOW, hello=WSGI_HELLO, db=WSGI_DB, upstream=WSGI_UPSTREAM, port=8002, cpu=WSGI_CPU,
        threads="--threads",
    ),
    Stack(
        # One worker whose gevent hub overlaps every waiting request, as an event loop does, but for
        # a WSGI app: monkey-patching turns its blocking calls into yields. No ASGI needed.
        "gunicorn-gevent", "WSGI", "gunicorn", ("-w", "1", "-k", "gevent", "--worker-connections", "1000"),
        slow=WSGI_SLOW, hello=WSGI_HELLO, db=None, upstream=None, port=8009, cpu=WSGI_CPU,
    ),
    Stack(
        # Granian's WSGI side: a Rust server whose pool of Python threads runs the app. Sixteen
        # stated, as gthread's: the same slots on another server. (Unset: backpressure / 2 = 512.)
        "granian-wsgi", "WSGI", "granian",
        ("--interface", "wsgi", "--workers", "1", "--blocking-threads", "16"),
        slow=WSGI_SLOW, hello=WSGI_HELLO, db=WSGI_DB, upstream=WSGI_UPSTREAM, port=8010, cpu=WSGI_CPU,
        threads="--blocking-threads",
    ),
    Stack(
        "uvicorn", "ASGI", "uvicorn", (),
        slow=ASGI_SLOW, hello=ASGI_HELLO, db=ASGI_DB, upstream=ASGI_UPSTREAM, port=8003, cpu=ASGI_CPU,
    ),
    Stack(
        "uvicorn-workers", "ASGI", "uvicorn", ("--workers", "2"),
        slow=ASGI_SLOW, hello=ASGI_HELLO, db=ASGI_DB, upstream=ASGI_UPSTREAM, port=8004, cpu=ASGI_CPU,
    ),
    Stack(
        "gunicorn-uvicorn-worker", "ASGI", "gunicorn", ("-w", "2", "-k", "uvicorn_worker.UvicornWorker"),
        slow=ASGI_SLOW, hello=ASGI_HELLO, db=ASGI_DB, upstream=ASGI_UPSTREAM, port=8005, cpu=ASGI_CPU,
    ),
    Stack(
        "gunicorn-asgi", "ASGI", "gunicorn", ("-w", "2", "-k", "asgi"),
        slow=ASGI_SLOW, hello=ASGI_HELLO, db=ASGI_DB, upstream=ASGI_UPSTREAM, port=8006, cpu=ASGI_CPU,
    ),
    Stack(
        # The same server as granian-wsgi with the other interface: one event loop per worker.
        "granian-asgi", "ASGI", "granian", ("--interface", "asgi", "--workers", "1"),
        slow=ASGI_SLOW, hello=ASGI_HELLO, db=ASGI_DB, upstream=ASGI_UPSTREAM, port=8011, cpu=ASGI_CPU,
    ),
    Stack(
        "hypercorn", "ASGI", "hypercorn", ("--workers", "1"),
        slow=ASGI_SLOW, hello=ASGI_HELLO, db=ASGI_DB, upstream=ASGI_UPSTREAM, port=8012, cpu=ASGI_CPU,
    ),
    Stack(
        # Django Channels' server, on Twisted: one process, always.
        "daphne", "ASGI", "daphne", (),
        slow=ASGI_SLOW, hello=ASGI_HELLO, db=ASGI_DB, upstream=ASGI_UPSTREAM, port=8013, cpu=ASGI_CPU,
    ),
    Stack(
        "fastapi-def", "ASGI", "uvicorn", (),
        slow=Target("asgi.fastapi_app:app", "/slow-sync", (
            Limit("asgi.fastapi_app:THREAD_LIMIT",
                  "threads of anyio's pool (THREAD_LIMIT), where a plain `def` route runs", "thread pool"),
        )),
        hello=Target("asgi.fastapi_app:app"),
        # The pitfall with a real driver: 40 threads share a pool of POOL_SIZE connections.
        db=Target("asgi.db_app:app", "/def", (
            Limit("asgi.db_app:THREAD_LIMIT", "threads of anyio's pool (THREAD_LIMIT)", "thread pool"),
            ASGI_POOL,
        )),
        upstream=None, port=8007, pitfall=True, threads="THREAD_LIMIT",
    ),
    Stack(
        "blocking-async", "ASGI", "uvicorn", (),
        slow=Target("asgi.blocking_app:app", limits=(BLOCKED_LOOP,)),
        hello=None,
        db=Target("asgi.db_app:app", "/sync-in-async", (BLOCKED_LOOP,)),  # a sync driver
        upstream=None, port=8008, pitfall=True,
    ),
)  # fmt: skip


def size_all(pairs: Sequence[tuple[Stack, Target]]) -> list[Slots]:
    """The slots of many stacks, their commands resolved together (one child process per environment)."""
    settings.resolve([stack.settings_query(target) for stack, target in pairs])
    return [stack.slots(target) for stack, target in pairs]


def threaded() -> list[str]:
    return [stack.name for stack in STACKS if stack.threads]


BY_NAME = {stack.name: stack for stack in STACKS}


def get(name: str) -> Stack:
    try:
        return BY_NAME[name]
    except KeyError:
        raise LabError(f"unknown stack {name!r}; choose from: {', '.join(BY_NAME)}") from None


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: Literal["slow", "hello", "db", "upstream", "cpu"]  # which Target of each stack it loads
    stacks: tuple[Stack, ...]  # the default choice
    one_at_a_time: bool  # True when stacks would otherwise compete for the CPU
    about: str
    open_loop: bool = False  # arrivals on a clock (lab.overload), not users who wait for answers


SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            "slow", "slow", tuple(s for s in STACKS if not s.pitfall), False,
            "every request waits SLOW_SECONDS on I/O; all stacks at once",
        ),
        Scenario(
            "hello", "hello", tuple(s for s in STACKS if not s.pitfall), True,
            "peak throughput of a trivial response; one stack at a time",
        ),
        Scenario(
            "cpu", "cpu", tuple(s for s in STACKS if not s.pitfall), True,
            "every request computes CPU_ROUNDS hashes and waits on nothing; one stack at a time",
        ),
        Scenario(
            "pitfalls", "slow", tuple(s for s in STACKS if s.pitfall), False,
            "FastAPI's thread-pool cap and time.sleep inside async def",
        ),
        Scenario(
            "connections", "slow", tuple(s for s in STACKS if not s.pitfall), True,
            "long-lived connections held open: streams on every stack, WebSockets on the ASGI ones",
        ),
        Scenario(
            "db", "db", tuple(s for s in STACKS if not s.pitfall), False,
            "every request waits SLOW_SECONDS in a real PostgreSQL, through a pool of --pool connections",
        ),
        Scenario(
            "upstream", "upstream", tuple(s for s in STACKS if not s.pitfall), False,
            "each request calls an HTTP service that waits SLOW_SECONDS, through one client per process",
        ),
        Scenario(
            "overload", "slow",
            tuple(s for s in STACKS if s.name in ("gunicorn-sync", "gunicorn-gthread", "granian-wsgi")),
            True,
            "open loop: arrivals on a clock, stepped from below each stack's bound to above it", True,
        ),
        Scenario(
            "overload-cpu", "cpu", tuple(s for s in STACKS if not s.pitfall and s.cpu), True,
            "open loop on the computing app: every stack's knee at its CPU, one at a time", True,
        ),
    )
}  # fmt: skip


def serving(kind: str) -> tuple[Stack, ...]:
    """Every stack that has an app of this kind ("slow", "hello", "db", "upstream" or "cpu")."""
    return tuple(stack for stack in STACKS if getattr(stack, kind) is not None)


WEBSOCKET = Target("asgi.websocket_app:app")


def websocket_stacks() -> tuple[Stack, ...]:
    """The stacks that can serve WebSockets: ASGI servers (the pitfalls aside)."""
    return tuple(stack for stack in STACKS if stack.interface == "ASGI" and not stack.pitfall)


def choose(names: str | None, scenario: Scenario) -> tuple[Stack, ...]:
    """The stacks named in a comma-separated list, or the scenario's default ones."""
    if not names:
        return scenario.stacks
    chosen = tuple(get(name.strip()) for name in names.split(",") if name.strip())
    if not chosen:
        raise LabError("--stacks names no stack")
    for stack in chosen:
        if getattr(stack, scenario.kind) is None:
            raise LabError(
                f"stack {stack.name!r} has no {scenario.kind!r} app for scenario {scenario.name!r}"
            )
    return chosen
