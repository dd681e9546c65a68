"""CPU time of process trees, sampled during a run so any window can be measured afterwards; memory too."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import psutil

from lab.measure.requests import Window

# The kernel counts CPU time in clock ticks (10 ms on most Linux): fewer than this many
# ticks over an interval is too coarse to divide among requests.
CPU_TICKS = 10
CPU_RESOLUTION = CPU_TICKS / os.sysconf("SC_CLK_TCK")


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


def server_uss(pid: int) -> int:
    """Memory only the server's processes hold (USS), summed: shared pages are not counted per worker."""
    root = psutil.Process(pid)
    return sum(p.memory_full_info().uss for p in [root, *root.children(recursive=True)])


@dataclass
class CpuSampler:
    """Samples the CPU time of process trees, so any window can be measured afterwards."""

    pids: dict[str, int]  # label -> root pid
    samples: list[tuple[float, dict[str, dict[int, float]]]] = field(default_factory=list)

    def sample(self) -> None:
        self.samples.append((time.time(), {label: tree_cpu_seconds(pid) for label, pid in self.pids.items()}))

    def interval(self, begin: float, finish: float) -> Window | None:
        """The first and last samples inside [begin, finish]; None if fewer than two fall there."""
        inside = [t for t, _ in self.samples if begin <= t <= finish]
        return Window(inside[0], inside[-1]) if len(inside) >= 2 and inside[-1] > inside[0] else None

    def _at(self, t: float) -> dict[str, dict[int, float]]:
        return next(used for when, used in self.samples if when == t)

    def seconds(self, label: str, interval: Window) -> float:
        """CPU seconds the whole tree used over an interval from interval()."""
        first, last = self._at(interval.begin)[label], self._at(interval.finish)[label]
        # A pid seen only at the end started inside the interval: all its time counts.
        return max(sum(last.values()) - sum(first.get(pid, 0.0) for pid in last), 0.0)

    def busiest_process(self, label: str, interval: Window) -> float:
        """The highest share of one core any single process of the tree used (1.0 = a full core)."""
        first, last = self._at(interval.begin)[label], self._at(interval.finish)[label]
        return max(
            ((used - first.get(pid, 0.0)) / interval.seconds for pid, used in last.items()), default=0.0
        )
