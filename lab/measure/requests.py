"""Each request locust recorded, turned into honest numbers: the steady window, throughput, latency."""

from __future__ import annotations

import bisect
import csv
import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

RAMP = 1.0  # seconds to start every user (lab/scenarios/closed.py spawns them all in one second)
SETTLE = 1.0  # and then a little slack before measuring
START = 0.5  # locust's -t clock starts before its first request: a run is this much longer than its window
MIN_PERIODS = 5  # a window holds at least this many service times, so bursty completions average out
MIN_WINDOW = 5.0  # seconds


@dataclass(frozen=True)
class Request:
    start: float
    end: float  # for a censored request: when the run stopped
    name: str
    outcome: str  # "ok", "failed: <reason>", or "censored" (still waiting at the stop)
    # What the app said of itself (its Served-By, Started-At and Server-Timing headers), where it did:
    slot: str = ""  # "pid=1234 thread=1240" (WSGI) or "pid=1234" (ASGI)
    app_start: float = math.nan  # when the app took it: the wait before this was the queue
    app_end: float = math.nan  # when the app let it go

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def censored(self) -> bool:
        return self.outcome == "censored"

    @property
    def failed(self) -> bool:
        return self.outcome.startswith("failed")


def app_said(headers: Mapping[str, str] | None) -> tuple[str, str, str]:
    """(slot, app start, app end) from an answer's Served-By, Started-At and Server-Timing, or three "".

    Numbers only: a header the lab's apps did not write names nothing, and the request is kept.
    """
    headers = headers or {}
    slot = (headers.get("Served-By") or "").strip()
    started = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*", headers.get("Started-At") or "")
    took = re.search(r"\bapp;dur=(\d+(?:\.\d+)?)(?![\d.])", headers.get("Server-Timing") or "")
    if not (slot and started and took):
        return "", "", ""
    return slot, started[1], f"{float(started[1]) + float(took[1]) / 1000:.6f}"


def read_requests(folder: Path) -> dict[str, list[Request]]:
    """Every request the locust processes recorded (lab/scenarios/locust_plugin.py), by stack, by end."""
    by_name: dict[str, list[Request]] = defaultdict(list)
    for path in sorted(folder.glob("requests-*.csv")):
        with path.open(newline="") as file:
            for start, end, name, outcome, slot, app_start, app_end in csv.reader(file):
                app = (float(app_start), float(app_end)) if slot else (math.nan, math.nan)
                by_name[name].append(Request(float(start), float(end), name, outcome, slot, *app))
    for requests in by_name.values():
        requests.sort(key=lambda r: r.end)
    return by_name


def settle_seconds(time_in_system: float) -> float:
    """From the first request until the steady state: every user started, the queue full once.

    In a closed loop each request waits `time_in_system` (Little's law: users / throughput);
    only requests that started after the first such round saw the queue they will keep seeing.
    """
    return RAMP + time_in_system + SETTLE


def shortest_window(service_seconds: float) -> float:
    return max(MIN_WINDOW, MIN_PERIODS * service_seconds)


@dataclass(frozen=True)
class Window:
    begin: float
    finish: float

    @property
    def seconds(self) -> float:
        return self.finish - self.begin


def steady_window(requests: Iterable[Request], settle: float) -> Window | None:
    """[first start + settle, the stop]; None if nothing was recorded."""
    every = list(requests)
    if not every:
        return None
    return Window(min(r.start for r in every) + settle, max(r.end for r in every))


def throughput(ends: list[float], begin: float, finish: float, step: float = 0.01) -> float:
    """Completions per second over [begin, finish]: the slope of the cumulative count.

    Counting completions between two instants is off by up to one whole batch when
    responses come in bursts (4 workers finishing together every second), which is
    3% on a 30 s window. The least-squares slope of the cumulative-completions
    staircase, sampled evenly over the window, averages that phase away (< 0.3%).
    """
    grid = [begin + i * step for i in range(int((finish - begin) / step) + 1)]
    if len(grid) < 2:
        return float("nan")
    counts = [float(bisect.bisect_right(ends, t)) for t in grid]
    return statistics.linear_regression(grid, counts).slope


