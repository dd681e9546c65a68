"""The maths of an open-loop run: per step, what was offered, what was served, how long it took.

Requests arrive on a clock (overload_locustfile.py's Arrivals), a step at a time. For each step:

- offered: the rate of the arrivals recorded in the step, measured, not the rate asked for, so
  a generator that fell behind shows;
- served: the rate of successful completions from one service time into the step to its end,
  so it reflects this step's arrivals, not the last step's (below the bound a request ends one
  service time after it starts; above it the server completes at its bound, whatever arrives).
  Arrivals on a clock are evenly spaced, so counts over the step are exact. A closed loop's
  starts and ends come in batches (4 workers finishing at once), which would put a count a
  batch off: there both rates are the least-squares slope of the cumulative count
  (lab.measure.throughput);
- latency: of every successful arrival of the step, and of those still waiting at the stop at
  their age, which makes a percentile they can move a lower bound;
- failures by kind: refused (503), timeout, reset, other. Never in throughput or latency.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from lab.measure.requests import Request, percentile, throughput

KEEPS_UP = 0.97  # served / offered at or above this: the server kept up with the step
RECOVERED = 1.5  # a bin whose median is within this many service times: back to normal


@dataclass(frozen=True)
class StepStats:
    asked_rps: float
    offered_rps: float
    served_rps: float
    arrivals: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    lower_bounds: list[str]  # percentiles that requests still waiting at the stop may have pulled down
    failures: dict[str, int]  # kind -> count: refused, timeout, reset, other
    refused_p95_ms: float  # how quickly refusals came back (nan: none)


def failure_kind(outcome: str) -> str:
    """refused (503: the server said no at once), timeout, reset (the connection dropped), other."""
    text = outcome.lower()
    if "code=503" in text:
        return "refused"
    if "timeout" in text or "timed out" in text:
        return "timeout"
    if "reset" in text or "refused" in text or "broken pipe" in text or "remotedisconnected" in text:
        return "reset"
    return "other"


def step_stats(
    requests: Sequence[Request],
    begin: float,
    seconds: float,
    service: float,
    asked: float,
    closed: bool = False,
) -> StepStats:
    """One step of [begin, begin + seconds): its arrivals, what was served, their latency.

    closed: the requests came from a closed loop, stopped mid-request. Those still waiting are
    then the twins of requests the step already counted, and only one older than every finished
    request is counted (at its age), as lab.measure.censored_percentile explains.
    """
    finish = begin + seconds
    arrivals = [r for r in requests if begin <= r.start < finish]
    starts = sorted(r.start for r in requests)
    ends = sorted(r.end for r in requests if r.ok)
    done = [(r.end - r.start) * 1000 for r in arrivals if r.ok]
    waiting = [(r.end - r.start) * 1000 for r in arrivals if r.censored]
    if closed:
        waiting = [w for w in waiting if w > max(done, default=0.0)]
    every = done + waiting
    values, bounds = {}, []
    for label, q in (("p50", 50), ("p95", 95), ("p99", 99)):
        values[label] = percentile(every, q)
        # A waiting request's true latency is larger than its age: if it stands at or below the
        # percentile's value, the true percentile may be higher.
        if any(w <= values[label] for w in waiting):
            bounds.append(label)
    if waiting:
        bounds.append("max")
    failed = [r for r in arrivals if r.failed]
    refused = [(r.end - r.start) * 1000 for r in failed if failure_kind(r.outcome) == "refused"]
    return StepStats(
        asked_rps=asked,
        offered_rps=throughput(starts, begin, finish) if closed else len(arrivals) / seconds,
        served_rps=math.nan
        if seconds <= service
        else (
            throughput(ends, begin + service, finish)
            if closed
            else sum(begin + service <= t < finish for t in ends) / (seconds - service)
        ),
        arrivals=len(arrivals),
        p50_ms=values["p50"],
        p95_ms=values["p95"],
        p99_ms=values["p99"],
        max_ms=max(every, default=math.nan),
        lower_bounds=bounds,
        failures=dict(Counter(failure_kind(r.outcome) for r in failed)),
        refused_p95_ms=percentile(refused, 95),
    )


def knee(steps: Sequence[StepStats]) -> float | None:
    """The highest offered rate the server kept up with, climbing: served within 3% of offered and
    next to nothing refused. None if it kept up with no step."""
    best = None
    for step in steps:
        if not step.arrivals:  # a step the run never reached (it stopped early)
            break
        failed = sum(step.failures.values())
        if step.served_rps >= KEEPS_UP * step.offered_rps and failed <= 0.01 * max(step.arrivals, 1):
            best = step.offered_rps
        else:
            break
    return best


def recovery_seconds(
    requests: Sequence[Request], drop: float, service: float, bin_seconds: float = 0.5
) -> float | None:
    """Seconds from the load's drop until arrivals are served as if nothing had happened: the first
    half-second bin whose median latency is within 1.5 service times and with no failure. None if
    that never came before the run ended."""
    later = sorted((r for r in requests if r.start >= drop), key=lambda r: r.start)
    if not later:
        return None
    bins: dict[int, list[Request]] = {}
    for r in later:
        bins.setdefault(int((r.start - drop) / bin_seconds), []).append(r)
    for index in sorted(bins):
        group = bins[index]
        if any(r.failed or r.censored for r in group):
            continue
        if percentile([r.end - r.start for r in group], 50) <= RECOVERED * service:
            return index * bin_seconds
    return None


def backlog(rates: Sequence[float], bound: float, seconds: float) -> float:
    """Requests queued at the end of the steps, by the fluid model: each second above the bound
    adds (rate - bound), each second below drains (bound - rate), never below zero."""
    queued = 0.0
    for rate in rates:
        queued = max(0.0, queued + (rate - bound) * seconds)
    return queued
