"""Past the bound: the open loop, load stepped across each stack's bound (scenarios overload, overload-cpu).

Every other scenario is a closed loop: a user waits for its answer before asking again, so the
load offered falls as the server slows, and the queue can never outgrow the users. Real
arrivals do not wait. Here requests arrive on a clock (overload_locustfile.py's Arrivals, one
greenlet per request), one stack at a time:

1. steps at multiples of the stack's Little's-law bound (slots / seconds per request), each for
   --step seconds, from below the bound to above it: the knee is where served stops following offered;
2. a step back down at half the bound, as long as the queue takes to drain: how soon users are
   served normally again;
3. where the server queues (no admission control), the same top rate from a closed loop (the users
   that would offer it if each were served at once): what a closed-loop test reports for the same
   overload, and why its p99 looks so much better.

On the computing app (overload-cpu) every stack's bound is its CPU: one request computing per
process and per core (its GIL). A server's admission settings (its records' `admission`) are flags.
"""

from __future__ import annotations

import argparse
import math
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from lab import apps
from lab.errors import LabError
from lab.infra.processes import running
from lab.measure import steps
from lab.measure.cpu import BUSY, CPU_RESOLUTION, CpuSampler, server_uss
from lab.measure.machine import usable_cpus
from lab.measure.requests import Request, read_requests
from lab.measure.slots import Queue, over_time
from lab.measure.theory import compute_seconds
from lab.report import charts
from lab.report.files import write_json, write_markdown
from lab.report.format import aligned, listed, secs
from lab.report.openloop import Row, StackSummary, notes, table, to_row
from lab.scenarios import locust
from lab.scenarios.base import Plan
from lab.scenarios.climb import CPU_ROUNDS, STEP, Climb, climb, settling
from lab.scenarios.flags import admission_flags
from lab.servers.base import Stack
from lab.stacks import choose, serving, size_all


@dataclass(frozen=True)
class Stepped:
    """One stack's measured steps and its summary."""

    rows: list[Row]
    summary: StackSummary
    queue: Queue  # requests in the app and queued over the run, for queue.png


@dataclass(frozen=True)
class OpenLoop:
    name: str
    kind: str  # "slow" or "cpu"
    about: str
    within: int | None = None  # by default, the stacks with fewer slots than this (a bound a class can cross)

    @property
    def flags(self) -> tuple[str, ...]:
        return (
            "step",
            "rates",
            "rps",
            *(() if self.kind == "cpu" else ("slow-seconds",)),
            "workers",
            "threads",
            "admission",
        )

    def plan(self, args: argparse.Namespace) -> Plan[list[Climb]]:
        if args.rates and args.rps:
            raise LabError("--rates and --rps both set the steps: give one")
        defaults = self.defaults()
        chosen = choose(args.stacks, defaults, self.kind)
        given = {
            flag: value for flag in admission_flags() if (value := getattr(args, flag[2:].replace("-", "_")))
        }
        if given and not args.stacks:  # the defaults that have the setting, else every stack that has it

            def fits(stack: Stack) -> bool:
                return all(flag in stack.server.admission for flag in given)

            chosen = tuple(filter(fits, defaults)) or tuple(filter(fits, self.every())) or chosen
        for flag in given:
            for stack in chosen:
                if flag not in stack.server.admission:
                    owners = listed(admission_flags()[flag])
                    raise LabError(
                        f"{flag} is a setting of {owners}; {stack.name} runs {stack.server.name}"
                        " (choose with --stacks)"
                    )
        if args.workers or args.threads:
            chosen = tuple(stack.configured(args.workers, args.threads) for stack in chosen)
        chosen = tuple(
            stack.with_options(*(f for flag, v in given.items() for f in (flag, str(v)))) for stack in chosen
        )
        step = args.step or STEP
        rounds = 0
        if self.kind == "cpu":
            # The WSGI and ASGI apps do the same work: either one times it.
            rounds, service = compute_seconds(chosen[0].target("cpu"), apps.cpu_rounds() or CPU_ROUNDS)
            work = f"each request computes {rounds} hashes ({secs(service)} s of one core)"
        else:
            service = getattr(args, "slow_seconds", None) or apps.slow_seconds()
            work = f"each request waits {secs(service)} s"
        climbs = []
        for stack in chosen:
            slots = stack.slots(stack.target(self.kind))
            if (
                self.kind == "cpu"
            ):  # threads and coroutines do not overlap computing: a limit does not change it
                slots = slots.computing(usable_cpus())
            climbs.append(climb(stack, slots, self.kind, service, rounds, step, args.rates, args.rps))
        title = f"{self.name}: arrivals on a clock, {work}, steps of {step:g} s" + "".join(
            f", {flag} {value}" for flag, value in given.items()
        )
        rows = [["stack", "slots", "bound rps", "steps (rps)", "then", "about s", "command"]]
        for c in climbs:
            after = f"{c.repeats * c.step:g} s at {c.recovery_rate:.1f}" + (
                ", closed loop" if c.queues else ""
            )
            rows.append(
                [
                    c.stack.name,
                    "inf" if c.slots.count is None else str(c.slots.count),
                    "-" if math.isnan(c.bound) else f"{c.bound:.1f}",
                    ",".join(f"{r:.1f}" for r in c.rates),
                    after,
                    f"{c.seconds:.0f}",
                    c.stack.typed(c.stack.target(self.kind)),
                ]
            )
        return Plan(title + "; one stack at a time", chosen, rows, sum(c.seconds for c in climbs), (), climbs)

    def every(self) -> tuple[Stack, ...]:
        return tuple(stack for stack in serving(self.kind) if not stack.pitfall)

    def defaults(self) -> tuple[Stack, ...]:
        """Every stack, or those whose slots (for waiting) are fewer than `within`: a knee within reach."""
        every = self.every()
        if self.within is None:
            return every
        sized = size_all([(stack, stack.target(self.kind)) for stack in every])
        return tuple(
            s for s, slots in zip(every, sized, strict=True) if slots.count and slots.count < self.within
        )

    def run(self, plan: Plan[list[Climb]], out: Path, rows: list[Any]) -> None:
        for c in plan.detail:
            run_stack(c, out, rows)

    def report(
        self, plan: Plan[list[Climb]], rows: Sequence[Any], said: list[str], out: Path, env: dict[str, Any]
    ) -> str:
        steps_ = [row for stepped in rows for row in stepped.rows]
        summaries = [stepped.summary for stepped in rows]
        said = notes(summaries, steps_) + said
        write_json(out / "summary.json", steps_, env, stacks=[asdict(s) for s in summaries])
        write_markdown(out / "summary.md", plan.title, table(steps_), [f"- {note}" for note in said])
        if summaries:
            charts.latency_vs_offered(steps_, summaries, plan.title, out / "chart.png")
            charts.queue_over_time([stepped.queue for stepped in rows], plan.title, out / "queue.png")
        return "\n".join([aligned(table(steps_)) if steps_ else "", *[f"\nNOTE: {note}" for note in said]])


