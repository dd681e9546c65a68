"""locust, driven one way for every scenario: started headless, watched, stopped early if a server dies.

Each run loads lab/scenarios/locust_plugin.py beside its locustfile, which records every
request's start, end and outcome to LAB_TIMELINE_DIR (lab.measure.requests reads them).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lab import ROOT
from lab.errors import LabError
from lab.infra.processes import Server, StackServer

PLUGIN = "lab/scenarios/locust_plugin.py"


def start(
    locustfile: str,
    arguments: Sequence[str],
    env: dict[str, str],
    log: Path,
    cpus: frozenset[int] = frozenset(),
) -> subprocess.Popen[bytes]:
    """A headless locust in its own session (its --processes workers with it), its output in `log`.

    `cpus`: pinned to these, away from the server's, where the hello scenario split the CPUs.
    """
    options = ["--headless", "--only-summary", "--exit-code-on-error", "0"]
    argv = [sys.executable, "-m", "locust", "-f", f"{locustfile},{PLUGIN}", *options, *arguments]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if cpus:
        os.sched_setaffinity(process.pid, cpus)
    return process


def targets(servers: Sequence[StackServer], urls: Sequence[str] | None = None) -> str:
    """LOCUST_TARGETS for the locustfiles: each stack's class sent to where it runs, and what it serves.

    `urls`: where each server is reached instead of its own port (a proxy in front).
    """
    bases = urls or [server.url for server in servers]
    return json.dumps({s.stack.name: base + s.target.path for s, base in zip(servers, bases, strict=True)})


def stop(locust: subprocess.Popen[bytes]) -> None:
    """Like Ctrl-C, so locust still writes its reports; killed with its session if it hangs."""
    if locust.poll() is None:
        locust.send_signal(signal.SIGINT)
        try:
            locust.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(locust.pid, signal.SIGKILL)  # its own session: the --processes workers too


def watch(
    locust: subprocess.Popen[bytes],
    servers: Sequence[Server],
    seconds: float,
    log: Path,
    tick: Callable[[float], str],
    every: float = 1.0,
) -> None:
    """Until locust exits: call `tick` (sampling), show its progress line, stop at once if a server dies.

    `tick(elapsed)` returns the progress to show. On a terminal the line is rewritten in place;
    elsewhere (a log, CI) one line every 5 s. locust is stopped however this ends, and a locust
    that failed is one error with the end of its log.
    """
    began = time.monotonic()
    interactive = sys.stdout.isatty()
    shown = 0.0
    try:
        while locust.poll() is None:
            time.sleep(every)
            elapsed = time.monotonic() - began
            line = tick(elapsed)
            for server in servers:
                if server.process.poll() is not None:
                    raise server.failed(f"died during the run (exit code {server.process.returncode})")
            if elapsed > seconds:
                continue  # locust is writing its reports: the rates of that moment are not the run's
            if interactive:
                print(f"\r[{elapsed:4.0f}/{seconds:.0f} s] {line}", end="", flush=True)
            elif elapsed - shown >= 5:
                print(f"[{elapsed:4.0f}/{seconds:.0f} s] {line}", flush=True)
                shown = elapsed
    finally:
        stop(locust)
        if interactive:
            print()
    if locust.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-10:])
        raise LabError(f"locust exited with code {locust.returncode}; its log ends with:\n{tail}")


def counts(stats: Path) -> dict[str, int]:
    """Requests so far per stack, from the CSV locust rewrites every second."""
    try:
        with stats.open(newline="") as file:
            return {
                row["Name"]: int(row["Request Count"]) for row in csv.DictReader(file) if row["Type"] == "GET"
            }
    except (OSError, KeyError, ValueError):
        return {}
