"""Turn raw observations into honest numbers: steady-state throughput, latency, CPU per request."""

from __future__ import annotations

import bisect
import csv
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Request:
    start: float
    end: float
    name: str
    ok: bool


def read_requests(folder: Path) -> dict[str, list[Request]]:
    """Every request the locust processes recorded (lab/locust_plugin.py), by stack name, by end time."""
    by_name: dict[str, list[Request]] = defaultdict(list)
    for path in sorted(folder.glob("requests-*.csv")):
        with path.open(newline="") as file:
            for start, end, name, ok in csv.reader(file):
                by_name[name].append(Request(float(start), float(end), name, ok == "True"))
    for requests in by_name.values():
        requests.sort(key=lambda r: r.end)
    return by_name


def throughput(ends: list[float], begin: float, finish: float, step: float = 0.01) -> float:
    """Completions per second over [begin, finish]: the slope of the cumulative count.

    Counting completions between two instants is off by up to one whole batch when
    responses come in bursts (4 workers finishing together every second), which is
    3% on a 30 s window. The least-squares slope of the cumulative-completions
    staircase, sampled evenly over the window, averages that phase away (< 0.3%).
    """
    grid = [begin + i * step for i in range(int((finish - begin) / step) + 1)]
    if len(grid) < 2:
        return 0.0
    counts = [float(bisect.bisect_right(ends, t)) for t in grid]
    return statistics.linear_regression(grid, counts).slope


def percentile(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds used so far by a process and each of its descendants, by pid."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    used = {}
    for process in processes:
        try:
            t = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        # children_* holds workers that already exited and were reaped (a replaced worker).
        used[process.pid] = t.user + t.system + t.children_user + t.children_system
    return used


@dataclass
class CpuSampler:
    """Samples the CPU time of process trees, so any window can be measured afterwards."""

    pids: dict[str, int]  # label -> root pid
    samples: list[tuple[float, dict[str, dict[int, float]]]] = field(default_factory=list)

    def sample(self) -> None:
        self.samples.append((time.time(), {label: tree_cpu_seconds(pid) for label, pid in self.pids.items()}))

    def _around(self, begin: float, finish: float) -> tuple[tuple[float, dict[str, dict[int, float]]], ...]:
        inside = [s for s in self.samples if begin <= s[0] <= finish]
        if len(inside) < 2:
            inside = self.samples[:1] + self.samples[-1:]
        return inside[0], inside[-1]

    def seconds(self, label: str, begin: float, finish: float) -> tuple[float, float]:
        """(CPU seconds the whole tree used, wall seconds) between the samples nearest the window."""
        (t0, first), (t1, last) = self._around(begin, finish)
        used = sum(last[label].values()) - sum(first[label].get(pid, 0.0) for pid in last[label])
        return max(used, 0.0), t1 - t0

    def busiest_process(self, label: str, begin: float, finish: float) -> float:
        """The highest share of one core any single process of the tree used (1.0 = a full core)."""
        (t0, first), (t1, last) = self._around(begin, finish)
        if t1 <= t0:
            return 0.0
        return max(
            ((used - first[label].get(pid, 0.0)) / (t1 - t0) for pid, used in last[label].items()),
            default=0.0,
        )


def ends_of(requests: Iterable[Request]) -> list[float]:
    return sorted(r.end for r in requests)
