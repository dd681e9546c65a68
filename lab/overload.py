"""Past the bound: `python compare.py --scenario overload`, open-loop load stepped across each stack's bound.

Every other scenario is a closed loop: a user waits for its answer before asking again, so the
load offered falls as the server slows, and the queue can never outgrow the users. Real
arrivals do not wait. Here requests arrive on a clock (overload_locustfile.py's Arrivals, one
greenlet per request, so arrivals never wait for answers), one stack at a time:

1. steps at multiples of the stack's Little's-law bound (slots / seconds per request), each for
   --step seconds, from below the bound to above it: the knee is where served stops following
   offered;
2. a step back down at half the bound, as long as the queue takes to drain: how soon users are
   served normally again;
3. where the server queues (no admission control), the same top rate from a closed loop (the
   users that would offer it if each were served at once): what a closed-loop test reports for
   the same overload, and why its p99 looks so much better.

`--scenario overload-cpu` runs the same on the computing app (CPU_ROUNDS hashes, nothing waits):
there the bound of every stack is its CPU, one request computing per process and per core
(its GIL), so the stacks with no slot limit for waiting (gevent, the event loops) have a knee too.

`--limit-concurrency N` gives uvicorn admission control: past N - 1 requests in flight it
answers 503 at once. `--backpressure N` is Granian's: past N requests in flight per worker it
stops accepting, and the rest wait in the kernel's listen queue, whose length is `--backlog N`
(gunicorn, uvicorn, Granian, Hypercorn). The report is summary.json, summary.md and chart.png
(latency against offered load, one line per stack, the bound marked).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import psutil

from lab import openloop
from lab.errors import LabError
from lab.measure import CPU_RESOLUTION, CpuSampler, Request, read_requests, server_uss
from lab.report import aligned, markdown_table, write_json
from lab.runner import stop_locust
from lab.servers import ROOT, StackServer, running
from lab.stacks import Slots, Stack, Target
from lab.theory import secs, usable_cpus

MULTIPLES = (0.5, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5)  # of the bound, climbing
RECOVERY = 0.5  # the step back down, as a multiple of the bound
STEP = 5.0  # seconds per step
# overload-cpu's hashes per request unless CPU_ROUNDS says otherwise: about 25 ms here. At the
# apps' own 20,000 (5 ms) a new connection's cost is 15 to 60% of a request, and arrivals for two
# processes (560 a second at the top step) take from the servers the CPU they are measured on.
CPU_ROUNDS = 100_000
SLOWEST = 0.9  # the drop is long enough for a server serving only this share of its bound
MIN_SERVICE_TIMES = 3  # a step lasts at least this many service times, so its served rate is its own


@dataclass(frozen=True)
class Work:
    """What each request does: wait (the slow app) or compute (the cpu app), and for how long."""

    kind: Literal["slow", "cpu"]  # which Target of each stack serves it
    service: float  # seconds per request: SLOW_SECONDS waited, or CPU_ROUNDS hashes timed on one core
    rounds: int = 0  # cpu: the CPU_ROUNDS that service was timed with

    def describe(self) -> str:
        if self.kind == "cpu":
            return f"each request computes {self.rounds} hashes ({secs(self.service)} s of one core)"
        return f"each request waits {secs(self.service)} s"


@dataclass(frozen=True)
class Plan:
    stack: Stack
    work: Work
    slots: Slots
    step: float
    rates: tuple[float, ...]  # climbing
    recovery_rate: float
    recovery_step: float  # long enough for the fluid model's backlog to drain, and a few service times

    @property
    def service(self) -> float:
        return self.work.service

    @property
    def target(self) -> Target:
        return self.stack.target(self.work.kind)

    @property
    def bound(self) -> float:
        return math.nan if self.slots.count is None else self.slots.count / self.service

    @property
    def queues(self) -> bool:
        """Past its bound the server queues (True) or refuses at once (admission control)."""
        return self.slots.binding != "--limit-concurrency"

    @property
    def backlog(self) -> float:
        """Requests queued when the climb ends, by the fluid model (none where excess is refused)."""
        if not self.queues or not math.isfinite(self.bound):
            return 0.0
        return openloop.backlog(self.rates, self.bound, self.step)


@dataclass(frozen=True)
class Row:
    """One step of one stack, as summary.json holds it."""

    stack: str
    phase: str  # "climb", "recovery" or "closed"
    asked_rps: float
    offered_rps: float
    measured_rps: float  # served: successful completions per second
    bound_rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    latency_lower_bounds: list[str]
    failures: dict[str, int]
    refused_p95_ms: float
    arrivals: int


@dataclass(frozen=True)
class StackSummary:
    stack: str
    command: str
    kind: str  # "slow": each request waits; "cpu": each computes
    service_s: float  # what one request waits, or computes on one core
    slots: int | None
    slots_why: str
    bound_rps: float
    knee_rps: float | None
    knee_vs_bound: float | None
    recovery_s: float | None  # None: not recovered before the run ended
    server_cpu_ms: float  # the server's CPU per request over the first step (nan: too little to count)
    expected_recovery_s: float  # the fluid model's: backlog / (bound - recovery rate)
    baseline_uss_mb: float
    peak_uss_mb: float
    closed_users: int
    queues: bool  # past the bound it queued (True) or refused at once (admission control)


def limited(stack: Stack, limit: int) -> tuple[Stack, Slots]:
    """The stack with uvicorn's --limit-concurrency, and the slots that gives it."""
    if stack.server != "uvicorn":
        raise LabError(
            f"--limit-concurrency is uvicorn's; {stack.name} runs {stack.server} (choose a uvicorn stack)"
        )
    if limit < 2:
        raise LabError("--limit-concurrency must be 2 or more: uvicorn counts the asking connection too")
    stack = dataclasses.replace(stack, options=(*stack.options, "--limit-concurrency", str(limit)))
    processes = stack.slots(stack.slow).processes
    why = (
        f"{processes} process{'es' if processes > 1 else ''} x ({limit} - 1): uvicorn refuses a request "
        f"once {limit} connections, its own included, are open"
    )
    return stack, Slots(processes * (limit - 1), why, processes, "--limit-concurrency")


