"""python -m lab wrk: each stack's hello app under wrk, with the server's CPU, to check compare.py's capacity.

wrk is a load generator written in C (`apt-get install wrk`). With one thread
(-t1) it needs a fraction of a core, so it leaves the server more CPU than one
locust process does; the server's own CPU over the same run gives its CPU per
request, the figure compare.py's hello scenario turns into capacity_rps.
`--pin` puts each server on one CPU and wrk on another: one process's threads on one
core, which is how a threaded worker (gthread) does best (see docs/comparison.md).
Loopback only; each run lasts --duration seconds.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from lab import cli
from lab.errors import LabError
from lab.infra.processes import running
from lab.measure.cpu import tree_cpu_seconds
from lab.report.format import aligned
from lab.stacks import choose, serving


def tree_cpu(pid: int) -> float:
    return sum(tree_cpu_seconds(pid).values())


def pin(pid: int, cpu: int) -> None:
    """Every process and thread of a server onto one CPU."""
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        for thread in process.threads():
            os.sched_setaffinity(thread.id, {cpu})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_stacks(parser, "every stack with a hello app")
    parser.add_argument("-c", "--connections", type=cli.positive_int, default=50, help="wrk -c (default 50)")
    parser.add_argument(
        "--duration", type=cli.positive_int, default=10, help="seconds per stack (default 10)"
    )
    parser.add_argument("--pin", action="store_true", help="each server on one CPU, wrk on another")
    cli.add_plan(parser)


def main(args: argparse.Namespace) -> int:
    if shutil.which("wrk") is None:
        raise LabError("wrk is not installed: apt-get install wrk")
    cpus = sorted(os.sched_getaffinity(0))  # in a container, not necessarily 0 and 1
    if args.pin and len(cpus) < 2:
        raise LabError("--pin needs two CPUs")
    chosen = choose(args.stacks, tuple(s for s in serving("hello") if not s.pitfall), "hello")
    wrk = ["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}s"]
    if args.plan:
        rows = [["stack", "command"], *[[s.name, s.typed(s.target("hello"))] for s in chosen]]
        print(f"plan (nothing started): {' '.join(wrk)}, one stack at a time\n{aligned(rows)}")
        return 0
    if args.pin:
        wrk = ["taskset", "-c", str(cpus[1]), *wrk]
    print(" ".join(wrk) + (f" (servers on CPU {cpus[0]})" if args.pin else ""), flush=True)
    rows = [["stack", "wrk rps", "server cores", "CPU us/req", "rps per core"]]
    for stack in chosen:
        with running([stack], "hello", Path(tempfile.mkdtemp(prefix="lab-wrk-"))) as (server,):
            if args.pin:
                pin(server.process.pid, cpus[0])
            began, used = time.monotonic(), tree_cpu(server.process.pid)
            done = subprocess.run([*wrk, server.url + "/"], capture_output=True, text=True, check=False)
            cores = (tree_cpu(server.process.pid) - used) / (time.monotonic() - began)
        found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
        if done.returncode != 0 or found is None:
            raise LabError(f"wrk failed on {stack.name}: {(done.stderr or done.stdout).strip()[:200]}")
        rps = float(found.group(1))
        rows.append(
            [stack.name, f"{rps:,.0f}", f"{cores:.2f}", f"{cores / rps * 1e6:.0f}", f"{rps / cores:,.0f}"]
        )
    print(aligned(rows))
    return 0


COMMAND = cli.Command(
    "wrk", "each stack's hello app under wrk, with the server's CPU per request", add_arguments, main
)