def server_mb(pid: int) -> float:
    """The server's own memory (USS, summed over its processes), in MB; nan once it is gone."""
    try:
        return server_uss(pid) / 1e6
    except psutil.NoSuchProcess:
        return math.nan


def run_stack(c: Climb, out: Path, rows: list[Any]) -> None:
    """The stack's steps and summary, added from whatever was recorded; then what stopped it early, raised."""
    name, target = c.stack.name, c.stack.target(c.kind)
    timelines = {phase: out / "timeline" / f"{name}{phase}" for phase in ("", "-closed")}
    for folder in timelines.values():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    memory: list[float] = []
    # The app reads how long to wait, or how much to compute, from its environment.
    app_env = {"SLOW_SECONDS": str(c.service)} if c.kind == "slow" else {"CPU_ROUNDS": str(c.rounds)}
    failure: LabError | KeyboardInterrupt | None = None
    with running([c.stack], target, out / "logs", app_env) as (server,):
        baseline = server_mb(server.process.pid)
        cpu = CpuSampler({"server": server.process.pid})

        def tick(elapsed: float) -> str:
            memory.append(server_mb(server.process.pid))
            cpu.sample()
            return f"{name}: {memory[-1]:.0f} MB"

        def load(phase: str, arguments: list[str], env: dict[str, str], seconds: float) -> None:
            env = {**env, "LOCUST_PATH": target.path, "LAB_TIMELINE_DIR": str(timelines[phase])}
            arguments = [
                *arguments,
                "-H",
                f"http://{server.host}:{server.port}",
                "-t",
                f"{math.ceil(seconds)}s",
            ]
            log = out / f"{name}{phase}.log"
            locust.watch(
                locust.start("overload_locustfile.py", arguments, env, log), [server], seconds, log, tick, 0.5
            )

        try:
            rates = [*c.rates, *[c.recovery_rate] * c.repeats]
            print(
                f"{name}: {len(c.rates)} steps of {c.step:g} s from {c.rates[0]:.1f} to {c.rates[-1]:.1f}"
                f" rps, then {c.repeats * c.step:g} s at {c.recovery_rate:.1f} rps",
                flush=True,
            )
            load(
                "",
                [*ARRIVALS, "--csv", str(out / name), "--html", str(out / f"{name}.html")],
                {"LOCUST_RATES": ",".join(f"{r:.6g}" for r in rates), "LOCUST_STEP_SECONDS": f"{c.step:g}"},
                len(rates) * c.step + 2 * c.service + 1.0,
            )  # and the last arrivals' answers
            if c.queues:  # beside a server that refuses at once, a closed loop only measures refusals
                print(f"{name}: {c.closed_users} closed-loop users for {c.closed_seconds} s", flush=True)
                users = str(c.closed_users)
                load("-closed", ["Users", "-u", users, "-r", users], {}, c.closed_seconds)
        except (LabError, KeyboardInterrupt) as error:  # what was recorded until then still counts
            failure = error
    every = [r for rs in read_requests(timelines[""]).values() for r in rs]
    if every:
        closed = read_requests(timelines["-closed"]).get("closed", [])
        rows.append(stepped(c, every, closed, cpu, baseline, memory))
    if failure or not every:
        raise failure or LabError(f"{name}: locust recorded no request; see {out / f'{name}.log'}")


