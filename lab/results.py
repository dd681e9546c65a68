"""One stack's result: its numbers over its steady window, beside its bound, and the words explaining them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from lab.measure import CPU_RESOLUTION, CpuSampler, Request, Window, observe, shortest_window
from lab.report import Result, fmt
from lab.stacks import Slots, Stack
from lab.theory import usable_cpus

if TYPE_CHECKING:
    from lab.runner import Run

SATURATED = 0.9  # a locust process above 90% of a core can't send faster: it is the bottleneck


PROXY = "proxy"  # the CpuSampler's label for the proxy in front (--proxy)


def row(
    stack: Stack, slots: Slots, requests: list[Request], window: Window | None, run: Run, sampler: CpuSampler,
    everyone: list[Request] | None = None,
) -> Result:  # fmt: skip
    """One stack's numbers over its steady-state window, beside its bound.

    `everyone`: the requests of every stack in the run, all through the one proxy, if any.
    """
    nan = float("nan")
    if window is None or window.seconds <= 0:  # stopped before its steady state: nothing to report
        now = time.time()
        window = Window(now, now)
    seen = observe(requests, window)
    usable = usable_cpus()
    cores = min(slots.processes, usable)
    # CPU and requests over the same interval: the samples that fall inside the window.
    interval = sampler.interval(window.begin, window.finish)
    cpu_per_request = server_cores = locust_peak = proxy_cpu = nan
    if interval is not None:
        cpu = sampler.seconds(stack.name, interval)
        done = sum(1 for r in requests if r.ok and interval.begin <= r.end <= interval.finish)
        # Below the kernel's resolution (a server that mostly sleeps) a per-request figure means nothing.
        cpu_per_request = cpu / done if done and cpu >= CPU_RESOLUTION else nan
        server_cores = cpu / interval.seconds
        locust_peak = sampler.busiest_process("locust", interval)
        if run.proxy:
            # One proxy serves every stack of the run: its CPU shared over all their requests.
            through = sum(
                1 for r in everyone or requests if r.ok and interval.begin <= r.end <= interval.finish
            )
            used = sampler.seconds(PROXY, interval)
            proxy_cpu = used / through if through and used >= CPU_RESOLUTION else nan
    hello = run.scenario.kind == "hello"
    bound = nan if hello else slots.bound_rps(run.users, run.service)
    if run.scenario.kind == "cpu":
        # The CPU a request costs, measured on the server over the window: the machine's speed
        # drifts between runs, and the server's own HTTP work is part of each request too.
        bound = slots.bound_rps(run.users, cpu_per_request) if cpu_per_request > 0 else nan
    efficiency = seen.throughput_rps / bound if bound == bound else nan
    # Granian does its HTTP work in Rust threads that run beside the GIL, so one process uses
    # more than one core (wrk measured 1.16 to 1.28): cores / CPU per request bounds nothing.
    beside_gil = stack.server == "granian"
    capacity = cores / cpu_per_request if hello and cpu_per_request > 0 and not beside_gil else nan
    utilisation = server_cores / cores if server_cores == server_cores else nan
    # A saturated locust process cannot send faster; in hello that shows as a server with CPU to spare.
    saturated = locust_peak >= SATURATED
    generator_bound = saturated and (utilisation < 0.9 if hello else efficiency < 0.97)
    result = Result(
        stack=stack.name, interface=stack.interface, scenario=run.scenario.name, users=run.users,
        slots=slots.count, slots_why=slots.why, processes=slots.processes,
        binding="users" if slots.count is None or run.users <= slots.count else slots.binding,
        bound_rps=round(bound, 2), measured_rps=round(seen.throughput_rps, 2), steady=seen.steady,
        efficiency=round(efficiency, 4),
        p50_ms=round(seen.p50.ms, 1), p95_ms=round(seen.p95.ms, 1), p99_ms=round(seen.p99.ms, 1),
        latency_lower_bounds=[q for q, lat in (("p50", seen.p50), ("p95", seen.p95), ("p99", seen.p99))
                              if lat.at_least],
        requests=seen.requests, ok=seen.ok, failures=seen.failures, failure_rps=round(seen.failure_rps, 2),
        failure_reasons=seen.failure_reasons, censored=seen.censored, generator_bound=generator_bound,
        server_cpu_us_per_request=round(cpu_per_request * 1e6, 1), capacity_rps=round(capacity, 1),
        capacity_basis="", utilisation=round(utilisation, 3), server_cpu_cores=round(server_cores, 3),
        locust_cpu_peak=round(locust_peak, 3), window_s=round(window.seconds, 2), explanation="",
        proxy=run.proxy, proxy_cpu_us_per_request=round(proxy_cpu * 1e6, 1),
    )  # fmt: skip
    if hello and beside_gil:
        result.capacity_basis = (
            "not derived: Granian's Rust threads work beside the GIL, so one process can use more than"
            " one core; python -m lab.wrk measures its peak"
        )
    if hello and capacity == capacity:
        result.capacity_basis = (
            f"{cores} core{'s' if cores > 1 else ''} ({slots.processes} process(es), {usable} usable CPUs)"
            f" / {result.server_cpu_us_per_request:,.0f} us of server CPU per request, measured while the"
            f" server used {utilisation:.0%} of them"
        )
        if stack.interface == "WSGI" and slots.count and slots.count > slots.processes:
            # Measured (docs/comparison.md, hello scenario): one gthread process did 5,500 rps
            # with its threads on one core and 2,200 with them spread over two.
            result.capacity_basis += (
                "; threads of one process share its GIL, and spread over more cores they cost more"
                " CPU per request, so this holds only for the load it was measured under"
            )
    result.explanation = explain(result, run.service)
    if run.scenario.kind == "cpu" and beside_gil:
        result.explanation += (
            " Granian's HTTP work runs in Rust beside the GIL, yet counts in the CPU per request above:"
            " the bound sits a few percent low (103% measured)."
        )
    return result


def explain(r: Result, seconds: float) -> str:
    if r.measured_rps != r.measured_rps:
        return "the run stopped before this stack's steady state: nothing to measure."
    if r.scenario == "hello":
        basis = r.capacity_basis or "-"
        why = f"measured {r.measured_rps:,.0f} rps; capacity {fmt(r.capacity_rps, 0)} rps = {basis}."
    elif r.scenario == "cpu" and r.bound_rps != r.bound_rps:
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
        if r.scenario == "cpu" and r.locust_cpu_peak == r.locust_cpu_peak:
            why += f" The busiest locust process used {r.locust_cpu_peak:.0%} of a core of the same CPUs."
    if r.proxy:
        cost = r.proxy_cpu_us_per_request
        why += f" Through {r.proxy}: " + (
            f"{cost:,.0f} us of its CPU per request (over every request it passed on in the window)."
            if cost == cost
            else "its CPU in this window was too little for the kernel to count (under 0.1 s)."
        )
    if r.window_s < shortest_window(seconds):
        why += f" The window lasted only {r.window_s:g} s (the run stopped early): too short to trust."
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
    return why


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
