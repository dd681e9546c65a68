"""The teaching apps the stacks serve, and the limits an app sets on itself (a pool, a thread limit)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

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

    app: str  # import string, as every server here takes it
    path: str = "/"
    limits: tuple[Limit, ...] = ()  # the app's own limits per process (thread pool, connection pool)


def pool(module: str, name: str, what: str, short: str) -> Limit:
    return Limit(f"{module}:{name}", what, short)


DB_POOL = "connections in the database pool"
CLIENT_POOL = "connections in the HTTP client's pool"

WSGI_HELLO, WSGI_SLOW = Target("wsgi.app:app"), Target("wsgi.slow_app:app")
ASGI_HELLO, ASGI_SLOW = Target("asgi.app:app"), Target("asgi.slow_app:app")
WSGI_CPU, ASGI_CPU = Target("wsgi.cpu_app:app"), Target("asgi.cpu_app:app")
# The real waits: a query in PostgreSQL through a connection pool, a call to another HTTP service.
ASGI_POOL = pool("asgi.db_app", "POOL_SIZE", DB_POOL, "db pool")
WSGI_DB = Target("wsgi.db_app:app", limits=(pool("wsgi.db_app", "POOL_SIZE", DB_POOL, "db pool"),))
ASGI_DB = Target("asgi.db_app:app", limits=(ASGI_POOL,))
WSGI_UPSTREAM = Target(
    "wsgi.upstream_app:app",
    limits=(pool("wsgi.upstream_app", "UPSTREAM_CONNECTIONS", CLIENT_POOL, "client pool"),),
)
ASGI_UPSTREAM = Target(
    "asgi.upstream_app:app",
    limits=(pool("asgi.upstream_app", "UPSTREAM_CONNECTIONS", CLIENT_POOL, "client pool"),),
)


@dataclass(frozen=True)
class Apps:
    """What a stack serves in each scenario, by kind; None where it has no such app."""

    slow: Target  # the request that waits SLOW_SECONDS on I/O
    hello: Target | None  # the cheapest request, for peak throughput
    db: Target | None  # a request that waits SLOW_SECONDS in PostgreSQL, through a connection pool
    upstream: Target | None  # a request that waits on another HTTP service, through a client's pool
    cpu: Target | None  # a request that computes (CPU_ROUNDS hashes) and waits on nothing


WSGI_APPS = Apps(WSGI_SLOW, WSGI_HELLO, WSGI_DB, WSGI_UPSTREAM, WSGI_CPU)
ASGI_APPS = Apps(ASGI_SLOW, ASGI_HELLO, ASGI_DB, ASGI_UPSTREAM, ASGI_CPU)
# Long-lived connections: a WebSocket with server push, and streamed responses.
WEBSOCKET = Target("asgi.websocket_app:app")
WSGI_STREAM, ASGI_STREAM = Target("wsgi.stream_app:app"), Target("asgi.stream_app:app")
# The pitfalls: FastAPI's thread pool, and a blocking call inside async def.
THREAD_POOL = Limit(
    "asgi.fastapi_app:THREAD_LIMIT",
    "threads of anyio's pool (THREAD_LIMIT), where a plain `def` route runs",
    "thread pool",
)
BLOCKED_LOOP = Limit(
    1, "request at a time: a blocking call inside async def stops the event loop", "blocked loop"
)


def slow_seconds(environ: Mapping[str, str] = os.environ) -> float:
    """SLOW_SECONDS as the apps will read it, checked here so a typo is one clear line."""
    raw = environ.get("SLOW_SECONDS", "1")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise LabError(f"SLOW_SECONDS must be a positive number of seconds, got {raw!r}")
    return value


def cpu_rounds(environ: Mapping[str, str] = os.environ) -> int | None:
    """$CPU_ROUNDS, which the computing apps read (None: unset); refused if not a count."""
    text = environ.get("CPU_ROUNDS")
    if text is not None and (not text.strip().isdigit() or int(text) < 1):
        raise LabError(f"CPU_ROUNDS={text!r}: give a whole number of hashes per request, 1 or more")
    return None if text is None else int(text)
