"""What a server command resolves to, read by the server's own parser: workers, threads, worker class.

Slots are derived from these, never written down a second time. Resolving runs in a
child process (`python -m lab.settings`) with the server's working directory and
environment, so gunicorn reads the same gunicorn.conf.py and WEB_CONCURRENCY the
server will, and an app's own limits (FastAPI's thread pool, a connection pool) are read
from the app itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from lab.errors import LabError

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Resolved:
    workers: int  # processes that serve requests
    threads: int  # threads per worker that run a WSGI app (gunicorn's --threads, Granian's blocking threads)
    worker_class: str  # gunicorn's worker class; the server's name for every other server
    limits: list[int]  # the app's own per-process limits asked for, read from the app
    connections: int = 0  # gunicorn --worker-connections: a gevent worker's greenlets, one per connection
    backpressure: int = 0  # Granian's cap on requests in flight per worker (0: the server has none)
    respawns: bool = False  # Granian's --respawn-failed-workers: a worker that dies is replaced


_cache: dict[str, Resolved] = {}


Query = tuple[Sequence[str], Mapping[str, str], Sequence[str]]


def _key(argv: Sequence[str], env: Mapping[str, str], limits: Sequence[str]) -> str:
    # The whole environment the child sees: WEB_CONCURRENCY or GUNICORN_CMD_ARGS change the answer.
    return json.dumps([list(argv), sorted({**os.environ, **env}.items()), list(limits)])


def resolve(commands: Sequence[Query]) -> list[Resolved]:
    """Each (server argv, extra environment, the app's limits as "module:NAME"), resolved in one child."""
    missing = [c for c in commands if _key(*c) not in _cache]
    by_env: dict[str, list[Query]] = {}
    for command in missing:
        by_env.setdefault(json.dumps(sorted(command[1].items())), []).append(command)
    for group in by_env.values():
        request = [{"argv": list(argv), "limits": list(limits)} for argv, _, limits in group]
        try:
            done = subprocess.run(
                [sys.executable, "-m", "lab.settings"],
                input=json.dumps(request), capture_output=True, text=True, cwd=ROOT,
                env={**os.environ, **group[0][1]}, check=False, timeout=60,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise LabError(f"reading the server settings of {' '.join(group[0][0])} took over 60 s") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise LabError(f"could not read the server settings of {' '.join(group[0][0])}: {last}")
        for command, row in zip(group, json.loads(done.stdout), strict=True):
            _cache[_key(*command)] = Resolved(**row)
    return [_cache[_key(*c)] for c in commands]


def _read(argv: list[str], limits: list[str]) -> dict[str, Any]:
    server, *options = argv
    if importlib.util.find_spec(server) is None:
        raise SystemExit(
            f"{server} is not installed in this Python: make install, or pip install -r requirements.txt"
        )
    backpressure, respawns = 0, False
    if server == "gunicorn":
        workers, threads, worker_class, connections = _gunicorn(options)
    elif server == "granian":
        workers, threads, backpressure, respawns = _granian(options)
        worker_class, connections = server, 0
    elif server in ("hypercorn", "daphne"):
        workers, threads, worker_class, connections = _captured(server, options), 1, server, 0
    else:
        from uvicorn.config import Config
        from uvicorn.main import main as command

        params = command.make_context("uvicorn", options).params
        # uvicorn's Config applies WEB_CONCURRENCY when --workers is absent, as the server will.
        workers, threads = Config(params["app"], workers=params["workers"]).workers, 1
        worker_class, connections = "uvicorn", 0
    values = []
    for limit in limits:
        module, name = limit.split(":")
        try:
            values.append(int(getattr(importlib.import_module(module), name)))
        except Exception as error:  # the app rejected its settings: say which one was being read
            raise SystemExit(f"reading {name} from {module}: {type(error).__name__}: {error}") from None
    return asdict(Resolved(workers, threads, worker_class, values, connections, backpressure, respawns))


def _granian(options: list[str]) -> tuple[int, int, int, bool]:
    """Granian's click command builds its Server; keep that Server instead of serving it."""
    import click
    from granian import cli
    from granian.server import Server

    built: list[Any] = []  # granian.server.Server is chosen at import time: no one type

    def keep(*args: Any, **kwargs: Any) -> mock.Mock:
        built.append(Server(*args, **kwargs))  # its own defaults: backpressure, blocking threads
        return mock.Mock()  # whose serve() does nothing

    try:
        with mock.patch.object(cli, "Server", keep):
            # As `granian` itself runs it: GRANIAN_WORKERS, GRANIAN_BACKPRESSURE... count too.
            cli.cli.main(
                args=options, prog_name="granian", standalone_mode=False, auto_envvar_prefix="GRANIAN"
            )
    except click.ClickException as error:
        raise SystemExit(f"granian: {error.format_message()}") from None
    if not built:  # --help, --version: granian would print and exit, serving nothing
        raise SystemExit(f"granian {' '.join(options)} starts no server")
    (server,) = built
    # Only a WSGI app runs on the blocking threads; an ASGI app runs on one event loop per worker.
    threads = int(server.blocking_threads) if str(server.interface) == "wsgi" else 1
    return int(server.workers), threads, int(server.backpressure), bool(server.respawn_failed_workers)


def _captured(server: str, options: list[str]) -> int:
    """Worker processes, read by the server's own argument parser (its config kept, not run)."""
    sys.argv = [server]  # argparse names the program in its errors from sys.argv[0]
    try:
        if server == "daphne":
            from daphne.cli import CommandLineInterface  # type: ignore[import-untyped]  # no types shipped

            CommandLineInterface().parser.parse_args(
                options
            )  # a flag daphne lacks exits here, as daphne would
            return 1  # one Twisted reactor in one process: daphne has no workers
        import hypercorn.__main__ as hypercorn

        with mock.patch.object(hypercorn, "run", return_value=0) as run:
            hypercorn.main(options)
    except SystemExit as exit:
        if exit.code:  # argparse's error, already printed as one line
            raise
        raise SystemExit(f"{server} {' '.join(options)} starts no server") from None  # --help, --version
    (config,), _ = run.call_args
    return max(1, int(config.workers))  # --workers 0 serves in the master itself: still one process


def _gunicorn(options: list[str]) -> tuple[int, int, str, int]:
    from gunicorn.app.base import Application

    class Settings(Application):  # type: ignore[misc]  # gunicorn ships no types
        """gunicorn's own loading: command line, GUNICORN_CMD_ARGS, ./gunicorn.conf.py, defaults."""

        def init(self, parser: Any, opts: Any, args: Any) -> None:
            return None

        def load(self) -> None:
            return None

    sys.argv = ["gunicorn", *options]  # gunicorn parses sys.argv; this child exists for that
    cfg = Settings().cfg
    worker_class = str(cfg.worker_class_str)
    threads = int(cfg.threads)
    if worker_class not in ("sync", "gthread"):
        threads = 1  # async workers have no thread pool for requests
    return int(cfg.workers), threads, worker_class, int(cfg.worker_connections)


def main() -> None:
    request = json.load(sys.stdin)
    print(json.dumps([_read(item["argv"], item["limits"]) for item in request]))


if __name__ == "__main__":
    main()
