"""A closed-loop row: one stack's numbers over its steady window beside its bound, and the words for them.

`row` is a pure function of what was measured (a Sample) and what the theory says (the Slots):
tests/test_closed_rows.py gives it known answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lab.measure.requests import Observed, shortest_window
from lab.report.format import fmt, pct
from lab.servers.base import Slots, Stack

SATURATED = 0.9  # a locust process above 90% of a core can't send faster: it is the bottleneck
NAN = math.nan


@dataclass(frozen=True)
class Sample:
    """What a run measured of one stack over its steady window (lab.scenarios.closed gathers it)."""

    seen: Observed
    window_s: float
    cpu_per_request: float = NAN  # server CPU seconds per successful request (nan: too little to count)
    server_cores: float = NAN  # cores the server's processes kept busy over the window
    locust_peak: float = NAN  # the busiest locust process, in cores (1.0 = saturated)
    proxy_cpu_per_request: float = NAN  # the proxy's CPU seconds per request it passed on (nan: no proxy)
    stopped_early: bool = False  # the run ended before its planned duration (a server died, Ctrl-C)


@dataclass(frozen=True)
class Result:
    stack: str
    interface: str
    scenario: str
    users: int
    slots: int | None  # requests served at once; None: unbounded, only the CPU limits it
    slots_why: str  # derived from the command the stack ran
    binding: str  # what sets the requests in flight: "users", or the smallest limit in the chain
    processes: int  # processes serving requests
    bound_rps: float  # Little's law; nan for hello, which has no such bound
    measured_rps: float  # successful completions per second over the steady-state window
    steady: bool  # the rate held over the window; if not, measured_rps is the plain average
    efficiency: float  # measured / bound
    p50_ms: float  # of successful requests, and of any still waiting that outlived them all (at their age)
    p95_ms: float
    p99_ms: float
    latency_lower_bounds: list[str]  # which percentiles still-waiting requests may have pulled down
    requests: int  # recorded over the whole run, every outcome
    ok: int  # successful, in the window
    failures: int  # failed, in the window: never in throughput or latency
    failure_rps: float
    failure_reasons: list[str]
    censored: int  # still waiting when the run stopped
    generator_bound: bool  # the load generator, not the server, limited the result
    server_cpu_us_per_request: float  # server CPU over the window / requests finished in it
    capacity_rps: float  # hello: usable cores / CPU per request, a projection (nan where it means nothing)
    capacity_basis: str  # how capacity_rps was derived, or why there is none
    utilisation: float  # share of its usable cores the server kept busy
    server_cpu_cores: float  # cores the server tree kept busy during the window
    locust_cpu_peak: float  # the busiest locust process, in cores (1.0 = saturated)
    window_s: float
    stopped_early: bool
    proxy: str | None  # what stood in front of the server (--proxy), if anything
    proxy_cpu_us_per_request: float  # its CPU over the window / requests through it
    explanation: str = field(default="")


def row(
    stack: Stack,
    scenario: str,
    kind: str,
    users: int,
    service: float,
    slots: Slots,
    sample: Sample,
    cpus: int,
    proxy: str | None = None,
) -> Result:
    """One stack's numbers beside its bound. `service`: seconds each request waits (0 where none does)."""
    seen, hello = sample.seen, kind == "hello"
    if kind == "cpu":
        # The CPU a request costs, measured on the server over the window: the machine's speed
        # drifts between runs, and the server's own HTTP work is part of each request too.
        bound = slots.bound_rps(users, sample.cpu_per_request) if sample.cpu_per_request > 0 else NAN
    else:
        bound = NAN if hello else slots.bound_rps(users, service)
    efficiency = seen.throughput_rps / bound
    cores = min(slots.processes, cpus)
    utilisation = sample.server_cores / cores
    capacity, basis = capacity_rps(stack, slots, sample, cores, cpus, utilisation) if hello else (NAN, "")
    saturated = sample.locust_peak >= SATURATED  # a saturated locust cannot send faster
    # In hello that shows as a server with CPU to spare; elsewhere as a rate below its bound.
    generator_bound = saturated and (utilisation < 0.9 if hello else efficiency < 0.97)
    result = Result(
        stack=stack.name,
        interface=stack.interface,
        scenario=scenario,
        users=users,
        slots=slots.count,
        slots_why=slots.why,
        processes=slots.processes,
        binding="users" if slots.count is None or users <= slots.count else slots.binding,
        bound_rps=round(bound, 2),
        measured_rps=round(seen.throughput_rps, 2),
        steady=seen.steady,
        efficiency=round(efficiency, 4),
        p50_ms=round(seen.p50.ms, 1),
        p95_ms=round(seen.p95.ms, 1),
        p99_ms=round(seen.p99.ms, 1),
        latency_lower_bounds=[
            q for q, lat in (("p50", seen.p50), ("p95", seen.p95), ("p99", seen.p99)) if lat.at_least
        ],
        requests=seen.requests,
        ok=seen.ok,
        failures=seen.failures,
        failure_rps=round(seen.failure_rps, 2),
        failure_reasons=seen.failure_reasons,
        censored=seen.censored,
        generator_bound=generator_bound,
        server_cpu_us_per_request=round(sample.cpu_per_request * 1e6, 1),
        capacity_rps=round(capacity, 1),
        capacity_basis=basis,
        utilisation=round(utilisation, 3),
        server_cpu_cores=round(sample.server_cores, 3),
        locust_cpu_peak=round(sample.locust_peak, 3),
        window_s=round(sample.window_s, 2),
        stopped_early=sample.stopped_early,
        proxy=proxy,
        proxy_cpu_us_per_request=round(sample.proxy_cpu_per_request * 1e6, 1),
    )
    return Result(**{**result.__dict__, "explanation": explain(result, stack, service)})