def steady_rate(ends: list[float], window: Window) -> tuple[float, bool]:
    """(completions per second, whether the rate held steady) over the window.

    The slope weighs the middle of the window most: exact for a steady rate, whatever
    the phase of bursty completions, but wrong for a rate that changed (a server that
    stalled, pool timeouts starting halfway). So it is checked against the plain
    average, count / seconds, which may be off by one batch of simultaneous completions
    at either end; beyond that margin the rate was not steady, and the average is the
    honest figure.
    """
    if window.seconds <= 0:
        return float("nan"), True
    inside = [t for t in ends if window.begin <= t <= window.finish]
    average = len(inside) / window.seconds
    slope = throughput(ends, window.begin, window.finish)
    batch = max(Counter(round(t, 2) for t in inside).values(), default=0)  # completions in one 10 ms tick
    margin = 0.05 * average + 2 * batch / window.seconds
    return (slope, True) if abs(slope - average) <= margin else (average, False)


def percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass(frozen=True)
class Latency:
    ms: float  # nan: nothing measured
    at_least: bool  # a censored request could lie below it, so the true value may be higher


def censored_percentile(done: list[float], waiting: list[float], q: int) -> Latency:
    """The q-th percentile of the finished latencies, and of the requests stuck longer than all of them.

    In a steady closed loop the requests still waiting at the stop are the twins of
    those that were waiting as the window opened, which the window counts when they
    finish: leaving them out is right, counting them at their age so far would pull
    every percentile down. But one that had already waited longer than any finished
    request will end above all of them, whenever it ends: it is counted, at its age,
    and a percentile it reaches is only a lower bound (a run too short, a stuck server).
    It reaches one when it stands at or below the order statistic the percentile is read
    from: its true, larger value would move the percentile up. Above that, it cannot.
    """
    longest = max(done, default=0.0)
    stuck = [age for age in waiting if age > longest]
    values = sorted(done + stuck)
    value = percentile(values, q)
    if not stuck or math.isnan(value):
        return Latency(value, False)
    upper = next(v for v in values if v >= value)  # the order statistic just above (or at) it
    return Latency(value, min(stuck) <= upper)


@dataclass(frozen=True)
class Observed:
    """One stack's requests over a window: successes, failures and the still-waiting, kept apart."""

    throughput_rps: float  # successful completions per second
    steady: bool  # the rate held over the window (else throughput_rps is the plain average)
    ok: int  # successful completions in the window
    failures: int  # failed in the window
    failure_rps: float
    failure_reasons: list[str]  # the most frequent first, with counts
    censored: int  # still waiting at the stop
    p50: Latency
    p95: Latency
    p99: Latency
    requests: int  # recorded over the whole run, of every outcome


def observe(requests: list[Request], window: Window) -> Observed:
    inside = [r for r in requests if window.begin <= r.end <= window.finish]
    ok = [r for r in inside if r.ok]
    failed = [r for r in inside if r.failed]
    waiting = [(r.end - r.start) * 1000 for r in requests if r.censored]
    done = [(r.end - r.start) * 1000 for r in ok]
    reasons = Counter(r.outcome.removeprefix("failed: ") for r in failed).most_common(3)
    rate, steady = steady_rate(sorted(r.end for r in requests if r.ok), window)
    return Observed(
        throughput_rps=rate,
        steady=steady,
        ok=len(ok),
        failures=len(failed),
        failure_rps=len(failed) / window.seconds if window.seconds > 0 else float("nan"),
        failure_reasons=[f"{count} x {reason}" for reason, count in reasons],
        censored=len(waiting),
        p50=censored_percentile(done, waiting, 50),
        p95=censored_percentile(done, waiting, 95),
        p99=censored_percentile(done, waiting, 99),
        requests=len(requests),
    )
