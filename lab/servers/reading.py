"""A stack's command read back by its server's own parser: workers, threads, limits, and so its slots.

Slots are derived from the command, never written down a second time. Reading runs in a child
process (`python -m lab.servers.reading`) with the server's working directory and environment,
so gunicorn reads the same gunicorn.conf.py and WEB_CONCURRENCY the server will, and an app's own
limits (FastAPI's thread pool, a connection pool) are read from the app itself.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Sequence

from lab import ROOT
from lab.apps import Limit, Target
from lab.errors import LabError
from lab.servers.base import Reading, Slots, Stack

_cache: dict[str, Reading] = {}


def _request(stack: Stack, target: Target) -> dict[str, object]:
    refs = [limit.value for limit in target.limits if isinstance(limit.value, str)]
    return {"server": stack.server.name, "options": stack.command(target)[1:], "limits": refs}


def _key(stack: Stack, target: Target) -> str:
    # The whole environment the child sees: WEB_CONCURRENCY or GUNICORN_CMD_ARGS change the answer.
    return json.dumps([_request(stack, target), sorted({**os.environ, **dict(stack.env)}.items())])


def read_all(pairs: Sequence[tuple[Stack, Target]]) -> list[Reading]:
    """Each stack's command on its target, read in one child process per environment."""
    by_env: dict[tuple[tuple[str, str], ...], list[tuple[Stack, Target]]] = {}
    for stack, target in pairs:
        if _key(stack, target) not in _cache:
            by_env.setdefault(stack.env, []).append((stack, target))
    for env, group in by_env.items():
        shown = " ".join(group[0][0].command(group[0][1]))
        try:
            done = subprocess.run(
                [sys.executable, "-m", "lab.servers.reading"],
                input=json.dumps([_request(*p) for p in group]),
                capture_output=True,
                text=True,
                cwd=ROOT,
                env={**os.environ, **dict(env)},
                check=False,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            raise LabError(f"reading the server settings of {shown} took over 60 s") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise LabError(f"could not read the server settings of {shown}: {last}")
        for pair, row in zip(group, json.loads(done.stdout), strict=True):
            _cache[_key(*pair)] = Reading.from_json(row)
    return [_cache[_key(*pair)] for pair in pairs]


def read(stack: Stack, target: Target) -> Reading:
    (reading,) = read_all([(stack, target)])
    return reading


def slots(stack: Stack, target: Target) -> Slots:
    """Requests served at once: processes x the smallest per-process limit, or unbounded.

    Per process the limits are the server's (1 request per sync worker, N threads) and
    the app's own (a thread pool, a connection pool); in flight is the smallest of them.
    """
    reading = read(stack, target)
    from_app = iter(reading.app_limits)
    limits = [*reading.limits]
    for limit in target.limits:
        limits.append(
            Limit(next(from_app) if isinstance(limit.value, str) else limit.value, limit.what, limit.name)
        )
    per = f"{reading.processes} worker{'s' if reading.processes > 1 else ''}"
    if not limits:
        loops = "1 event loop" if reading.processes == 1 else f"{per}, each an event loop that"
        return Slots(None, f"{loops} overlaps every awaiting request", reading.processes)
    smallest = min(limits, key=lambda limit: int(limit.value))
    why = f"{per} x {smallest.value} {smallest.what}"
    others = [f"{limit.value} {limit.what}" for limit in limits if limit.name != smallest.name]
    if others:
        why += f", the smallest limit per worker (also: {'; '.join(others)})"
    return Slots(reading.processes * int(smallest.value), why, reading.processes, smallest.name)


def size_all(pairs: Sequence[tuple[Stack, Target]]) -> list[Slots]:
    """The slots of many stacks, their commands read together (one child process per environment)."""
    read_all(pairs)
    return [slots(stack, target) for stack, target in pairs]


def _child(item: dict[str, list[str] | str]) -> Reading:
    from lab.servers import RECORDS

    record = RECORDS[str(item["server"])]
    if importlib.util.find_spec(record.module) is None:
        raise SystemExit(
            f"{record.name} is not installed in this Python: make install, or pip install -r requirements.txt"
        )
    reading = record.read(list(item["options"]))
    values = []
    for ref in item["limits"]:
        module, name = ref.split(":")
        try:
            values.append(int(getattr(importlib.import_module(module), name)))
        except Exception as error:  # the app rejected its settings: say which one was being read
            raise SystemExit(f"reading {name} from {module}: {type(error).__name__}: {error}") from None
    return dataclasses.replace(reading, app_limits=tuple(values))


def main() -> None:
    print(json.dumps([_child(item).to_json() for item in json.load(sys.stdin)]))


if __name__ == "__main__":
    main()