# The servers' other admission settings, each the server's own flag: past the slots the rest
# wait, in the server (Granian's --backpressure) or in the kernel's listen queue (--backlog).
QUEUE_FLAGS = {"--backpressure": ("granian",), "--backlog": ("gunicorn", "uvicorn", "granian", "hypercorn")}


def with_flag(stack: Stack, flag: str, value: int) -> tuple[Stack, Slots]:
    """The stack with one of QUEUE_FLAGS; its slots read from the new command by the server's parser."""
    servers = QUEUE_FLAGS[flag]
    if stack.server not in servers:
        raise LabError(f"{flag} is for {' and '.join(servers)}; {stack.name} runs {stack.server}")
    stack = dataclasses.replace(stack, options=(*stack.options, flag, str(value)))
    return stack, stack.slots(stack.slow)


def plan(stack: Stack, slots: Slots, work: Work, step: float, multiples: tuple[float, ...] | None,
         rates: tuple[float, ...] | None) -> Plan:  # fmt: skip
    service = work.service
    if step < MIN_SERVICE_TIMES * service:
        raise LabError(
            f"--step {secs(step)} s is too short for requests of {secs(service)} s: a step must last "
            f"{MIN_SERVICE_TIMES} service times, so use --step {secs(MIN_SERVICE_TIMES * service)} or more"
        )
    if rates is None:
        if slots.count is None:
            raise LabError(
                f"{stack.name} has no limit on requests waiting at once ({slots.why}), so no bound to step "
                "across: give --rps (requests per second) or --limit-concurrency N, or use --scenario "
                "overload-cpu, where its bound is its CPU"
            )
        rates = tuple(m * slots.count / service for m in multiples or MULTIPLES)
    bound = math.nan if slots.count is None else slots.count / service
    down = RECOVERY * bound if math.isfinite(bound) else min(rates)
    drafted = Plan(stack, work, slots, step, rates, down, step)
    drain = 0.0
    if drafted.backlog:
        # Long enough for a server serving only SLOWEST of its bound to drain (a knee may sit that
        # far below it): a recovery the run cut short would say nothing.
        slower = SLOWEST * bound
        drain = openloop.backlog(rates, slower, step) / (slower - down)
    return dataclasses.replace(drafted, recovery_step=max(step, drain + MIN_SERVICE_TIMES * service))


