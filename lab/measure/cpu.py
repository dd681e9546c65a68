"""CPU time of process trees, sampled during a run so any window can be measured afterwards; memory too."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import psutil

from lab.measure.requests import Window

# The kernel counts CPU time in clock ticks (10 ms on most Linux): fewer than this many
# ticks over an interval is too coarse to divide among requests.
CPU_TICKS = 10
CPU_RESOLUTION = CPU_TICKS / os.sysconf("SC_CLK_TCK")
# Other processes' CPU, in cores, above which a run names the machine busy. A fifth of a core is
# 10% of a 2-core machine: enough to move a CPU-bound result by about that much. Quiet runs here
# measured 0.006-0.017 (kernel threads); beside one `while True: pass`, 0.92 of a core.
BUSY = 0.2
BUSY_WINDOW = 1.0  # seconds: below this, 10 ms ticks are too coarse to tell a fifth of a core
OTHERS = "others"  # sampled beside the labelled trees: every process the lab did not start


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


def others_seconds() -> dict[int, float]:
    """CPU seconds used so far by each process the lab did not start, by pid.

    Counted per process, not as the machine's busy time less the lab's: kernels differ in whether
    the interrupts a process's network traffic raises are charged to it (a third of a core, here,
    under wrk). Where this user may not read a process (root's, on a Mac), it is not counted.
    """
    lab = {os.getpid(), *(child.pid for child in psutil.Process().children(recursive=True))}
    used = {}
    for process in psutil.process_iter(["cpu_times"]):
        times = process.info["cpu_times"]  # None where access is denied
        if process.pid not in lab and times is not None:
            used[process.pid] = times.user + times.system
    return used


def used_between(first: dict[int, float], last: dict[int, float]) -> float:
    """CPU seconds a set of processes used between two readings of it.

    A pid seen only at the end started in between: all its time counts. One gone by the end
    counts nothing, as its last reading is lost.
    """
    return max(sum(last.values()) - sum(first.get(pid, 0.0) for pid in last), 0.0)


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
        trees = {label: tree_cpu_seconds(pid) for label, pid in self.pids.items()}
        self.samples.append((time.time(), {**trees, OTHERS: others_seconds()}))

    def interval(self, begin: float, finish: float) -> Window | None:
        """The first and last samples inside [begin, finish]; None if fewer than two fall there."""
        inside = [t for t, _ in self.samples if begin <= t <= finish]
        return Window(inside[0], inside[-1]) if len(inside) >= 2 and inside[-1] > inside[0] else None

    def _at(self, t: float) -> dict[str, dict[int, float]]:
        return next(used for when, used in self.samples if when == t)

    def seconds(self, label: str, interval: Window) -> float:
        """CPU seconds the whole tree used over an interval from interval()."""
        return used_between(self._at(interval.begin)[label], self._at(interval.finish)[label])

    def others(self, interval: Window) -> float:
        """Cores that processes the lab did not start kept busy over the interval (nan: too short to tell).

        PostgreSQL counts among them: pg_ctl hands it to init, out of the lab's tree.
        """
        return (
            self.seconds(OTHERS, interval) / interval.seconds if interval.seconds >= BUSY_WINDOW else math.nan
        )

    def busiest_process(self, label: str, interval: Window) -> float:
        """The highest share of one core any single process of the tree used (1.0 = a full core)."""
        first, last = self._at(interval.begin)[label], self._at(interval.finish)[label]
        return max(
            ((used - first.get(pid, 0.0)) / interval.seconds for pid, used in last.items()), default=0.0
        )
