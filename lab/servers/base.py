"""What a server record holds, and a stack: a server run with its options on an app.

A record (one module per server in this folder) is the one place a fact about a server lives:
how its command is built, how its own parser reads that command back (`read`, run in a child
process by lab.servers.reading), what its admission settings count, whether it replaces a dead
worker, what it does on SIGTERM, its WebSocket and HTTP/2 support, and why it cannot serve an
app. Facts about another project's behaviour name their evidence in docs/sources.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from lab.apps import Apps, Limit, Target
from lab.errors import LabError


@dataclass(frozen=True)
class Reading:
    """A command as the server's own parser resolved it: what the slots are made of."""

    processes: int  # processes that serve requests
    limits: tuple[Limit, ...]  # the server's own limits per process on requests at once
    worker: str  # gunicorn's worker class; the server's name elsewhere
    respawns: bool  # a worker that dies is replaced by the server itself
    access_log: bool = False  # it writes a line per request (a cost on a trivial request)
    app_limits: tuple[int, ...] = ()  # the app's own limits asked for, read from the app

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "limits": [dataclasses.astuple(limit) for limit in self.limits]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reading:
        limits = tuple(Limit(*limit) for limit in data.pop("limits"))
        return cls(**{**data, "limits": limits, "app_limits": tuple(data["app_limits"])})


@dataclass(frozen=True)
class Admission:
    """A setting that caps what a server takes in, and what it does past the cap."""

    counts: str  # what the number counts: "connections", "connections and requests"
    past: str  # what happens past it: "answers 503 at once", "waits in the kernel's listen queue"
    refuses: bool  # past it, requests are refused at once (True) or queue (False)
    unseen: str = ""  # why it may refuse nothing when requests compute rather than wait


# Every server's --backlog: the kernel's listen queue, which the server hands to listen().
BACKLOG = Admission("connections waiting to be accepted", "the kernel refuses or drops new ones", False)


class Record:
    """One server: its command, how its parser reads it, and what it does (see the module docstring)."""

    name: ClassVar[str]  # as a stack names its server
    program: ClassVar[str]  # the command a student types
    module: ClassVar[str]  # what `python -m` runs: the same server from this Python
    package: ClassVar[str]  # its distribution, for "not installed" and the report's versions
    workers: ClassVar[
        tuple[str, ...]
    ] = ()  # the flag's spellings that set worker processes; none: one process
    threads: ClassVar[tuple[str, ...]] = ()  # the flag's spellings that set threads per worker
    reload: ClassVar[str | None] = None  # the flag that restarts it on code changes, where it has one
    timeout: ClassVar[str | None] = None  # the flag of a per-request worker timeout, where it has one
    admission: ClassVar[dict[str, Admission]] = {}  # flag -> what it caps
    drains: ClassVar[bool] = True  # on SIGTERM, requests in flight finish (else they are dropped)
    stop_signal: ClassVar[str] = "SIGTERM"  # what a container stop sends it: the signal it stops cleanly on
    h2_streams: ClassVar[int] = 0  # streams a connection may carry at once (SETTINGS_MAX_CONCURRENT_STREAMS)
    beside_gil: ClassVar[bool] = False  # its HTTP work runs in threads outside the GIL
    left_out: ClassVar[dict[str, str]] = {}  # kind of app -> why the server cannot serve it

    def bind(self, host: str, port: int) -> list[str]:
        """Its options that name the address to listen on."""
        raise NotImplementedError

    def read(self, options: list[str]) -> Reading:
        """In a child process (lab.servers.reading): the server's own parser on its options."""
        raise NotImplementedError

    def forks(self, reading: Reading) -> bool:
        """It serves from worker processes under a master (else the one process is the server)."""
        return False

    def supervises(self, reading: Reading) -> bool:
        """A worker that dies is replaced, and the server keeps serving."""
        return reading.respawns

    def websocket(self, options: Sequence[str], reading: Reading) -> str | None:
        """The WebSocket implementation it runs with these options; None: it serves no WebSockets."""
        return None

    def h2c(self, reading: Reading) -> tuple[str, ...] | str:
        """The options it needs to speak cleartext HTTP/2 (h2c), or why it cannot."""
        return f"{self.name} speaks no HTTP/2"

    def streams_overlap(self, reading: Reading) -> bool:
        """Over HTTP/2, a connection's streams are served at once (else one after another)."""
        return True

    def no_reload(self, reading: Reading) -> str | None:
        """Why this command cannot run with auto-reload; None: it can."""
        return None if self.reload else f"{self.name} has no --reload: restart it by hand"


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
            return Slots(
                count, f"{per} but {cpus} CPUs, one request computing on each", self.processes, "CPUs"
            )
        return Slots(
            count, f"{per}, each computing one request at a time (one GIL each)", self.processes, "GIL"
        )

    def bound_rps(self, users: int, seconds: float) -> float:
        """Little's law for a closed loop with no think time: in flight / time in the server."""
        in_flight = users if self.count is None else min(users, self.count)
        return in_flight / seconds