ARRIVALS = ["Arrivals", "-u", "1", "-r", "1"]  # one user that starts each request on the clock


def stepped(c: Climb, every: list[Request], closed: list[Request], cpu: CpuSampler, baseline: float,
            memory: list[float]) -> Stepped:  # fmt: skip
    """The stack's rows and summary, each step held to the stack's bound."""
    name = c.stack.name
    began = min(r.start for r in every)
    cpu_s = cpu_per_request(cpu, every, began, c)
    bound = c.bound
    whole = cpu.interval(began, max(r.end for r in every))
    others = cpu.others(whole) if whole else math.nan
    climbed = [
        steps.step_stats(every, began + i * c.step, c.step, c.service, r) for i, r in enumerate(c.rates)
    ]
    rows = [to_row(name, "climb", stats, bound) for stats in climbed]
    drop = began + len(c.rates) * c.step
    recovery = steps.step_stats(every, drop, c.repeats * c.step, c.service, c.recovery_rate)
    rows.append(to_row(name, "recovery", recovery, bound))
    if closed:
        first, last = min(r.start for r in closed), max(r.end for r in closed)
        begin = first + settling(c.closed_users, c)  # the closed loop over its steady part
        stats = steps.step_stats(closed, begin, last - begin, c.service, max(c.rates), closed=True)
        rows.append(to_row(name, "closed", stats, bound))
    end = max(r.end for r in every)
    schedule = [(i * c.step, (i + 1) * c.step, rate) for i, rate in enumerate(c.rates)]
    schedule.append((drop - began, drop - began + c.repeats * c.step, c.recovery_rate))
    queue = Queue(name, c.stack.interface, c.slots.count, over_time(every, began, end), schedule)
    knee = steps.knee(climbed)
    backlog = steps.backlog(c.rates, bound, c.step) if c.queues and math.isfinite(bound) else 0.0
    summary = StackSummary(
        stack=name, command=c.stack.typed(c.stack.target(c.kind)), kind=c.kind, service_s=c.service,
        slots=c.slots.count, slots_why=c.slots.why, bound_rps=bound, knee_rps=knee,
        knee_vs_bound=knee / bound if knee is not None and math.isfinite(bound) else None,
        recovery_s=steps.recovery_seconds(every, drop, c.service), server_cpu_ms=cpu_s * 1000,
        expected_recovery_s=backlog / (bound - c.recovery_rate) if bound > c.recovery_rate else math.nan,
        baseline_uss_mb=baseline, peak_uss_mb=max(memory, default=math.nan),
        closed_users=c.closed_users if closed else 0, queues=c.queues,
        interface=c.stack.interface,
        peak_queued=max(s[2] for s in queue.series) if any(r.slot for r in every) else None,
        expected_queued=backlog if c.queues and math.isfinite(bound) else math.nan,
        other_cpu_cores=round(others, 3), machine_busy=others > BUSY,
        unseen_refusals=next(
            (a.unseen for f, a in c.stack.server.admission.items() if a.refuses and f in c.stack.options), ""
        ),
    )  # fmt: skip
    return Stepped(rows, summary, queue)


def cpu_per_request(cpu: CpuSampler, requests: list[Request], began: float, c: Climb) -> float:
    """The server's CPU seconds per request over the first step (below the bound: every arrival served).

    From one service time in, so that the requests counted are the ones whose work the samples
    hold; nan when the kernel counted too little CPU to divide.
    """
    interval = cpu.interval(began + c.service, began + c.step)
    if interval is None:
        return math.nan
    used = cpu.seconds("server", interval)
    done = sum(1 for r in requests if r.ok and interval.begin <= r.end < interval.finish)
    return used / done if done and used >= CPU_RESOLUTION else math.nan