def locust(arguments: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable, "-m", "locust", "-f", "overload_locustfile.py,lab/locust_plugin.py", "--headless",
        "--only-summary", "--exit-code-on-error", "0", *arguments,
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


def server_mb(pid: int) -> float:
    """The server's own memory (USS, summed over its processes), in MB; nan once it is gone."""
    try:
        return server_uss(pid) / 1e6
    except psutil.NoSuchProcess:
        return math.nan


def drive(
    process: subprocess.Popen[bytes], server: StackServer, seconds: float, memory: list[float],
    cpu: CpuSampler, log: Path,
) -> None:  # fmt: skip
    """Until locust exits: sample the server's memory and CPU, stop if it dies, show where the run is."""
    began = time.monotonic()
    try:
        while process.poll() is None:
            time.sleep(0.5)
            memory.append(server_mb(server.process.pid))
            cpu.sample()
            if server.process.poll() is not None:
                raise server.failed(f"died during the run (exit code {server.process.returncode})")
            if sys.stdout.isatty():
                print(
                    f"\r  [{min(time.monotonic() - began, seconds):4.0f}/{seconds:.0f} s]", end="", flush=True
                )
    finally:
        stop_locust(process)
        if sys.stdout.isatty():
            print()
    if process.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
        raise LabError(f"locust exited with code {process.returncode}; {log} ends with:\n{tail}")


def run_stack(
    p: Plan, out: Path, env: dict[str, str]
) -> tuple[list[Row], StackSummary | None, LabError | None]:
    """The stack's rows and summary, from whatever was recorded, and what stopped it early (if anything)."""
    name = p.stack.name
    timeline, closed_timeline = out / "timeline" / name, out / "timeline" / f"{name}-closed"
    for folder in (timeline, closed_timeline):
        shutil.rmtree(folder, ignore_errors=True)  # a report folder used again: only this run's requests
        folder.mkdir(parents=True)
    # The locustfile steps evenly: the longer recovery is the low rate repeated.
    repeats = math.ceil(p.recovery_step / p.step)
    recovery_seconds = repeats * p.step
    steps = [*p.rates, *[p.recovery_rate] * repeats]
    total = math.ceil(len(steps) * p.step + 2 * p.service + 1.0)  # and the last arrivals' answers
    users = math.ceil(max(p.rates) * p.service)  # a closed loop that would offer the top rate
    # Long enough to settle (every user started, one full queue waited) and then ten service times.
    closed_seconds = math.ceil(settling(users, p) + max(p.step, 10 * p.service))
    memory: list[float] = []
    # The app reads how long to wait, or how much to compute, from its environment.
    waits = p.work.kind == "slow"
    app_env = {"SLOW_SECONDS": str(p.service)} if waits else {"CPU_ROUNDS": str(p.work.rounds)}
    with running([p.stack], p.target, out / "logs", {**env, **app_env}) as servers:
        server = servers[0]
        url = f"http://{server.host}:{server.port}"
        baseline = server_mb(server.process.pid)
        cpu = CpuSampler({"server": server.process.pid})
        open_env = {
            "LOCUST_RATES": ",".join(f"{rate:.6g}" for rate in steps),
            "LOCUST_STEP_SECONDS": f"{p.step:g}",
            "LOCUST_PATH": p.target.path,
            "LAB_TIMELINE_DIR": str(timeline),
        }
        print(f"{name}: {len(p.rates)} steps of {p.step:g} s from {p.rates[0]:.1f} to {p.rates[-1]:.1f} rps, "
              f"then {recovery_seconds:g} s at {p.recovery_rate:.1f} rps", flush=True)  # fmt: skip
        arrivals = ["Arrivals", "-H", url, "-u", "1", "-r", "1", "-t", f"{total}s",
                    "--csv", str(out / name), "--html", str(out / f"{name}.html")]  # fmt: skip
        log = out / f"{name}.log"
        failure = None
        try:
            drive(locust(arrivals, open_env, log), server, total, memory, cpu, log)
            if p.queues:  # beside a server that refuses at once, a closed loop only measures refusals
                print(f"{name}: {users} closed-loop users for {closed_seconds} s", flush=True)
                closed_env = {"LOCUST_PATH": p.target.path, "LAB_TIMELINE_DIR": str(closed_timeline)}
                users_args = ["Users", "-H", url, "-u", str(users), "-r", str(users), "-t",
                              f"{closed_seconds}s"]  # fmt: skip
                log = out / f"{name}-closed.log"
                drive(locust(users_args, closed_env, log), server, closed_seconds, memory, cpu, log)
        except LabError as error:  # a server or locust died: what was recorded until then still counts
            failure = error
    every = [r for rs in read_requests(timeline).values() for r in rs]
    if not every:
        return [], None, failure or LabError(f"{name}: locust recorded no request; see {out / f'{name}.log'}")
    began = min(r.start for r in every)
    rows: list[Row] = []
    climb: list[openloop.StepStats] = []
    for i, rate in enumerate(p.rates):
        stats = openloop.step_stats(every, began + i * p.step, p.step, p.service, rate)
        climb.append(stats)
        rows.append(to_row(name, "climb", stats, p.bound))
    drop = began + len(p.rates) * p.step
    recovery = openloop.step_stats(every, drop, recovery_seconds, p.service, p.recovery_rate)
    rows.append(to_row(name, "recovery", recovery, p.bound))
    closed = read_requests(closed_timeline).get("closed", [])
    if closed:
        rows.append(closed_row(name, closed, users, p))
    knee = openloop.knee(climb)
    expected = p.backlog / (p.bound - p.recovery_rate) if p.backlog else 0.0
    summary = StackSummary(
        stack=name,
        command=" ".join(p.stack.command(p.target)),
        kind=p.work.kind,
        service_s=p.service,
        slots=p.slots.count,
        slots_why=p.slots.why,
        bound_rps=p.bound,
        knee_rps=knee,
        knee_vs_bound=knee / p.bound if knee is not None and math.isfinite(p.bound) else None,
        recovery_s=openloop.recovery_seconds(every, drop, p.service),
        server_cpu_ms=cpu_per_request(cpu, every, began, p) * 1000,
        expected_recovery_s=expected,
        baseline_uss_mb=baseline,
        peak_uss_mb=max(memory, default=math.nan),
        closed_users=users if closed else 0,
        queues=p.queues,
    )
    return rows, summary, failure


def cpu_per_request(cpu: CpuSampler, requests: list[Request], began: float, p: Plan) -> float:
    """The server's CPU seconds per request over the first step (below the bound: every arrival served).

    From one service time in, so that the requests counted are the ones whose work the samples
    hold; nan when the kernel counted too little CPU to divide.
    """
    interval = cpu.interval(began + p.service, began + p.step)
    if interval is None:
        return math.nan
    used = cpu.seconds("server", interval)
    done = sum(1 for r in requests if r.ok and interval.begin <= r.end < interval.finish)
    return used / done if done and used >= CPU_RESOLUTION else math.nan


def settling(users: int, p: Plan) -> float:
    """Seconds until a closed loop is steady: every user started (1 s), each waited one full queue."""
    return 1.0 + users / (p.bound if math.isfinite(p.bound) else max(p.rates))


def closed_row(name: str, requests: list[Request], users: int, p: Plan) -> Row:
    """The closed loop over its steady part: from when every user has waited one full queue."""
    if not requests:
        return to_row(name, "closed", openloop.step_stats([], 0, 1, 0, max(p.rates)), p.bound)
    first, last = min(r.start for r in requests), max(r.end for r in requests)
    begin = first + settling(users, p)
    stats = openloop.step_stats(requests, begin, last - begin, p.service, max(p.rates), closed=True)
    return to_row(name, "closed", stats, p.bound)


def to_row(name: str, phase: str, s: openloop.StepStats, bound: float) -> Row:
    return Row(name, phase, s.asked_rps, s.offered_rps, s.served_rps, bound, s.p50_ms, s.p95_ms, s.p99_ms,
               s.max_ms, s.lower_bounds, s.failures, s.refused_p95_ms, s.arrivals)  # fmt: skip


def ms(value: float, lower: bool = False) -> str:
    return "-" if math.isnan(value) else f"{'>=' if lower else ''}{value:,.0f}"


def table(rows: list[Row]) -> list[list[str]]:
    head = ["stack", "phase", "asked rps", "offered", "served", "bound", "p50 ms", "p95 ms", "p99 ms",
            "max ms", "refused", "timeout", "reset", "refused p95 ms"]  # fmt: skip
    body = [
        [r.stack, r.phase, f"{r.asked_rps:.1f}", f"{r.offered_rps:.1f}", f"{r.measured_rps:.1f}",
         "-" if math.isnan(r.bound_rps) else f"{r.bound_rps:.1f}",
         ms(r.p50_ms, "p50" in r.latency_lower_bounds), ms(r.p95_ms, "p95" in r.latency_lower_bounds),
         ms(r.p99_ms, "p99" in r.latency_lower_bounds), ms(r.max_ms, "max" in r.latency_lower_bounds),
         str(r.failures.get("refused", 0)), str(r.failures.get("timeout", 0)),
         str(r.failures.get("reset", 0) + r.failures.get("other", 0)), ms(r.refused_p95_ms)]
        for r in rows
    ]  # fmt: skip
    return [head, *body]


def notes(summaries: list[StackSummary], rows: list[Row]) -> list[str]:
    said = []
    for s in summaries:
        mine = [r for r in rows if r.stack == s.stack]
        if s.knee_rps is None:
            knee = "it kept up with no step"
        elif s.knee_vs_bound is None:
            knee = f"it kept up to {s.knee_rps:.1f} rps"
        else:
            share = f"{s.knee_vs_bound:.0%}"
            knee = f"it kept up to {s.knee_rps:.1f} rps, {share} of its bound ({s.bound_rps:.1f})"
        recovered = "not within the run" if s.recovery_s is None else f"after {s.recovery_s:.1f} s"
        predicted = (
            f"the queue left by the climb predicts {s.expected_recovery_s:.1f} s"
            if s.queues
            else "nothing queued: the excess was refused"
        )
        said.append(
            f"{s.stack}: {knee}. When the load dropped, it served normally again {recovered} ({predicted}). "
            f"Memory: {s.baseline_uss_mb:.0f} MB idle, {s.peak_uss_mb:.0f} MB at the peak."
        )
        if s.kind == "cpu" and math.isfinite(s.server_cpu_ms):
            said.append(
                f"{s.stack}'s processes used {s.server_cpu_ms:.1f} ms of CPU per request at the first step; "
                f"the app's hashing, timed alone, takes {s.service_s * 1000:.1f} ms, and the bound counts "
                "only that: the rest is the server's own work (and the noise of a 0.5 s sample)."
            )
        refused = sum(r.failures.get("refused", 0) for r in mine)
        if s.kind == "cpu" and "--limit-concurrency" in s.command and not refused:
            said.append(
                f"{s.stack} ran with --limit-concurrency and refused nothing: while its event loop "
                "computes it accepts no connection, so the queue waits in the kernel's listen queue, "
                "where uvicorn cannot count it."
            )
        if refused:
            fastest = max((r.refused_p95_ms for r in mine if r.failures.get("refused")), default=math.nan)
            said.append(
                f"{s.stack} refused {refused} requests with 503 past its limit, each step's refusals "
                f"answered within {ms(fastest)} ms (p95, the slowest step): a client learns at once to "
                "retry or go elsewhere, instead of waiting in a queue that only grows."
            )
        closed = next((r for r in mine if r.phase == "closed"), None)
        top = [r for r in mine if r.phase == "climb"][-1]
        if closed is not None and top.measured_rps >= openloop.KEEPS_UP * top.offered_rps:
            said.append(
                f"{s.stack} kept up at {top.asked_rps:.1f} rps, so both loops agree there: p99 "
                f"{ms(top.p99_ms)} ms on a clock, {ms(closed.p99_ms)} ms from {s.closed_users} "
                "closed-loop users."
            )
        elif closed is not None:
            said.append(
                f"{s.stack}, open vs closed at {top.asked_rps:.1f} rps asked: arrivals on a clock kept "
                f"offering {top.offered_rps:.1f} rps and their p99 was {ms(top.p99_ms)} ms, growing with the "
                f"queue; {s.closed_users} closed-loop users offered only {closed.offered_rps:.1f} rps, since "
                f"each waits for its answer, and their p99 was {ms(closed.p99_ms)} ms. The closed loop never "
                "sends the requests a slow server would have been sent meanwhile: coordinated omission."
            )
    behind = [r for r in rows if r.phase != "closed" and r.offered_rps < 0.97 * r.asked_rps]
    if behind:
        said.append(
            "The load generator fell behind (offered below 97% of asked) on: "
            + ", ".join(f"{r.stack} at {r.asked_rps:.1f} rps ({r.offered_rps:.1f} offered)" for r in behind)
            + ". Offered is what was measured, and the figures beside it hold for that."
        )
    return said


def write_report(out: Path, title: str, rows: list[Row], summaries: list[StackSummary], said: list[str],
                 environment: dict[str, Any]) -> None:  # fmt: skip
    write_json(out / "summary.json", rows, environment, stacks=[asdict(s) for s in summaries])
    lines = [f"# {title}", "", *markdown_table(table(rows)), ""]
    lines += [f"- {note}" for note in said]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    chart(rows, summaries, title, out / "chart.png")


def text(rows: list[Row]) -> str:
    return aligned(table(rows))


def chart(rows: list[Row], summaries: list[StackSummary], title: str, path: Path) -> None:
    import matplotlib  # only the chart needs it, and it is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(11, 5.5))
    palette = plt.get_cmap("tab10" if len(summaries) <= 10 else "tab20")  # a colour each, up to 20
    for i, s in enumerate(summaries):
        color = palette(i % palette.N)
        climb = [r for r in rows if r.stack == s.stack and r.phase == "climb"]
        offered = [r.offered_rps for r in climb]
        ax.plot(offered, [r.p99_ms for r in climb], marker="o", color=color, label=s.stack)
        ax.plot(offered, [r.p50_ms for r in climb], ls=":", color=color)
        if math.isfinite(s.bound_rps):
            ax.axvline(s.bound_rps, color=color, ls="--", lw=1)
            ax.text(s.bound_rps, 0.02, f" bound {s.bound_rps:.0f} rps", color=color, rotation=90,
                    va="bottom", fontsize=8, transform=ax.get_xaxis_transform())  # fmt: skip
    if not summaries:
        plt.close(fig)
        return
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("offered load, requests per second (arrivals on a clock)")
    ax.set_ylabel("latency, ms (log scale): p99 solid, p50 dotted")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the lines, not on them
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(chosen: tuple[Stack, ...], work: Work, step: float, multiples: tuple[float, ...] | None,
        rates: tuple[float, ...] | None, limit: int | None, out: Path,
        environment: dict[str, Any], flags: dict[str, int] | None = None) -> int:  # fmt: skip
    """Plan every stack first (a bad flag is refused before anything starts), then run them one by one.

    `flags`: any of QUEUE_FLAGS, such as {"--backlog": 8}.
    """
    plans = []
    cpus = usable_cpus()
    for stack in chosen:
        for flag, value in (flags or {}).items():
            stack, _ = with_flag(stack, flag, value)
        slots = stack.slots(stack.target(work.kind))
        if limit:  # last: its slots are uvicorn's count of connections, which no parser gives
            stack, slots = limited(stack, limit)
        if work.kind == "cpu":
            # Threads and coroutines do not overlap computing: one request per process and per CPU.
            # A limit does not change that bound; whether it refuses anything is for the run to show.
            slots = stack.slots(stack.target("cpu")).computing(cpus)
        plans.append(plan(stack, slots, work, step, multiples, rates))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LabError(f"cannot write the report to {out}: {error.strerror}") from None
    title = (
        f"overload{'-cpu' if work.kind == 'cpu' else ''}: arrivals on a clock, {work.describe()}, "
        f"steps of {step:g} s"
        + (f", uvicorn --limit-concurrency {limit}" if limit else "")
        + "".join(f", {flag} {value}" for flag, value in (flags or {}).items())
    )
    print(f"{title}\nreport: {out}", flush=True)
    rows: list[Row] = []
    summaries: list[StackSummary] = []
    said: list[str] = []
    try:
        for p in plans:
            stack_rows, summary, failure = run_stack(p, out, {})
            rows += stack_rows
            summaries += [summary] if summary else []
            if failure:
                raise failure
    except (LabError, KeyboardInterrupt) as error:
        why = str(error).splitlines()[0] if str(error) else "interrupted"
        said.append(f"Run stopped early ({why}); these are the numbers measured until then.")
        raise
    finally:
        said = notes(summaries, rows) + said
        write_report(out, title, rows, summaries, said, environment)
        if rows:
            print("\n" + text(rows))
        for note in said:
            print(f"\nNOTE: {note}")
    return 0
