"""The closed loop: users that each wait for their answer, all stacks at once or one at a time.

Scenarios slow, hello, cpu, pitfalls, db and upstream. Each stack's row is measured over its
steady window (after every user started and one full queue was waited) beside its bound.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import apps
from lab.errors import LabError
from lab.infra.processes import Server, running
from lab.infra.proxy import Front, fronted, nginx_binary
from lab.infra.waits import POOL_SETTING, WAITS_IN, waited_on
from lab.measure import peak
from lab.measure.cpu import CPU_RESOLUTION, CpuSampler
from lab.measure.machine import cpu_ids, usable_cpus
from lab.measure.requests import Request, Window, observe, read_requests, settle_seconds, steady_window
from lab.measure.slots import occupancy
from lab.measure.theory import choose_duration, compute_seconds, time_in_system
from lab.report import charts, timeline
from lab.report.closed import (
    Result,
    Sample,
    busy_notes,
    censoring_notes,
    generator_notes,
    legend,
    row,
    spread_notes,
    table,
)
from lab.report.files import write_json, write_markdown
from lab.report.format import aligned
from lab.scenarios import locust
from lab.scenarios.base import Plan
from lab.servers.base import Slots, Stack
from lab.stacks import choose, serving, size_all

# Seconds a locust run takes beyond its load (start, spawn, stop), and more per stack in it:
# measured once here, 36 s for the default demo's 30 s of load, 207 s for cpu's 12 runs of 15 s.
OVERHEAD, PER_STACK = 2.5, 0.3
PROXY = "proxy"  # the CpuSampler's label for the proxy in front (--proxy)


@dataclass(frozen=True)
class Load:
    """What every run of the plan shares."""

    kind: str  # the app of each stack it loads
    users: int  # per stack
    duration: float  # seconds of load per run
    service: float  # seconds each request waits (0 where none does: hello, cpu)
    processes: int  # locust processes
    proxy: str | None
    slots: dict[str, Slots]
    groups: tuple[tuple[Stack, ...], ...]  # stacks loaded together, one locust run each
    where: peak.Split = peak.SHARED  # hello: the server's CPUs and the generators'
    wrk: bool = False  # hello: the peak is measured with wrk before locust runs


@dataclass(frozen=True)
class Closed:
    name: str
    kind: str  # which app of each stack it loads
    duration: float  # seconds of load per run unless --duration says otherwise
    one_at_a_time: bool  # True when stacks would otherwise compete for the CPU
    about: str
    pitfalls: bool = False  # the mistakes on show, instead of the stacks done right
    beside: tuple[str, ...] = ()  # stacks done right, shown first to compare the mistakes with

    @property
    def flags(self) -> tuple[str, ...]:
        waits = () if self.kind in ("hello", "cpu") else ("slow-seconds",)
        pool = ("pool",) if self.kind in POOL_SETTING else ()
        return ("users", "duration", "processes", *waits, "workers", "threads", *pool, "proxy")

    def defaults(self) -> tuple[Stack, ...]:
        chosen = [stack for stack in serving(self.kind) if stack.pitfall == self.pitfalls]
        return tuple([*(stack for stack in serving(self.kind) if stack.name in self.beside), *chosen])

    def plan(self, args: argparse.Namespace) -> Plan[Load]:
        if importlib.util.find_spec("locust") is None:
            raise LabError(
                "locust is not installed in this Python: run `make demo`, "
                "or pip install -r requirements-dev.txt"
            )
        chosen = choose(args.stacks, self.defaults(), self.kind)
        said: list[str] = []
        if args.workers and not args.stacks:
            alone = [stack for stack in chosen if not stack.server.workers]
            chosen = tuple(stack for stack in chosen if stack.server.workers)
            said += [
                f"{stack.name} left out: {stack.server.name} runs one process and has no --workers"
                for stack in alone
            ]
        if args.workers or args.threads:
            chosen = tuple(stack.configured(args.workers, args.threads) for stack in chosen)
        if getattr(args, "pool", None):
            chosen = tuple(stack.with_env(**{POOL_SETTING[self.kind]: str(args.pool)}) for stack in chosen)
        if args.proxy:
            nginx_binary()  # missing: said now, before anything starts
        users = args.users or 50
        service = (
            0.0
            if self.kind in ("hello", "cpu")
            else (getattr(args, "slow_seconds", None) or apps.slow_seconds())
        )
        targets = [(stack, stack.target(self.kind)) for stack in chosen]
        sized = size_all(targets)
        extra = ""
        if self.kind == "cpu":  # threads and coroutines overlap waits, not computing
            sized = [size.computing(usable_cpus()) for size in sized]
            # The WSGI and ASGI apps do the same work: either one times it, for the run's length.
            rounds, service = compute_seconds(chosen[0].target("cpu"), apps.cpu_rounds())
            extra = f", each request computes {rounds} hashes"
        slots = {stack.name: size for stack, size in zip(chosen, sized, strict=True)}
        duration, lengthened = choose_duration(args.duration, self.duration, chosen, slots, users, service)
        said += [lengthened] if lengthened else []
        groups = tuple((stack,) for stack in chosen) if self.one_at_a_time else (chosen,)
        title = (
            f"{self.name}: {users} users per stack, {duration:g} s{extra}"
            + (f", each request waits {service:g} s" if self.kind not in ("hello", "cpu") else "")
            + (f" {WAITS_IN[self.kind]}" if self.kind in WAITS_IN else "")
            + (f", through {args.proxy}" if args.proxy else "")
            + f", {args.processes} locust process{'es' if args.processes > 1 else ''}"
            + ("; one stack at a time" if len(groups) > 1 else "")
        )
        rows = [["stack", "iface", "slots", "limit", "bound rps", "command"]]
        for stack, target in targets:
            size = slots[stack.name]
            bound = {"hello": "peak: wrk", "cpu": "CPU, measured"}.get(
                self.kind
            ) or f"{size.bound_rps(users, service):.1f}"
            limit = "users" if size.count is None or users <= size.count else size.binding
            count = "inf" if size.count is None else str(size.count)
            rows.append([stack.name, stack.interface, count, limit, bound, stack.typed(target)])
        wrk = self.kind == "hello" and peak.installed()
        where = peak.split(cpu_ids()) if wrk else peak.SHARED
        said += peak.plan_notes(self.kind == "hello", wrk, where)
        load = Load(
            self.kind, users, duration, service, args.processes, args.proxy, slots, groups, where, wrk
        )
        seconds = sum(duration + OVERHEAD + PER_STACK * len(group) + wrk * peak.PLANNED for group in groups)
        return Plan(title, chosen, rows, seconds, tuple(said), load)

    def run(self, plan: Plan[Load], out: Path, rows: list[Any]) -> None:
        load = plan.detail
        with waited_on(load.kind, load.service, out / "logs") as env:
            for group in load.groups:
                prefix = "locust" if len(load.groups) == 1 else f"locust-{group[0].name}"
                run_group(self.name, load, group, env, out, prefix, rows)

    def report(
        self, plan: Plan[Load], rows: Sequence[Any], notes: list[str], out: Path, env: dict[str, Any]
    ) -> str:
        results: list[Result] = list(rows)
        notes = [
            *busy_notes(results),
            *generator_notes(results),
            *spread_notes(results),
            *censoring_notes(results),
            *notes,
        ]
        write_json(out / "summary.json", results, env)
        words = [
            legend(results),
            "",
            *[f"- **{r.stack}**: {r.explanation}" for r in results],
            *[f"> {n}" for n in notes],
        ]
        write_markdown(out / "summary.md", plan.title, table(results), words)
        if results:
            charts.bars(results, plan.title, out / "chart.png")
            timeline.draw(results, out / "timeline", plan.title, out / "timeline.png")
        lines = [aligned(table(results)), legend(results), ""] if results else []
        lines += [f"{r.stack}: {r.explanation}" for r in results] + [f"\nNOTE: {note}" for note in notes]
        return "\n".join(lines)


def run_group(
    scenario: str,
    load: Load,
    group: Sequence[Stack],
    env: dict[str, str],
    out: Path,
    prefix: str,
    rows: list[Any],
) -> None:
    """Start the group's servers, load them all at once with one locust run, add a row per stack.

    If a server dies or locust fails, the rows measured until then are still added, then it raises.
    """
    timeline = out / "timeline" / prefix
    shutil.rmtree(timeline, ignore_errors=True)
    timeline.mkdir(parents=True)
    env = {**env, **({"SLOW_SECONDS": str(load.service)} if load.service else {})}
    failure: LabError | KeyboardInterrupt | None = None
    peaks: dict[str, peak.Peak] = {}
    # Once locust stops the measurement is over: requests still queued inside a server (waiting
    # for a pool's connection) need not drain, so the servers get 2 s, not 10, before SIGKILL.
    with (
        running(group, load.kind, out / "logs", env, grace=2.0, cpus=load.where.server) as servers,
        fronted(load.proxy, servers, out / "logs") as entries,
    ):
        total = load.users * len(group)
        arguments = [
            "-u",
            str(total),
            "-r",
            str(total),
            "-t",
            f"{load.duration:g}s",
            "--csv",
            str(out / prefix),
            "--html",
            str(out / f"{prefix}.html"),
            *(["--processes", str(load.processes)] if load.processes > 1 else []),
            *[stack.user_class for stack in group],
        ]
        locust_env = {
            "LOCUST_TARGETS": locust.targets(servers, [e.url for e in entries]),
            "LAB_TIMELINE_DIR": str(timeline),
        }
        process = locust.start(
            "locustfile.py", arguments, locust_env, out / f"{prefix}.log", load.where.generator
        )
        # One proxy in front of them all, if any: sampled for its CPU, watched like the servers.
        proxy = next((entry.proxy for entry in entries if isinstance(entry, Front) and entry.proxy), None)
        watched: list[Server] = [*servers, *([proxy] if proxy else [])]
        pids = {s.stack.name: s.process.pid for s in servers} | {"locust": process.pid}
        pids |= {PROXY: proxy.process.pid} if proxy else {}
        sampler = CpuSampler(pids)
        progress = Progress(out / f"{prefix}_stats.csv", [stack.name for stack in group])
        try:
            locust.watch(
                process,
                watched,
                load.duration,
                out / f"{prefix}.log",
                lambda elapsed: progress.line(elapsed, sampler),
            )
        except (LabError, KeyboardInterrupt) as error:
            failure = error
        finally:
            sampler.sample()
        if load.wrk and failure is None:  # hello, one stack at a time, now warm: its peak under wrk
            stack, size = group[0], load.slots[group[0].name]
            print(f"{stack.name}: wrk, {peak.RUNS} runs of {peak.SECONDS} s ...", flush=True)
            cpus = peak.server_cpus(load.where, usable_cpus(), size.processes, stack.server.beside_gil)
            # The server's own peak, straight to it: not through --proxy, which locust's rows go through.
            peaks = {stack.name: peak.measure(f"{servers[0].url}/", servers[0].process.pid, load.where, cpus)}
    requests = read_requests(timeline)
    everyone = [r for rs in requests.values() for r in rs]
    for stack in group:
        mine = requests.get(stack.name, [])
        size = load.slots[stack.name]
        sample = measured(stack.name, mine, everyone, load, size, sampler, failure is not None)
        logged = stack.reading(stack.target(load.kind)).access_log
        sample = dataclasses.replace(sample, peak=peaks.get(stack.name), access_log=logged)
        cpus = len(load.where.server) or usable_cpus()  # hello pins the server to its own
        rows.append(row(stack, scenario, load.kind, load.users, load.service, size, sample, cpus, load.proxy))
    if failure:
        raise failure


class Progress:
    """The progress line: each stack's rate over the last second, from locust's own CSV."""

    def __init__(self, stats: Path, names: list[str]) -> None:
        self.stats, self.names = stats, names
        self.last: dict[str, int] = {}
        self.at = 0.0

    def line(self, elapsed: float, sampler: CpuSampler) -> str:
        sampler.sample()
        now = locust.counts(self.stats)
        rates = {
            name: (now.get(name, 0) - self.last.get(name, 0)) / max(elapsed - self.at, 1e-9) for name in now
        }
        self.last, self.at = now, elapsed
        return " | ".join(f"{name} {rates.get(name, 0.0):,.1f}" for name in self.names) + " rps"


def measured(
    name: str,
    requests: list[Request],
    everyone: list[Request],
    load: Load,
    slots: Slots,
    sampler: CpuSampler,
    stopped_early: bool,
) -> Sample:
    """One stack's sample over its steady window: its requests, and CPU over the samples inside it."""
    window = steady_window(everyone, settle_seconds(time_in_system(slots, load.users, load.service)))
    if window is None or window.seconds <= 0:  # stopped before its steady state: nothing to report
        return Sample(observe(requests, Window(0.0, 0.0)), 0.0, stopped_early=stopped_early)
    seen, inside = observe(requests, window), occupancy(requests, window)
    interval = sampler.interval(window.begin, window.finish)
    if interval is None:
        return Sample(seen, window.seconds, stopped_early=stopped_early, occupancy=inside)
    cpu = sampler.seconds(name, interval)
    done = sum(1 for r in requests if r.ok and interval.begin <= r.end <= interval.finish)
    proxy = math.nan
    if load.proxy:  # one proxy serves every stack of the run: its CPU shared over all their requests
        through = sum(1 for r in everyone if r.ok and interval.begin <= r.end <= interval.finish)
        used = sampler.seconds(PROXY, interval)
        proxy = used / through if through and used >= CPU_RESOLUTION else math.nan
    return Sample(
        seen,
        window.seconds,
        # Below the kernel's resolution (a server that mostly sleeps) a per-request figure means nothing.
        cpu_per_request=cpu / done if done and cpu >= CPU_RESOLUTION else math.nan,
        server_cores=cpu / interval.seconds,
        locust_peak=sampler.busiest_process("locust", interval),
        proxy_cpu_per_request=proxy,
        stopped_early=stopped_early,
        other_cores=sampler.others(interval),
        occupancy=inside,
    )
