"""A closed-loop row: one stack's numbers over its steady window beside its bound, and the words for them.

`row` is a pure function of what was measured (a Sample) and what the theory says (the Slots):
tests/test_closed_rows.py gives it known answers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from lab.measure.cpu import BUSY
from lab.measure.peak import Peak
from lab.measure.requests import Observed, shortest_window
from lab.measure.slots import Occupancy, expected_in_server
from lab.report.format import busy, fmt, pct, plural
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
    peak: Peak | None = None  # hello: its peak under wrk (None: not measured, wrk missing)
    access_log: bool = False  # the server wrote a line per request, as its command has it
    other_cores: float = NAN  # cores processes the lab did not start kept busy over the window
    occupancy: Occupancy | None = None  # in the app and queued, from the app's own headers (None: unnamed)


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
    # hello: the peak under wrk, per CPU the server ran on (nan: not measured), over its runs
    peak_rps_per_cpu: float  # the median run
    peak_rps_per_cpu_min: float
    peak_rps_per_cpu_max: float
    peak_cpu_us_per_request: float  # the server's CPU per request under wrk, median run
    peak_server_cpus: int | None  # the CPUs the server ran on under wrk
    peak_pinned: bool  # the server had its own CPUs, wrk others; False: they shared them
    peak_runs_rps: list[float]  # each run's requests a second, the whole server
    peak_server_busy: float  # the share of its CPUs the server kept busy under wrk, median run
    peak_wrk_cpu: float  # wrk's own CPU, in cores, median run
    peak_generator_bound: bool  # wrk saturated while the server had CPU to spare: the peak is at least this
    access_log: bool  # the server wrote a line per request, as its command has it
    utilisation: float  # share of its usable cores the server kept busy
    server_cpu_cores: float  # cores the server tree kept busy during the window
    locust_cpu_peak: float  # the busiest locust process, in cores (1.0 = saturated)
    window_s: float
    stopped_early: bool
    proxy: str | None  # what stood in front of the server (--proxy), if anything
    proxy_cpu_us_per_request: float  # its CPU over the window / requests through it
    other_cpu_cores: float  # cores processes the lab did not start kept busy over the window
    machine_busy: bool  # other_cpu_cores above BUSY: the numbers may be low, rerun on a quiet machine
    # From the app's own headers, averaged over the window less its last round (nan: the app named no slot)
    in_server: float  # requests the app was serving at once
    queued: float  # requests sent but not yet taken by the app
    expected_in_server: int  # what Little's law says of in_server: every user, or every slot when fewer
    slots_seen: int | None  # distinct slots (a process, or a process and thread) that served a request
    processes_seen: int | None  # the processes they belong to
    unnamed: int  # requests answered in that stretch without naming a slot (failures): not in the counts
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
    seen, hello, inside = sample.seen, kind == "hello", sample.occupancy
    if kind == "cpu":
        # The CPU a request costs, measured on the server over the window: the machine's speed
        # drifts between runs, and the server's own HTTP work is part of each request too.
        bound = slots.bound_rps(users, sample.cpu_per_request) if sample.cpu_per_request > 0 else NAN
    else:
        bound = NAN if hello else slots.bound_rps(users, service)
    efficiency = seen.throughput_rps / bound
    cores = min(slots.processes, cpus)
    utilisation = sample.server_cores / cores
    peak = sample.peak
    runs = [rps / peak.cpus for rps in peak.rps] if peak else [NAN]
    saturated = sample.locust_peak >= SATURATED  # a saturated locust cannot send faster
    # Beside locust's window, and (hello) beside wrk's runs: the busier of the two names the machine.
    beside = [sample.other_cores, statistics.median(peak.others) if peak and peak.others else NAN]
    others = max((cores for cores in beside if not math.isnan(cores)), default=NAN)
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
        peak_rps_per_cpu=round(peak.per_cpu if peak else NAN, 1),
        peak_rps_per_cpu_min=round(min(runs), 1),
        peak_rps_per_cpu_max=round(max(runs), 1),
        peak_cpu_us_per_request=round(peak.cpu_median if peak else NAN, 1),
        peak_server_cpus=peak.cpus if peak else None,
        peak_pinned=bool(peak and peak.pinned),
        peak_runs_rps=[round(rps, 1) for rps in peak.rps] if peak else [],
        peak_server_busy=round(statistics.median(peak.busy) if peak and peak.busy else NAN, 3),
        peak_wrk_cpu=round(statistics.median(peak.wrk_cores) if peak and peak.wrk_cores else NAN, 3),
        peak_generator_bound=bool(peak and peak.generator_bound),
        access_log=sample.access_log,
        utilisation=round(utilisation, 3),
        server_cpu_cores=round(sample.server_cores, 3),
        locust_cpu_peak=round(sample.locust_peak, 3),
        window_s=round(sample.window_s, 2),
        stopped_early=sample.stopped_early,
        proxy=proxy,
        proxy_cpu_us_per_request=round(sample.proxy_cpu_per_request * 1e6, 1),
        other_cpu_cores=round(others, 3),
        machine_busy=others > BUSY,
        in_server=round(inside.in_server, 2) if inside else NAN,
        queued=round(inside.queued, 2) if inside else NAN,
        expected_in_server=expected_in_server(slots.count, users),
        slots_seen=inside.slots_seen if inside else None,
        processes_seen=inside.processes_seen if inside else None,
        unnamed=inside.unnamed if inside else 0,
    )
    return Result(**{**result.__dict__, "explanation": explain(result, stack, service)})


def explain(r: Result, stack: Stack, seconds: float) -> str:
    if math.isnan(r.measured_rps):
        return "the run stopped before this stack's steady state: nothing to measure."
    if r.scenario == "hello":
        why = hello_words(r)
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
        why += inside_words(r)
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
    elif not math.isnan(r.efficiency) and r.efficiency < 0.9 and not r.failures and not r.machine_busy:
        why += below_bound(r)
    if r.machine_busy:
        why += f" {busy(r.other_cpu_cores)}."
    return why


SLOTS_HELD = 0.05  # in the app within 5% of what Little's law expects: the slots were held full


def inside_words(r: Result) -> str:
    """What the app's own headers said: requests it held at once beside the slots, and the queue."""
    if math.isnan(r.in_server):
        return ""
    expected = r.expected_in_server
    why = (
        f" Inside, from the app's headers: {r.in_server:g} in the app at once (of"
        f" {plural(expected, 'user' if r.binding == 'users' else 'slot')}), {r.queued:g} queued for one;"
        f" {served_by(r.slots_seen or 0, r.processes_seen or 0)}."
    )
    if r.scenario == "cpu":
        if r.in_server > (1 + SLOTS_HELD) * expected:  # measured: gthread held 1.74 of 1 slot
            why += (
                f" More than its {expected}: its threads take turns at the GIL, and a request counts as in"
                " the app from its start, computing or waiting for its turn."
            )
        return why
    if abs(r.in_server / expected - 1) > SLOTS_HELD:
        held = "fewer" if r.in_server < expected else "more"
        why += f" That is {held} than its {expected}: " + (
            "the slots were not kept full (see measured above)."
            if held == "fewer"
            else "some requests it counts were waiting inside the app for a limit it takes after starting."
        )
    # Each closed-loop user has one request somewhere: in the app, queued, or on its way back.
    returning = r.users - r.in_server - r.queued
    if returning > SLOTS_HELD * r.users and not r.unnamed:
        why += (
            f" The other {returning:.1f} of the {r.users} users were between the app and their answer:"
            " the app had let go of their requests, the answers had not arrived."
        )
    if r.unnamed:
        why += f" {plural(r.unnamed, 'request')} answered without naming a slot (failures): not counted."
    return why


