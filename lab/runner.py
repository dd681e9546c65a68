"""One locust run: start a group of stacks, load them together, sample their CPU, gather each one's result."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError
from lab.measure import CpuSampler, read_requests, settle_seconds, steady_window
from lab.proxy import Front, fronted
from lab.report import Result
from lab.results import PROXY, row
from lab.servers import ROOT, Server, StackServer, locust_targets, running
from lab.stacks import Scenario, Slots, Stack
from lab.theory import time_in_system


@dataclass(frozen=True)
class Run:
    """One locust run's settings."""

    scenario: Scenario
    users: int
    duration: float
    service: float  # seconds each request waits on I/O (0 for hello)
    processes: int
    out: Path
    prefix: str
    env: dict[str, str]  # for the servers: where the database or the upstream is
    proxy: str | None = None  # started in front of every server, and the load sent through it


def run_group(group: list[Stack], slots: dict[str, Slots], run: Run, results: list[Result]) -> None:
    """Start the group's servers, load them all at once with one locust run, add their results.

    If a server dies or locust fails, the results measured until then are still added, then it raises.
    """
    scenario, users, duration, processes, out, prefix = (
        run.scenario, run.users, run.duration, run.processes, run.out, run.prefix
    )  # fmt: skip
    timeline = out / "timeline" / prefix
    shutil.rmtree(timeline, ignore_errors=True)  # a report folder used again: only this run's requests
    timeline.mkdir(parents=True)
    env = {**run.env, **({"SLOW_SECONDS": str(run.service)} if run.service else {})}
    # Once locust stops the measurement is over: requests still queued inside a server (waiting
    # for a pool's connection) need not drain, so the servers get 2 s, not 10, before SIGKILL.
    with (
        running(group, scenario.kind, out / "logs", env, grace=2.0) as servers,
        fronted(run.proxy, servers, out / "logs") as entries,
    ):
        total = users * len(group)
        argv = [
            sys.executable, "-m", "locust", "-f", "locustfile.py,lab/locust_plugin.py", "--headless",
            "-u", str(total), "-r", str(total), "-t", f"{duration:g}s",
            "--csv", str(out / prefix), "--html", str(out / f"{prefix}.html"),
            "--only-summary", "--exit-code-on-error", "0",
            *(["--processes", str(processes)] if processes > 1 else []),
            *[stack.user_class for stack in group],
        ]  # fmt: skip
        targets = locust_targets(servers, [entry.url for entry in entries])
        locust_env = {**os.environ, "LOCUST_TARGETS": targets, "LAB_TIMELINE_DIR": str(timeline)}
        with (out / f"{prefix}.log").open("wb") as log:
            locust = subprocess.Popen(
                argv, cwd=ROOT, env=locust_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        # One proxy in front of them all, if any: sampled for its CPU, watched like the servers.
        proxy = next((entry.proxy for entry in entries if isinstance(entry, Front) and entry.proxy), None)
        watched: list[Server] = [*servers, *([proxy] if proxy else [])]
        pids = {s.stack.name: s.process.pid for s in servers} | {"locust": locust.pid}
        if proxy:
            pids[PROXY] = proxy.process.pid
        sampler = CpuSampler(pids)
        failure: LabError | KeyboardInterrupt | None = None
        try:
            watch(locust, watched, sampler, duration, out / f"{prefix}_stats.csv")
        except (LabError, KeyboardInterrupt) as error:
            failure = error
        finally:
            stop_locust(locust)
            sampler.sample()
        if failure is None and locust.returncode != 0:
            tail = "\n".join((out / f"{prefix}.log").read_text(errors="replace").splitlines()[-10:])
            failure = LabError(f"locust exited with code {locust.returncode}; its log ends with:\n{tail}")
    requests = read_requests(timeline)
    everyone = [r for rs in requests.values() for r in rs]
    for stack in group:
        size = slots[stack.name]
        window = steady_window(everyone, settle_seconds(time_in_system(size, users, run.service)))
        results.append(row(stack, size, requests.get(stack.name, []), window, run, sampler, everyone))
    if failure:
        raise failure


def stop_locust(locust: subprocess.Popen[bytes]) -> None:
    """Like Ctrl-C, so locust still writes its reports; killed with its session if it hangs."""
    if locust.poll() is None:
        locust.send_signal(signal.SIGINT)
        try:
            locust.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(locust.pid, signal.SIGKILL)  # its own session: the --processes workers too


def watch(
    locust: subprocess.Popen[bytes],
    servers: list[Server],
    sampler: CpuSampler,
    duration: float,
    stats: Path,
) -> None:
    """Until locust exits: sample CPU, show live progress, stop early if a server (or the proxy) dies."""
    begin = time.monotonic()
    last_counts: dict[str, int] = {}
    last_time = begin
    interactive = sys.stdout.isatty()
    while locust.poll() is None:
        time.sleep(1.0)
        sampler.sample()
        for server in servers:
            if server.process.poll() is not None:
                raise server.failed(f"died during the run (exit code {server.process.returncode})")
        now = time.monotonic()
        counts = read_counts(stats)
        rates = {
            name: (count - last_counts.get(name, 0)) / (now - last_time) for name, count in counts.items()
        }
        last_counts, last_time = counts, now
        line = f"[{min(now - begin, duration):4.0f}/{duration:.0f} s] " + " | ".join(
            f"{s.stack.name} {rates.get(s.stack.name, 0.0):,.1f}"
            for s in servers
            if isinstance(s, StackServer)
        )
        if interactive:
            print("\r" + line + " rps", end="", flush=True)
        elif int(now - begin) % 5 == 0:
            print(line + " rps", flush=True)
    if interactive:
        print()


def read_counts(stats: Path) -> dict[str, int]:
    """Requests so far per stack, from the CSV locust rewrites every second."""
    try:
        with stats.open(newline="") as file:
            return {
                row["Name"]: int(row["Request Count"]) for row in csv.DictReader(file) if row["Type"] == "GET"
            }
    except (OSError, KeyError, ValueError):
        return {}