def capacity_rps(
    stack: Stack, slots: Slots, sample: Sample, cores: int, cpus: int, utilisation: float
) -> tuple[float, str]:
    """hello: the server's usable cores / its CPU per request, a projection, and how it was made."""
    if stack.server.beside_gil:
        return NAN, (
            f"not derived: {stack.server.name}'s HTTP work runs in threads beside the GIL, so one process can"
            " use more than one core; python -m lab wrk measures its peak"
        )
    if not sample.cpu_per_request > 0:
        return NAN, ""
    basis = (
        f"{cores} core{'s' if cores > 1 else ''} ({slots.processes} process(es), {cpus} usable CPUs)"
        f" / {sample.cpu_per_request * 1e6:,.0f} us of server CPU per request, measured while the"
        f" server used {utilisation:.0%} of them"
    )
    if stack.interface == "WSGI" and slots.count and slots.count > slots.processes:
        # Measured once (docs/comparison.md, hello scenario): one gthread process did 5,500 rps
        # with its threads on one core and 2,200 with them spread over two.
        basis += (
            "; threads of one process share its GIL, and spread over more cores they cost more"
            " CPU per request, so this holds only for the load it was measured under"
        )
    return cores / sample.cpu_per_request, basis


def explain(r: Result, stack: Stack, seconds: float) -> str:
    if math.isnan(r.measured_rps):
        return "the run stopped before this stack's steady state: nothing to measure."
    if r.scenario == "hello":
        basis = r.capacity_basis or "-"
        why = f"measured {r.measured_rps:,.0f} rps; capacity {fmt(r.capacity_rps, 0)} rps = {basis}."
    elif r.scenario == "cpu" and math.isnan(r.bound_rps):
        why = (
            f"{r.slots_why}; measured {r.measured_rps:g} rps, but the server's CPU over the window was too"
            " little for the kernel to count (under 0.1 s), so there is no bound to hold it to."
        )
    else:
        each = (
            f"{fmt(r.server_cpu_us_per_request, 0)} us of server CPU per request (measured)"
            if r.scenario == "cpu"
            else f"{seconds:g} s"
        )
        rate = f"/ {each} = {r.bound_rps:g} rps"
        if r.slots is None or r.users <= r.slots:
            why = f"{r.slots_why}: all {r.users} users in flight {rate}"
        else:
            why = f"{r.slots_why} = {r.slots} in flight {rate} ({r.binding} binds)"
        why += f"; measured {r.measured_rps:g} ({r.efficiency:.0%})."
        if r.scenario == "cpu" and not math.isnan(r.locust_cpu_peak):
            why += f" The busiest locust process used {r.locust_cpu_peak:.0%} of a core of the same CPUs."
        if r.scenario == "cpu" and stack.server.beside_gil:
            why += (
                f" {stack.server.name}'s HTTP work runs beside the GIL, yet counts in the CPU per request"
                " above: the bound sits a few percent low (103% measured once)."
            )
    if r.proxy:
        cost = r.proxy_cpu_us_per_request
        why += f" Through {r.proxy}: " + (
            f"{cost:,.0f} us of its CPU per request (over every request it passed on in the window)."
            if not math.isnan(cost)
            else "its CPU in this window was too little for the kernel to count (under 0.1 s)."
        )
    if r.window_s < shortest_window(seconds):
        cause = "the run stopped early" if r.stopped_early else "the run was too short for this stack"
        why += f" The window lasted only {r.window_s:g} s ({cause}): too short to trust."
    if not r.steady:
        why += " The rate changed within the window, so measured is the plain average over it."
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
    elif not math.isnan(r.efficiency) and r.efficiency < 0.9 and not r.failures:
        why += below_bound(r)
    return why