def served_by(slots: int, processes: int) -> str:
    """ "served by 4 processes", or "by 16 threads in 1 process": the distinct slots the app named."""
    those = f"{processes} process{'' if processes == 1 else 'es'}"
    return f"served by {those}" if slots == processes else f"served by {slots} threads in {those}"


def hello_words(r: Result) -> str:
    """hello: the peak under wrk and where it ran, the access log, then what one locust process drove."""
    if math.isnan(r.peak_rps_per_cpu):
        why = "peak not measured (wrk is not installed)"
    else:
        cpus = f"{r.peak_server_cpus} CPU{'s' if r.peak_server_cpus != 1 else ''}"
        where = (
            f"the server on {cpus} of its own, wrk on the others"
            if r.peak_pinned
            else f"the server sharing the CPUs with wrk, so it had less than {cpus}"
        )
        why = (
            f"peak under wrk {r.peak_rps_per_cpu:,.0f} rps per server CPU (median of {len(r.peak_runs_rps)}"
            f" runs, {r.peak_rps_per_cpu_min:,.0f}-{r.peak_rps_per_cpu_max:,.0f}), at"
            f" {r.peak_cpu_us_per_request:,.0f} us of server CPU per request; {where}"
        )
        if r.peak_generator_bound:
            why += (
                f"; wrk's one thread used {r.peak_wrk_cpu:.0%} of a core while the server was only"
                f" {r.peak_server_busy:.0%} busy, so the peak is at least this: wrk's ceiling (shown with >=)"
            )
    why += "; access log on, a line written per request" if r.access_log else "; no access log"
    busy = "" if math.isnan(r.utilisation) else f" and kept the server {r.utilisation:.0%} busy"
    return why + (
        f". One locust process drove {r.measured_rps:,.0f} rps{busy}: what the generator could send,"
        " not the server's peak."
    )


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


