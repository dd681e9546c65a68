"""python -m lab wrk: each stack's peak on the hello app under wrk, and nothing else.

The same measurement as the peak columns of `compare.py --scenario hello` (lab/measure/peak.py:
the server on CPUs of its own, wrk on the others, a few runs, the median and the spread), without
the locust run beside it, and with wrk's connections and run length to change. Loopback only.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lab import cli
from lab.apps import Target
from lab.errors import LabError
from lab.infra.processes import running
from lab.measure import peak
from lab.measure.cpu import BUSY
from lab.measure.machine import cpu_ids, environment, usable_cpus
from lab.report import probes as charts
from lab.report.files import release, run_folder, write_json
from lab.report.format import aligned, busy
from lab.servers.base import Stack
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
    cli.add_out(parser, "the report: summary.json, chart.png (default: reports/<time>-wrk)")
    cli.add_plan(parser)


@dataclass(frozen=True)
class Row:
    """One stack's peak, as the table prints it and summary.json keeps it."""

    stack: str
    interface: str
    access_log: bool
    per_cpu: float  # the median run's requests a second, per CPU the server could use
    runs_per_cpu: list[float]
    cpu_us: float  # the server's CPU per request, median
    cpus: int
    pinned: bool
    busy: float  # the share of its CPUs the server kept busy, median
    wrk_cpu: float  # wrk's one thread, median: near 1.0 and the server not busy is wrk's ceiling
    generator_bound: bool


def row(stack: Stack, target: Target, found: peak.Peak) -> Row:
    return Row(
        stack.name,
        stack.interface,
        stack.reading(target).access_log,
        round(found.per_cpu, 1),
        [round(rps / found.cpus, 1) for rps in found.rps],
        round(found.cpu_median, 1),
        found.cpus,
        found.pinned,
        round(statistics.median(found.busy), 3),
        round(statistics.median(found.wrk_cores), 3),
        found.generator_bound,
    )


def table(rows: list[Row]) -> str:
    head = ["stack", "access log", "peak rps/CPU", "min-max", "CPU us/req", "CPUs", "busy", "wrk CPU"]
    body = [
        [
            r.stack,
            "on" if r.access_log else "off",
            (">=" if r.generator_bound else "") + f"{r.per_cpu:,.0f}",
            f"{min(r.runs_per_cpu):,.0f}-{max(r.runs_per_cpu):,.0f}",
            f"{r.cpu_us:,.0f}",
            f"{r.cpus}" + ("" if r.pinned else "-shared"),
            f"{r.busy:.0%}",
            f"{r.wrk_cpu:.0%}",
        ]
        for r in rows
    ]
    return aligned([head, *body])


def main(args: argparse.Namespace) -> int:
    chosen = choose(args.stacks, tuple(s for s in serving("hello") if not s.pitfall), "hello")
    where = peak.split(cpu_ids())
    if not peak.installed():
        raise LabError(f"wrk is not installed: {peak.INSTALL}")
    how = f"wrk -t1 -c{args.connections}, a 1 s warm-up then {args.runs} runs of {args.duration} s per stack"
    if args.plan:
        plan = [["stack", "command"], *[[s.name, s.typed(s.target("hello"))] for s in chosen]]
        seconds = round(len(chosen) * (2 + 1 + args.runs * args.duration + 0.5))  # start, warm-up, runs
        print(f"plan (nothing started): {how}\n{aligned(plan)}\nabout {seconds} s")
        return 0
    out = run_folder(args.out, "wrk")
    print(*peak.plan_notes(True, True, where, how), f"report: {out}", sep="\n", flush=True)
    targets = [(stack, stack.target("hello")) for stack in chosen]
    rows: list[Row] = []
    busiest = 0.0  # cores other processes took during any stack's runs
    try:
        for (stack, target), size in zip(targets, size_all(targets), strict=True):
            print(f"{stack.name} ...", flush=True)
            logs = Path(tempfile.mkdtemp(prefix="lab-wrk-"))
            with running([stack], "hello", logs, cpus=where.server) as (server,):
                cpus = peak.server_cpus(where, usable_cpus(), size.processes, stack.server.beside_gil)
                found = peak.measure(
                    f"{server.url}/", server.process.pid, where, cpus, args.runs, args.duration,
                    args.connections, warm_up=True,  # a server just started: its first requests import
                )  # fmt: skip
            busiest = max(busiest, statistics.median(found.others))
            rows.append(row(stack, target, found))
    finally:  # what was measured stays, even when a later stack fails or Ctrl-C stops the run
        if rows:  # a busy machine is said where the numbers are kept, as on the screen
            busy_now = busiest > BUSY
            write_json(out / "summary.json", rows, environment(), how=how,
                       other_cpu_cores=round(busiest, 3), machine_busy=busy_now)  # fmt: skip
            title = f"Peak on the hello app under {how}" + (f"\n{busy(busiest)}" if busy_now else "")
            charts.peaks(rows, title, out / "chart.png")
        release(out)
    if busiest > BUSY:
        print(f"WARNING: {busy(busiest)}.")
    print("\n" + table(rows))
    print(
        "CPUs: those the server could keep busy (its own where the machine has two or more); busy: the"
        " share of them it used; wrk CPU: wrk's one thread (near 100%, and the server not busy: >=, wrk's"
        f" ceiling)\nreport in {out}"
    )
    return 0


COMMAND = cli.Command(
    "wrk", "each stack's peak on the hello app under wrk, per server CPU", add_arguments, main
)