def below_bound(r: Result) -> str:
    """Why a row well under its bound may be, when nothing above explains it."""
    why = (
        f" {r.efficiency:.0%} of the bound with no failure and locust not saturated: the server did not keep"
    )
    if r.binding != "users" and r.processes > 1 and r.slots and r.slots > r.processes:
        return why + (
            " its slots busy. With keep-alive, each connection stays with the worker that accepted it, so one"
            " worker can hold more users than it has threads while another idles; one worker, or more"
            " threads, holds the bound."
        )
    return why + " up. Rerun it; if it repeats, the slots are not what binds (see the log in logs/)."


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


def table(results: list[Result]) -> list[list[str]]:
    """Each stack beside its Little's-law bound; hello: capacity and utilisation instead."""
    hello = any(r.scenario == "hello" for r in results)
    theory = ["capacity rps", "util."] if hello else ["bound rps", "eff."]
    rows = [
        [
            "stack",
            "iface",
            "slots",
            "users",
            "limit",
            theory[0],
            "measured rps",
            theory[1],
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "CPU us/req",
            "fail",
            "waiting",
            "note",
        ]
    ]
    for r in results:
        p50, p95, p99 = (
            (">=" if q in r.latency_lower_bounds else "") + fmt(value, 0)
            for q, value in (("p50", r.p50_ms), ("p95", r.p95_ms), ("p99", r.p99_ms))
        )
        rows.append(
            [
                r.stack,
                r.interface,
                "inf" if r.slots is None else str(r.slots),
                str(r.users),
                "-" if hello else r.binding,
                fmt(r.capacity_rps, 0) if hello else fmt(r.bound_rps),
                fmt(r.measured_rps),
                pct(r.utilisation) if hello else pct(r.efficiency),
                p50,
                p95,
                p99,
                fmt(r.server_cpu_us_per_request, 0),
                str(r.failures),
                str(r.censored),
                "GENERATOR-BOUND" if r.generator_bound else "",
            ]
        )
    return rows


# The table's words, said once under it (docs/glossary.md has them at more length).
LEGEND = (
    "slots: requests the stack serves at once, read from its command; limit: what binds them "
    "(workers, threads, a pool, the GIL or the CPUs; users when the stack could take more); "
    "bound: Little's law, slots in flight / time per request; eff.: measured / bound; "
    "capacity (hello): the server's cores / its CPU per request; util.: the share of them it used; "
    "CPU us/req: server CPU per request; waiting: requests still open when the run stopped."
)
