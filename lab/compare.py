"""python compare.py: every chosen stack under the same locust load, each number beside its theory."""

from __future__ import annotations

import argparse
import csv
import importlib.util
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lab import cli, connections, report, stacks
from lab.environment import environment
from lab.errors import LabError
from lab.measure import (
    CPU_RESOLUTION,
    CpuSampler,
    Request,
    Window,
    observe,
    read_requests,
    settle_seconds,
    shortest_window,
    steady_window,
)  # fmt: skip
from lab.report import Result
from lab.servers import ROOT, StackServer, locust_targets, running, slow_seconds
from lab.stacks import Scenario, Slots, Stack
from lab.waits import POOL_SETTING, WAITS_IN, waited_on

DEFAULT_DURATION = {"slow": 30.0, "hello": 10.0, "pitfalls": 30.0, "db": 30.0, "upstream": 30.0}
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
    parser.add_argument(
        "--workers", type=cli.positive_int,
        help="worker processes for every chosen stack (gunicorn -w, uvicorn --workers); the theory follows",
    )  # fmt: skip
    parser.add_argument(
        "--pool", type=cli.positive_int,
        help="db: connections in each process's database pool (POOL_SIZE, default 5); "
        "upstream: the HTTP client's connections per process (UPSTREAM_CONNECTIONS, default 100)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=cli.positive_int,
        help=f"threads per worker, for the stacks that have them ({', '.join(stacks.threaded())})",
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
    if args.workers or args.threads:
        chosen = tuple(stack.configured(args.workers, args.threads) for stack in chosen)
    if args.pool:
        if scenario.kind not in POOL_SETTING:
            raise LabError(f"--pool applies to the db and upstream scenarios, not {scenario.name!r}")
        chosen = tuple(stack.with_env(**{POOL_SETTING[scenario.kind]: str(args.pool)}) for stack in chosen)
    if scenario.name == "connections":  # no load to generate: connections opened and held
        make_folder(out)
        held = args.users or 1000
        title = f"connections: {held} per stack, held open at once"
        print(f"{title}\nreport: {out}", flush=True)
        rows = connections.scenario(chosen, held, out)
        print("\n" + connections.report(rows, title, out, environment()))
        return 0
    seconds = args.slow_seconds or slow_seconds()
    users = args.users or 50
    sized = stacks.size_all([(stack, getattr(stack, scenario.kind)) for stack in chosen])
    slots = {stack.name: size for stack, size in zip(chosen, sized, strict=True)}
    service = 0.0 if scenario.kind == "hello" else seconds
    duration = choose_duration(args.duration, scenario, chosen, slots, users, service)
    make_folder(out)
    groups = [[stack] for stack in chosen] if scenario.one_at_a_time else [list(chosen)]
    title = (
        f"{scenario.name}: {users} users per stack, {duration:g} s"
        + (f", each request waits {seconds:g} s" if service else "")
        + (f" {WAITS_IN[scenario.kind]}" if scenario.kind in WAITS_IN else "")
        + f", {args.processes} locust process{'es' if args.processes > 1 else ''}"
    )
    print(f"{title}\nreport: {out}", flush=True)
    results: list[Result] = []
    notes: list[str] = []
    started = time.monotonic()
    try:
        with waited_on(scenario.kind, seconds, out / "logs") as env:
            for group in groups:
                prefix = "locust" if len(groups) == 1 else f"locust-{group[0].name}"
                run = Run(scenario, users, duration, service, args.processes, out, prefix, env)
                run_group(group, slots, run, results)
    except (LabError, KeyboardInterrupt) as error:
        why = str(error).splitlines()[0] if str(error) else "interrupted"  # not the whole log tail
        notes.append(f"Run stopped early ({why}); these are the numbers measured until then.")
        raise
    finally:
        notes += generator_notes(results) + censoring_notes(results)
        report.write(out, results, title, notes, environment())
        if results:
            print("\n" + report.text_table(results))
        for note in notes:
            print(f"\nNOTE: {note}")
        print(f"\nwall time {time.monotonic() - started:.0f} s; report in {out}")
    return 0


def make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LabError(f"cannot write the report to {out}: {error.strerror}") from None


def time_in_system(slots: Slots, users: int, service: float) -> float:
    """Little's law read the other way: how long each request waits once the queue is full."""
    if slots.count is None or users <= slots.count:
        return service
    return service * users / slots.count


def choose_duration(
    asked: float | None, scenario: Scenario, chosen: Sequence[Stack], slots: dict[str, Slots],
    users: int, service: float,
) -> float:  # fmt: skip
    """The run's length: long enough for every stack's queue to fill and a steady window to follow.

    Too short a run measures the requests that happened to finish first (survivor bias)
    and none of the queue; the default is lengthened to fit, an explicit --duration refused.
    """
    needs = {
        stack.name: settle_seconds(time_in_system(slots[stack.name], users, service))
        + shortest_window(service)
        for stack in chosen
    }
    name, need = max(needs.items(), key=lambda item: item[1])
    need = math.ceil(need)
    wait = time_in_system(slots[name], users, service)
    why = (
        f"{users} users share {plural(slots[name].count or 0, 'slot')} of {service:g} s,"
        f" so each request waits {wait:g} s"
        if wait > service
        else f"each request takes {service:g} s"
        if service
        else "users ramp up"
    )
    if asked is not None and asked < need:
        raise LabError(
            f"--duration {asked:g} is too short for {name}: {why}; the steady state starts "
            f"{settle_seconds(wait):g} s in and needs {shortest_window(service):g} s more: "
            f"use --duration {need} or more"
        )
    if asked is not None:
        return asked
    default = DEFAULT_DURATION[scenario.name]
    if need > default:
        print(f"duration lengthened from {default:g} s to {need} s: for {name}, {why}", flush=True)
    return max(default, need)


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
    with running(group, scenario.kind, out / "logs", env, grace=2.0) as servers:
        total = users * len(group)
        argv = [
            sys.executable, "-m", "locust", "-f", "locustfile.py,lab/locust_plugin.py", "--headless",
            "-u", str(total), "-r", str(total), "-t", f"{duration:g}s",
            "--csv", str(out / prefix), "--html", str(out / f"{prefix}.html"),
            "--only-summary", "--exit-code-on-error", "0",
            *(["--processes", str(processes)] if processes > 1 else []),
            *[stack.user_class for stack in group],
        ]  # fmt: skip
        locust_env = {**os.environ, "LOCUST_TARGETS": locust_targets(servers),
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
    everyone = [r for rs in requests.values() for r in rs]
    for stack in group:
        size = slots[stack.name]
        window = steady_window(everyone, settle_seconds(time_in_system(size, users, run.service)))
        results.append(row(stack, size, requests.get(stack.name, []), window, run, sampler))
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


def row(
    stack: Stack, slots: Slots, requests: list[Request], window: Window | None, run: Run, sampler: CpuSampler
) -> Result:
    """One stack's numbers over its steady-state window, beside its bound."""
    nan = float("nan")
    if window is None or window.seconds <= 0:  # stopped before its steady state: nothing to report
        window = Window(time.time(), time.time())
    seen = observe(requests, window)
    usable = len(os.sched_getaffinity(0))
    cores = min(slots.processes, usable)
    # CPU and requests over the same interval: the samples that fall inside the window.
    interval = sampler.interval(window.begin, window.finish)
    cpu_per_request = server_cores = locust_peak = nan
    if interval is not None:
        cpu = sampler.seconds(stack.name, interval)
        done = sum(1 for r in requests if r.ok and interval.begin <= r.end <= interval.finish)
        # Below the kernel's resolution (a server that mostly sleeps) a per-request figure means nothing.
        cpu_per_request = cpu / done if done and cpu >= CPU_RESOLUTION else nan
        server_cores = cpu / interval.seconds
        locust_peak = sampler.busiest_process("locust", interval)
    hello = run.scenario.kind == "hello"
    bound = nan if hello else slots.bound_rps(run.users, run.service)
    efficiency = seen.throughput_rps / bound if bound == bound else nan
    capacity = cores / cpu_per_request if hello and cpu_per_request > 0 else nan
    utilisation = server_cores / cores if server_cores == server_cores else nan
    # A saturated locust process cannot send faster; in hello that shows as a server with CPU to spare.
    saturated = locust_peak >= SATURATED
    generator_bound = saturated and (utilisation < 0.9 if hello else efficiency < 0.97)
    result = Result(
        stack=stack.name, interface=stack.interface, scenario=run.scenario.name, users=run.users,
        slots=slots.count, slots_why=slots.why, processes=slots.processes,
        binding="users" if slots.count is None or run.users <= slots.count else slots.binding,
        bound_rps=round(bound, 2), measured_rps=round(seen.throughput_rps, 2),
        efficiency=round(efficiency, 4),
        p50_ms=round(seen.p50.ms, 1), p95_ms=round(seen.p95.ms, 1), p99_ms=round(seen.p99.ms, 1),
        latency_lower_bounds=[q for q, lat in (("p50", seen.p50), ("p95", seen.p95), ("p99", seen.p99))
                              if lat.at_least],
        requests=seen.requests, ok=seen.ok, failures=seen.failures, failure_rps=round(seen.failure_rps, 2),
        failure_reasons=seen.failure_reasons, censored=seen.censored, generator_bound=generator_bound,
        server_cpu_us_per_request=round(cpu_per_request * 1e6, 1), capacity_rps=round(capacity, 1),
        capacity_basis="", utilisation=round(utilisation, 3), server_cpu_cores=round(server_cores, 3),
        locust_cpu_peak=round(locust_peak, 3), window_s=round(window.seconds, 2), explanation="",
    )  # fmt: skip
    if hello and capacity == capacity:
        result.capacity_basis = (
            f"{cores} core{'s' if cores > 1 else ''} ({slots.processes} process(es), {usable} usable CPUs)"
            f" / {result.server_cpu_us_per_request:,.0f} us of server CPU per request, measured while the"
            f" server used {utilisation:.0%} of them"
        )
        if stack.interface == "WSGI" and slots.count and slots.count > slots.processes:
            # Measured (README, "When locust is the bottleneck"): one gthread process did 5,500 rps
            # with its threads on one core and 2,200 with them spread over two.
            result.capacity_basis += (
                "; threads of one process share its GIL, and spread over more cores they cost more"
                " CPU per request, so this holds only for the load it was measured under"
            )
    result.explanation = explain(result, run.service)
    return result


def explain(r: Result, seconds: float) -> str:
    if r.measured_rps != r.measured_rps:
        return "nothing completed in the steady-state window."
    if r.scenario == "hello":
        basis = r.capacity_basis or "-"
        why = f"measured {r.measured_rps:,.0f} rps; capacity {fmt_rps(r.capacity_rps)} = {basis}."
    else:
        rate = f"/ {seconds:g} s = {r.bound_rps:g} rps"
        if r.slots is None or r.users <= r.slots:
            why = f"{r.slots_why}: all {r.users} users in flight {rate}"
        else:
            why = f"{r.slots_why} = {r.slots} in flight {rate} ({r.binding} binds)"
        why += f"; measured {r.measured_rps:g} ({r.efficiency:.0%})."
    if r.failures:
        why += (
            f" {r.failures} failed ({r.failure_rps:g}/s), not counted above: {'; '.join(r.failure_reasons)}."
        )
    if r.latency_lower_bounds:
        why += (
            f" Of {r.censored} requests still waiting at the stop, some had waited longer than any that"
            f" finished: counted at their time so far, they make {', '.join(r.latency_lower_bounds)}"
            " a lower bound (shown with >=)."
        )
    if r.generator_bound:
        why += (
            f" Limited by the load generator (busiest locust process at {r.locust_cpu_peak:.0%} of a core):"
            " this is locust's ceiling, not the server's."
        )
    return why


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def fmt_rps(value: float) -> str:
    return "-" if value != value else f"{value:,.0f} rps"


def censoring_notes(results: list[Result]) -> list[str]:
    if any(r.latency_lower_bounds for r in results):
        return [
            "Latencies marked >= count requests that were still waiting when the run stopped, having already "
            "waited longer than any finished one, at the time they had waited so far: the true percentile "
            "is at least that. A longer --duration, or a smaller queue, gives exact ones."
        ]
    return []


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
