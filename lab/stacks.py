"""The server stacks, defined once. The locustfile, the runner, compose and the tests read this."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Literal

from lab.errors import LabError


@dataclass(frozen=True)
class Target:
    """An app to serve and the path to load."""

    app: str  # import string, as gunicorn and uvicorn take it
    path: str = "/"


@dataclass(frozen=True)
class Stack:
    name: str
    interface: Literal["WSGI", "ASGI"]
    server: Literal["gunicorn", "uvicorn"]
    options: tuple[str, ...]
    slots: int | None  # requests served at once; None: as many as arrive, until the CPU runs out
    slots_why: str  # where that number comes from, for the report
    slow: Target  # the request that waits SLOW_SECONDS on I/O
    hello: Target | None  # the cheapest request, for peak throughput; None where it teaches nothing
    port: int  # where `python -m lab serve` puts it, and so where the locustfile looks by default
    pitfall: bool = False  # a mistake on show, kept out of the default comparison

    def command(self, target: Target, host: str = "127.0.0.1", port: int | None = None) -> list[str]:
        """The command line a student would type, with the bind address filled in."""
        port = self.port if port is None else port
        if self.server == "gunicorn":
            bind = ["-b", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
        else:
            bind = ["--host", host, "--port", str(port)]
        return [self.server, *self.options, *bind, target.app]

    @property
    def user_class(self) -> str:
        """The locustfile's User class for this stack: gunicorn-sync -> GunicornSync."""
        return "".join(part.capitalize() for part in self.name.split("-"))

    @property
    def processes(self) -> int:
        """Processes that serve requests: the workers behind a master, or the one uvicorn process."""
        for flag in ("-w", "--workers"):
            if flag in self.options:
                return int(self.options[self.options.index(flag) + 1])
        return 1

    @property
    def supervised(self) -> bool:
        """A master restarts its workers: gunicorn's arbiter, or uvicorn's --workers supervisor."""
        return self.server == "gunicorn" or self.processes > 1

    def bound_rps(self, users: int, seconds: float) -> float:
        """Little's law for a closed loop with no think time: in flight / time in the server."""
        in_flight = users if self.slots is None else min(users, self.slots)
        return in_flight / seconds


WSGI_HELLO, WSGI_SLOW = Target("wsgi.app:app"), Target("wsgi.slow_app:app")
ASGI_HELLO, ASGI_SLOW = Target("asgi.app:app"), Target("asgi.slow_app:app")

STACKS: tuple[Stack, ...] = (
    Stack(
        "gunicorn-sync", "WSGI", "gunicorn", ("-w", "4"),
        slots=4, slots_why="4 workers x 1 request each",
        slow=WSGI_SLOW, hello=WSGI_HELLO, port=8001,
    ),
    Stack(
        # One worker: a keep-alive connection stays with the worker that accepted it, so
        # with -w 2 --threads 8 a worker holding 3 of the 50 connections idles 5 threads
        # (measured: 11.0 and 15.9 rps in two runs, bound 16). One pool of 16 holds its bound.
        "gunicorn-gthread", "WSGI", "gunicorn", ("-w", "1", "--threads", "16"),
        slots=16, slots_why="1 worker x 16 threads, 1 request per thread",
        slow=WSGI_SLOW, hello=WSGI_HELLO, port=8002,
    ),
    Stack(
        "uvicorn", "ASGI", "uvicorn", (),
        slots=None, slots_why="1 event loop overlaps every awaiting request",
        slow=ASGI_SLOW, hello=ASGI_HELLO, port=8003,
    ),
    Stack(
        "uvicorn-workers", "ASGI", "uvicorn", ("--workers", "2"),
        slots=None, slots_why="2 processes, each an event loop that overlaps every request",
        slow=ASGI_SLOW, hello=ASGI_HELLO, port=8004,
    ),
    Stack(
        "gunicorn-uvicorn-worker", "ASGI", "gunicorn", ("-w", "2", "-k", "uvicorn_worker.UvicornWorker"),
        slots=None, slots_why="2 gunicorn workers, each a uvicorn event loop",
        slow=ASGI_SLOW, hello=ASGI_HELLO, port=8005,
    ),
    Stack(
        "gunicorn-asgi", "ASGI", "gunicorn", ("-w", "2", "-k", "asgi"),
        slots=None, slots_why="2 workers of gunicorn's own ASGI event loop",
        slow=ASGI_SLOW, hello=ASGI_HELLO, port=8006,
    ),
    Stack(
        "fastapi-def", "ASGI", "uvicorn", (),
        slots=40, slots_why="a plain `def` route runs in anyio's pool of 40 threads",
        slow=Target("asgi.fastapi_app:app", "/slow-sync"), hello=Target("asgi.fastapi_app:app"),
        port=8007, pitfall=True,
    ),
    Stack(
        "blocking-async", "ASGI", "uvicorn", (),
        slots=1, slots_why="time.sleep inside async def blocks the one event loop",
        slow=Target("asgi.blocking_app:app"), hello=None, port=8008, pitfall=True,
    ),
)  # fmt: skip

BY_NAME = {stack.name: stack for stack in STACKS}


def locust_host(stack: Stack) -> str:
    """Where the locustfiles send a stack's users.

    LAB_HOSTS names stacks one by one (compare.py, on free ports); LAB_HOST_PATTERN is
    the rule for all (docker/compose.yaml: http://{name}:8000); else the stack's fixed port.
    """
    hosts: dict[str, str] = json.loads(os.environ.get("LAB_HOSTS", "{}"))
    pattern = os.environ.get("LAB_HOST_PATTERN", "http://127.0.0.1:{port}")
    return hosts.get(stack.name) or pattern.format(name=stack.name, port=stack.port)


def get(name: str) -> Stack:
    try:
        return BY_NAME[name]
    except KeyError:
        raise LabError(f"unknown stack {name!r}; choose from: {', '.join(BY_NAME)}") from None


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: Literal["slow", "hello"]  # which Target of each stack it loads
    stacks: tuple[Stack, ...]  # the default choice
    one_at_a_time: bool  # True when stacks would otherwise compete for the CPU
    about: str


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
            "pitfalls", "slow", tuple(s for s in STACKS if s.pitfall), False,
            "FastAPI's thread-pool cap and time.sleep inside async def",
        ),
        Scenario(
            "connections", "slow", tuple(s for s in STACKS if not s.pitfall), True,
            "long-lived connections held open: streams on every stack, WebSockets on the ASGI ones",
        ),
    )
}  # fmt: skip


def serving(kind: str) -> tuple[Stack, ...]:
    """Every stack that has an app of this kind ("slow" or "hello")."""
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
