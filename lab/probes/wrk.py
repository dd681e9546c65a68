"""python -m lab wrk: each stack's peak on the hello app under wrk, and nothing else.

The same measurement as the peak columns of `compare.py --scenario hello` (lab/measure/peak.py:
the server on CPUs of its own, wrk on the others, a few runs, the median and the spread), without
the locust run beside it, and with wrk's connections and run length to change. Loopback only.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from lab import cli
from lab.errors import LabError
from lab.infra.processes import running
from lab.measure import peak
from lab.measure.cpu import BUSY
from lab.measure.machine import cpu_ids, usable_cpus
from lab.report.format import aligned, busy
from lab.stacks import choose, serving, size_all


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_stacks(parser, "every stack with a hello app")
    parser.add_argument(
        "-c", "--connections", type=cli.positive_int, default=peak.CONNECTIONS,
        help=f"wrk -c (default {peak.CONNECTIONS})",
    )  # fmt: skip
    parser.add_argument(
        "--duration", type=cli.positive_int, default=peak.SECONDS,
        help=f"seconds per run (default {peak.SECONDS})",
    )  # fmt: skip
    parser.add_argument(
        "--runs", type=cli.positive_int, default=peak.RUNS, help=f"runs per stack (default {peak.RUNS})"
    )
    cli.add_plan(parser)


def main(args: argparse.Namespace) -> int:
    chosen = choose(args.stacks, tuple(s for s in serving("hello") if not s.pitfall), "hello")
    where = peak.split(cpu_ids())
    if not peak.installed():
        raise LabError(f"wrk is not installed: {peak.INSTALL}")
    how = f"wrk -t1 -c{args.connections}, a 1 s warm-up then {args.runs} runs of {args.duration} s per stack"
    if args.plan:
        rows = [["stack", "command"], *[[s.name, s.typed(s.target("hello"))] for s in chosen]]
        seconds = round(len(chosen) * (2 + 1 + args.runs * args.duration + 0.5))  # start, warm-up, runs
        print(f"plan (nothing started): {how}\n{aligned(rows)}\nabout {seconds} s")
        return 0
    print(*peak.plan_notes(True, True, where), sep="\n", flush=True)
    targets = [(stack, stack.target("hello")) for stack in chosen]
    rows = [["stack", "access log", "peak rps/CPU", "min-max", "CPU us/req", "CPUs", "busy", "wrk CPU"]]
    busiest = 0.0  # cores other processes took during any stack's runs
    for (stack, target), size in zip(targets, size_all(targets), strict=True):
        print(f"{stack.name} ...", flush=True)
        logs = Path(tempfile.mkdtemp(prefix="lab-wrk-"))
        with running([stack], "hello", logs, cpus=where.server) as (server,):
            cpus = peak.server_cpus(where, usable_cpus(), size.processes, stack.server.beside_gil)
            found = peak.measure(
                f"{server.url}/", server.process.pid, where, cpus, args.runs, args.duration, args.connections,
                warm_up=True,  # a server just started: its first requests import and open what it needs
            )  # fmt: skip
        busiest = max(busiest, statistics.median(found.others))
        per_cpu = [rps / found.cpus for rps in found.rps]
        rows.append(
            [
                stack.name,
                "on" if stack.reading(target).access_log else "off",
                (">=" if found.generator_bound else "") + f"{found.per_cpu:,.0f}",
                f"{min(per_cpu):,.0f}-{max(per_cpu):,.0f}",
                f"{found.cpu_median:,.0f}",
                f"{found.cpus}" + ("" if found.pinned else "-shared"),
                f"{statistics.median(found.busy):.0%}",
                f"{statistics.median(found.wrk_cores):.0%}",
            ]
        )
    if busiest > BUSY:
        print(f"WARNING: {busy(busiest)}.")
    print("\n" + aligned(rows))
    print(
        "CPUs: those the server could keep busy (its own where the machine has two or more); busy: the"
        " share of them it used; wrk CPU: wrk's one thread (near 100%, and the server not busy: >=, wrk's"
        " ceiling)"
    )
    return 0


COMMAND = cli.Command(
    "wrk", "each stack's peak on the hello app under wrk, per server CPU", add_arguments, main
)
