"""What the db and upstream apps wait on, started for a run: a real PostgreSQL, or an upstream service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lab.infra.postgres import postgres
from lab.infra.processes import running
from lab.stacks import BY_NAME

# What --pool sets, per kind of wait: the app reads it, and so does the theory.
POOL_SETTING = {"db": "POOL_SIZE", "upstream": "UPSTREAM_CONNECTIONS"}
WAITS_IN = {"db": "in PostgreSQL", "upstream": "in an upstream HTTP service"}


@contextmanager
def waited_on(kind: str, seconds: float, log_dir: Path) -> Iterator[dict[str, str]]:
    """Start what apps of this kind wait on; yield the environment that points them at it.

    db: a real PostgreSQL. upstream: the lab's slow ASGI app, waiting `seconds` per request.
    """
    if kind == "db":
        with postgres() as db:
            yield {"DATABASE_URL": db.url}
    elif kind == "upstream":
        upstream = BY_NAME["uvicorn"]  # one event loop: never the limit at these loads
        with running([upstream], "slow", log_dir / "upstream", {"SLOW_SECONDS": str(seconds)}) as (server,):
            yield {"UPSTREAM_URL": f"{server.url}/"}
    else:
        yield {}