def busy_notes(results: list[Result]) -> list[str]:
    """One note for the run when any window shared the machine with more than BUSY cores of others."""
    busiest = max((r.other_cpu_cores for r in results if r.machine_busy), default=None)
    if busiest is None:
        return []
    return [
        f"{busy(busiest)} (a browser, an editor's indexer, another test run). Each window's share is"
        f" other_cpu_cores in summary.json; up to {BUSY:.0%} of a core goes unnamed."
    ]


def censoring_notes(results: list[Result]) -> list[str]:
    if any(r.latency_lower_bounds for r in results):
        return [
            "Latencies marked >= count requests that were still waiting when the run stopped, having already "
            "waited longer than any finished one, at the time they had waited so far: the true percentile "
            "is at least that. A longer --duration, or a smaller queue, gives exact ones."
        ]
    return []


def generator_notes(results: list[Result]) -> list[str]:
    if any(r.generator_bound and r.scenario == "hello" for r in results):
        return [
            "Rows marked GENERATOR-BOUND: one locust process could not keep the server busy, so its rate is "
            "locust's ceiling. The server's peak is the wrk column beside it."
        ]
    if any(r.generator_bound for r in results):
        return [
            "Rows marked GENERATOR-BOUND measured the load generator, not the server: locust and the server "
            "shared this machine's CPUs. Try --processes 2, or a faster generator such as wrk, or load from "
            "other machines (locust --master/--worker)."
        ]
    return []


def hello_table(results: list[Result]) -> list[list[str]]:
    """hello: each stack's peak under wrk per server CPU, then what one locust process drove."""
    rows = [
        [
            "stack",
            "iface",
            "access log",
            "peak rps/CPU",
            "min-max",
            "CPU us/req",
            "locust rps",
            "server busy",
            "locust CPU",
            "p50 ms",
            "p99 ms",
            "fail",
            "note",
        ]
    ]
    for r in results:
        spread = (
            "-"
            if math.isnan(r.peak_rps_per_cpu)
            else f"{fmt(r.peak_rps_per_cpu_min, 0)}-{fmt(r.peak_rps_per_cpu_max, 0)}"
        )
        rows.append(
            [
                r.stack,
                r.interface,
                "on" if r.access_log else "off",
                (">=" if r.peak_generator_bound else "") + fmt(r.peak_rps_per_cpu, 0),
                spread,
                fmt(r.peak_cpu_us_per_request, 0),
                fmt(r.measured_rps, 0),
                pct(r.utilisation),
                pct(r.locust_cpu_peak),
                fmt(r.p50_ms, 0),
                fmt(r.p99_ms, 0),
                str(r.failures),
                "GENERATOR-BOUND" if r.generator_bound else "",
            ]
        )
    return rows


def table(results: list[Result]) -> list[list[str]]:
    """Each stack beside its Little's-law bound; hello: its measured peak (hello_table)."""
    if any(r.scenario == "hello" for r in results):
        return hello_table(results)
    rows = [
        [
            "stack",
            "iface",
            "slots",
            "users",
            "limit",
            "in server",
            "queued",
            "bound rps",
            "measured rps",
            "eff.",
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
                r.binding,
                fmt(r.in_server),
                fmt(r.queued),
                fmt(r.bound_rps),
                fmt(r.measured_rps),
                pct(r.efficiency),
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
    "in server, queued: requests the app was serving at once, and those sent but not yet taken, "
    "averaged over the window from the app's own headers (Served-By, Started-At, Server-Timing); "
    "bound: Little's law, slots in flight / time per request; eff.: measured / bound; "
    "CPU us/req: server CPU per request; waiting: requests still open when the run stopped."
)
HELLO_LEGEND = (
    "peak rps/CPU: requests a second under wrk per CPU the server ran on, the median of its runs "
    "(min-max beside it), with the server's CPU per request under that load (CPU us/req); "
    "access log: whether the server wrote a line per request, as its command has it; "
    "locust rps: what one locust process drove, with the share of the server's CPUs it kept busy "
    "and the busiest locust process's share of a core: a generator's ceiling, not the server's peak."
)


SPREAD = 1.15  # a stack's fastest wrk run more than 15% above its slowest: the machine's speed moved


def spread_notes(results: Sequence[Result]) -> list[str]:
    """hello: the stacks whose wrk runs disagreed, so the median is to be read with care."""
    wide = [
        f"{r.stack} ({r.peak_rps_per_cpu_min:,.0f}-{r.peak_rps_per_cpu_max:,.0f})"
        for r in results
        if r.peak_rps_per_cpu_min > 0 and r.peak_rps_per_cpu_max / r.peak_rps_per_cpu_min > SPREAD
    ]
    if not wide:
        return []
    return [
        f"The wrk runs of {', '.join(wide)} spread by more than {SPREAD - 1:.0%}: the machine's speed moved"
        " while they ran (another program, or a shared virtual machine). Their median is less sure than the"
        " others'; rerun them with --stacks on a quiet machine."
    ]


def legend(results: Sequence[Result]) -> str:
    return HELLO_LEGEND if any(r.scenario == "hello" for r in results) else LEGEND