Kind = Literal["slow", "hello", "db", "upstream", "cpu"]


@dataclass(frozen=True)
class Stack:
    """A server run with these options on the lab's apps: one row of every comparison."""

    name: str
    interface: Literal["WSGI", "ASGI"]
    server: Record
    options: tuple[str, ...]
    apps: Apps  # what it serves in each scenario
    port: int  # where `python -m lab serve` puts it, and so where the locustfile looks by default
    pitfall: bool = False  # a mistake on show, kept out of the default comparison
    env: tuple[tuple[str, str], ...] = ()  # set for the server process (the app reads it)
    thread_setting: str | None = None  # what --threads sets: the app's variable; else the server's flag
    threaded: bool = False  # --threads applies (the server's threads flag, or thread_setting)

    @property
    def slow(self) -> Target:
        return self.apps.slow

    @property
    def hello(self) -> Target | None:
        return self.apps.hello

    @property
    def db(self) -> Target | None:
        return self.apps.db

    @property
    def upstream(self) -> Target | None:
        return self.apps.upstream

    @property
    def cpu(self) -> Target | None:
        return self.apps.cpu

    def target(self, kind: str) -> Target:
        """Its app of this kind ("slow", "cpu", ...); one line saying why if it has none."""
        target: Target | None = getattr(self.apps, kind, None)
        if target is None:
            why = self.server.left_out.get(kind, "the lab has no such app for it")
            raise LabError(f"{self.name} has no {kind!r} app: {why}")
        return target

    def command(self, target: Target, host: str = "127.0.0.1", port: int | None = None) -> list[str]:
        """The command line a student would type, with the bind address filled in."""
        bind = self.server.bind(host, self.port if port is None else port)
        return [self.server.program, *self.options, *bind, target.app]

    def argv(self, target: Target, host: str, port: int) -> list[str]:
        """The same command as this Python runs it: `python -m <module>`, the server of this environment."""
        return [self.server.module, *self.command(target, host, port)[1:]]

    def typed(self, target: Target) -> str:
        """The command as the docs show it: its environment, no bind address."""
        return " ".join([*(f"{k}={v}" for k, v in self.env), self.server.program, *self.options, target.app])

    @property
    def user_class(self) -> str:
        """The locustfiles' User class for this stack: gunicorn-sync -> GunicornSync (a test holds them)."""
        return "".join(part.capitalize() for part in self.name.split("-"))

    def reading(self, target: Target | None = None) -> Reading:
        from lab.servers.reading import read  # the child process that runs the server's parser

        return read(self, target or self.slow)

    def slots(self, target: Target) -> Slots:
        from lab.servers.reading import slots

        return slots(self, target)

    @property
    def supervised(self) -> bool:
        """A dead worker is replaced (gunicorn's arbiter, uvicorn's supervisor, Granian when asked)."""
        return self.server.supervises(self.reading())

    def configured(self, workers: int | None = None, threads: int | None = None) -> Stack:
        """The same stack with another worker or thread count: the command and the theory change together."""
        options, env = self.options, dict(self.env)
        if workers is not None:
            if not self.server.workers:
                raise LabError(
                    f"{self.server.name} runs one process and has no --workers; choose another stack"
                )
            options = (*without(options, self.server.workers), self.server.workers[0], str(workers))
        if threads is not None:
            if not self.threaded:
                from lab.stacks import threaded  # the matrix is built from the records: imported when asked

                raise LabError(
                    f"{self.name} has no threads to set; --threads applies to: {', '.join(threaded())}"
                )
            if self.thread_setting:
                env[self.thread_setting] = str(threads)
            else:
                options = (*without(options, self.server.threads), self.server.threads[0], str(threads))
        return dataclasses.replace(self, options=options, env=tuple(sorted(env.items())))

    def with_options(self, *options: str) -> Stack:
        """The stack with these options added: admission settings, HTTP/2."""
        return dataclasses.replace(self, options=(*self.options, *options))

    def with_env(self, **values: str) -> Stack:
        return dataclasses.replace(self, env=tuple(sorted({**dict(self.env), **values}.items())))


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
