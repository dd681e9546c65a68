"""python compare.py: every chosen stack under the same locust load, each number beside its theory."""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from lab import cli, connections, report, stacks
from lab.errors import LabError
from lab.measure import CpuSampler, Request, ends_of, percentile, read_requests, throughput
from lab.report import Result
from lab.servers import ROOT, StackServer, running, slow_seconds
from lab.stacks import Scenario, Stack

DEFAULT_DURATION = {"slow": 30.0, "hello": 10.0, "pitfalls": 30.0}
SATURATED = 0.9  # a locust process above 90% of a core can't send faster: it is the bottleneck


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = cli.Parser(
        prog="python compare.py",
        description="Run server stacks side by side under locust and print what each measured beside "
        "what Little's law allows. Writes locust's CSV and HTML, summary.md, summary.json and chart.png.",
    )
    parser.add_argument(
        "--scenario", choices=stacks.SCENARIOS, default="slow",
        help="; ".join(f"{s.name}: {s.about}" for s in stacks.SCENARIOS.values()) + " (default: slow)",
    )  # fmt: skip
    parser.add_argument(
        "--stacks", help="comma-separated stack names (default: the scenario's; see python -m lab list)"
    )
    parser.add_argument(
        "--users",
        type=cli.positive_int,
        help="concurrent users per stack (default 50); connections: held per stack (default 1000)",
    )
    parser.add_argument(
        "--duration", type=cli.positive_float,
        help="seconds of load per run (default 30; hello: 10 per stack); the ramp-up is not measured",
    )  # fmt: skip
    parser.add_argument(
        "--processes", type=cli.positive_int, default=1,
        help="locust processes generating the load (default 1; more if locust is the bottleneck)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="report folder (default: reports/<time>-<scenario>)")
    parser.add_argument(
        "--slow-seconds", type=cli.positive_float,
        help="how long each slow request waits (default: $SLOW_SECONDS, else 1)",
    )  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    scenario = stacks.SCENARIOS[args.scenario]
    chosen = stacks.choose(args.stacks, scenario)
    if importlib.util.find_spec("locust") is None:
        raise LabError(
            "locust is not installed in this Python: run `make demo`, or pip install -r requirements-dev.txt"
        )
    out = args.out or ROOT / "reports" / f"{datetime.now():%Y%m%d-%H%M%S}-{scenario.name}"
    out.mkdir(parents=True, exist_ok=True)
    if scenario.name == "connections":  # no load to generate: connections opened and held
        held = args.users or 1000
        title = f"connections: {held} per stack, held open at once"
        print(f"{title}\nreport: {out}", flush=True)
        print("\n" + connections.report(connections.scenario(chosen, held, out), title, out))
        return 0
    seconds = args.slow_seconds or slow_seconds()
    duration = args.duration or DEFAULT_DURATION[scenario.name]
    args.users = args.users or 50
    groups = [[stack] for stack in chosen] if scenario.one_at_a_time else [list(chosen)]
    title = (
        f"{scenario.name}: {args.users} users per stack, {duration:g} s"
        + (f", each request waits {seconds:g} s" if scenario.kind == "slow" else "")
        + f", {args.processes} locust process{'es' if args.processes > 1 else ''}"
    )
    print(f"{title}\nreport: {out}", flush=True)
    results: list[Result] = []
    notes: list[str] = []
    started = time.monotonic()
    try:
        for group in groups:
            prefix = "locust" if len(groups) == 1 else f"locust-{group[0].name}"
            run_group(group, scenario, args.users, duration, seconds, args.processes, out, prefix, results)
    except (LabError, KeyboardInterrupt) as error:
        why = str(error).splitlines()[0] if str(error) else "interrupted"  # not the whole log tail
        notes.append(f"Run stopped early ({why}); these are the numbers measured until then.")
        raise
    finally:
        notes += generator_notes(results)
        report.write(out, results, title, notes)
        if results:
            print("\n" + report.text_table(results))
        for note in notes:
            print(f"\nNOTE: {note}")
        print(f"\nwall time {time.monotonic() - started:.0f} s; report in {out}")
    return 0


def run_group(
    group: list[Stack], scenario: Scenario, users: int, duration: float, seconds: float,
    processes: int, out: Path, prefix: str, results: list[Result],
) -> None:  # fmt: skip
    """Start the group's servers, load them all at once with one locust run, add their results.

    If a server dies or locust fails, the results measured until then are still added, then it raises.
    """
    timeline = out / "timeline" / prefix
    timeline.mkdir(parents=True, exist_ok=True)
    env = {"SLOW_SECONDS": str(seconds)}
    with running(group, scenario.kind, out / "logs", env) as servers:
        hosts = {server.stack.name: server.url for server in servers}
        total = users * len(group)
        argv = [
            sys.executable, "-m", "locust", "-f", "locustfile.py,lab/locust_plugin.py", "--headless",
            "-u", str(total), "-r", str(total), "-t", f"{duration:g}s",
            "--csv", str(out / prefix), "--html", str(out / f"{prefix}.html"),
            "--only-summary", "--exit-code-on-error", "0",
            *(["--processes", str(processes)] if processes > 1 else []),
            *[stack.user_class for stack in group],
        ]  # fmt: skip
        locust_env = {**os.environ, "LAB_KIND": scenario.kind, "LAB_HOSTS": json.dumps(hosts),
                      "LAB_TIMELINE_DIR": str(timeline)}  # fmt: skip
        with (out / f"{prefix}.log").open("wb") as log:
            locust = subprocess.Popen(
                argv, cwd=ROOT, env=locust_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        sampler = CpuSampler({s.stack.name: s.process.pid for s in servers} | {"locust": locust.pid})
        failure: LabError | KeyboardInterrupt | None = None
        try:
            watch(locust, servers, sampler, duration, out / f"{prefix}_stats.csv")
        except (LabError, KeyboardInterrupt) as error:
            failure = error
        finally:
            if locust.poll() is None:
                locust.send_signal(signal.SIGINT)  # like Ctrl-C: locust still writes its reports
                try:
                    locust.wait(15)
                except subprocess.TimeoutExpired:
                    locust.kill()
            sampler.sample()
        if failure is None and locust.returncode != 0:
            tail = "\n".join((out / f"{prefix}.log").read_text(errors="replace").splitlines()[-10:])
            failure = LabError(f"locust exited with code {locust.returncode}; its log ends with:\n{tail}")
    requests = read_requests(timeline)
    warmup = 1.0 + (seconds if scenario.kind == "slow" else 0.0) + 1.0  # ramp-up, first responses, settling
    for stack in group:
        results.append(
            measure(stack, requests.get(stack.name, []), requests, scenario, users, seconds, warmup, sampler)
        )
    if failure:
        raise failure


def watch(
    locust: subprocess.Popen[bytes],
    servers: list[StackServer],
    sampler: CpuSampler,
    duration: float,
    stats: Path,
) -> None:
    """Until locust exits: sample CPU, show live progress, stop early if a server dies."""
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
            f"{s.stack.name} {rates.get(s.stack.name, 0.0):,.1f}" for s in servers
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


def measure(
    stack: Stack, requests: list[Request], everyone: dict[str, list[Request]], scenario: Scenario,
    users: int, seconds: float, warmup: float, sampler: CpuSampler,
) -> Result:  # fmt: skip
    """One stack's numbers over the run's steady-state window, beside its bound."""
    all_requests = [r for rs in everyone.values() for r in rs]
    if all_requests:
        begin = min(r.start for r in all_requests) + warmup
        finish = max(r.end for r in all_requests)
    else:
        begin = finish = time.time()
    window = max(finish - begin, 0.0)
    in_window = [r for r in requests if begin <= r.end <= finish]
    latencies = sorted((r.end - r.start) * 1000 for r in in_window)
    measured = throughput(ends_of(requests), begin, finish) if window > 0 else 0.0
    cpu, wall = sampler.seconds(stack.name, begin, finish)
    cpu_per_request = cpu / len(in_window) if in_window else float("nan")
    per_core = 1 / cpu_per_request if cpu_per_request > 0 else float("nan")
    usable = len(os.sched_getaffinity(0))
    if scenario.kind == "slow":
        bound = stack.bound_rps(users, seconds)
    else:  # no waiting: the server's own CPU cost per request is the limit
        bound = per_core * min(stack.processes, usable)
    efficiency = measured / bound if bound and not math.isnan(bound) else float("nan")
    locust_peak = sampler.busiest_process("locust", begin, finish)
    server_cores = cpu / wall if wall > 0 else 0.0
    # A saturated locust process cannot send faster. A CPU-bound server far below its bound
    # while its CPUs idle is waiting for requests. (A slow app idles by design: not a sign.)
    idle = scenario.kind == "hello" and efficiency < 0.8 and server_cores < 0.5 * min(stack.processes, usable)
    generator_bound = efficiency < 0.97 and (locust_peak >= SATURATED or idle)
    result = Result(
        stack=stack.name, interface=stack.interface, slots=stack.slots, users=users,
        bound_rps=round(bound, 2), measured_rps=round(measured, 2), efficiency=round(efficiency, 4),
        p50_ms=round(percentile(latencies, 50), 1), p95_ms=round(percentile(latencies, 95), 1),
        p99_ms=round(percentile(latencies, 99), 1), requests=len(requests),
        failures=sum(not r.ok for r in requests), generator_bound=generator_bound,
        server_cpu_us_per_request=round(cpu_per_request * 1e6, 1), projected_rps_per_core=round(per_core, 1),
        server_cpu_cores=round(server_cores, 3), locust_cpu_peak=round(locust_peak, 3),
        window_s=round(window, 2),
        scenario=scenario.name, explanation="",
    )  # fmt: skip
    result.explanation = explain(stack, result, seconds, usable)
    return result


def explain(stack: Stack, r: Result, seconds: float, usable: int) -> str:
    if r.scenario == "hello":
        cores = min(stack.processes, usable)
        why = (
            f"{r.server_cpu_us_per_request:,.0f} us of server CPU per request"
            f" -> {r.projected_rps_per_core:,.0f} rps per core x {cores} usable core(s)"
            f" ({stack.processes} process(es), {usable} CPUs) = {r.bound_rps:,.0f} rps;"
            f" measured {r.measured_rps:,.0f}"
        )
    elif stack.slots is None or r.users <= stack.slots:
        why = f"{stack.slots_why}: all {r.users} users in flight / {seconds:g} s = {r.bound_rps:g} rps"
    else:
        why = f"{stack.slots_why} = {stack.slots} in flight / {seconds:g} s = {r.bound_rps:g} rps"
    if r.scenario != "hello":
        why += f"; measured {r.measured_rps:g}"
    why += f" ({r.efficiency:.0%})."
    if r.generator_bound:
        why += (
            f" Limited by the load generator (busiest locust process at {r.locust_cpu_peak:.0%} of a core):"
            " this is locust's ceiling, not the server's."
        )
    return why


def generator_notes(results: list[Result]) -> list[str]:
    if any(r.generator_bound for r in results):
        return [
            "Rows marked GENERATOR-BOUND measured the load generator, not the server: locust and the server "
            "shared this machine's CPUs. Try --processes 2, or a faster generator such as wrk, or load from "
            "other machines (locust --master/--worker)."
        ]
    return []


if __name__ == "__main__":
    cli.run(main)
