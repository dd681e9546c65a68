"""Peak throughput, measured: wrk against a server that has CPUs of its own, a few runs, median and spread.

One locust process cannot saturate a fast server on a small machine, so the hello scenario's
peak comes from wrk (`apt-get install wrk`, `brew install wrk`), a generator in C that needs a
fraction of a core. Where the machine has two CPUs or more, the server is pinned to half of them
and wrk to the others, so neither takes the other's CPU; the peak is given per server CPU. The
server's own CPU over each run gives its CPU per request under that load.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from lab.errors import LabError
from lab.measure.cpu import others_seconds, tree_cpu_seconds, used_between

RUNS = 3  # runs per stack: the median is reported, and the spread beside it
# Seconds per run. Measured here (one machine): over 3 s runs one server's rate moved by up to 40%
# between runs, over 8 s runs by 11%; 4 s keeps the hello scenario within 5 minutes.
SECONDS = 4
CONNECTIONS = 50
SATURATED = 0.9  # a process using 90% of a core or more is taken to be using all it can
PLANNED = RUNS * SECONDS + 0.5  # seconds per stack, planned: the runs, and wrk's own starts
INSTALL = "apt-get install wrk (Debian, Ubuntu), brew install wrk (macOS)"


@dataclass(frozen=True)
class Split:
    """Which CPUs the server runs on and which the generator does (none: it could not be split)."""

    server: frozenset[int]
    generator: frozenset[int]

    @property
    def pinned(self) -> bool:
        return bool(self.server)


SHARED = Split(frozenset(), frozenset())  # nothing pinned


def split(cpus: Sequence[int]) -> Split:
    """The first half of the usable CPUs for the server, the rest for the generator.

    With one CPU, or none to pin to (no affinity on macOS, a container's quota), the two share.
    """
    if len(cpus) < 2 or not hasattr(os, "sched_setaffinity"):
        return SHARED
    half = len(cpus) // 2
    return Split(frozenset(cpus[:half]), frozenset(cpus[half:]))


def cpu_list(cpus: frozenset[int]) -> str:
    return ",".join(str(cpu) for cpu in sorted(cpus))


def plan_notes(asked: bool, measured: bool, where: Split, how: str = "") -> list[str]:
    """What the plan says of the peak: how it is measured (`how`, else by default), where, or why not."""
    if not asked:
        return []
    if not measured:
        return [
            "wrk is not installed, so the server's peak is not measured, only what one locust process"
            f" drives; to measure it: {INSTALL}"
        ]
    how = how or f"wrk -t1 -c{CONNECTIONS}, a 1 s warm-up then {RUNS} runs of {SECONDS} s"
    how = f"each stack's peak: {how}"
    if where.pinned:
        server, generator = cpu_list(where.server), cpu_list(where.generator)
        return [f"{how}; the server on CPU {server}, wrk and locust on CPU {generator}"]
    return [
        f"{how}; the server shares the CPUs with wrk (one CPU, a CPU quota, or no CPU affinity on this"
        " OS), so its peak is lower than it would reach alone"
    ]


def server_cpus(where: Split, usable: int, processes: int, beside_gil: bool) -> int:
    """The CPUs a server can keep busy: those it was given, but no more than its processes.

    A server whose HTTP work runs beside the GIL (Granian) can use more than one per process.
    """
    given = len(where.server) or usable
    return given if beside_gil else min(given, processes)


@dataclass(frozen=True)
class Peak:
    """One stack's wrk runs: requests a second, and the server's CPU per request, in each."""

    rps: tuple[float, ...]
    cpu_us: tuple[float, ...]  # the server's CPU per request, µs
    cpus: int  # the CPUs the server could use: those it was pinned to, or all of them
    pinned: bool  # False: it shared its CPUs with wrk (one CPU, a quota, or no affinity on this OS)
    busy: tuple[float, ...] = ()  # the share of its `cpus` the server kept busy, in each run
    wrk_cores: tuple[float, ...] = ()  # wrk's own CPU in each run: near 1.0, its one thread is saturated
    others: tuple[float, ...] = ()  # cores processes the lab did not start kept busy, in each run

    @property
    def median(self) -> float:
        return statistics.median(self.rps)

    @property
    def per_cpu(self) -> float:
        return self.median / self.cpus

    @property
    def spread(self) -> float:
        """max / min over the runs: 1.0 is perfectly steady."""
        return max(self.rps) / min(self.rps)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu_us)

    @property
    def generator_bound(self) -> bool:
        """wrk, not the server, set the rate: wrk's thread saturated while the server had CPU to spare."""
        return bool(self.busy) and statistics.median(self.busy) < SATURATED <= statistics.median(
            self.wrk_cores
        )


def installed() -> bool:
    return shutil.which("wrk") is not None


@dataclass(frozen=True)
class Run:
    """One wrk run: what it got, and the CPU wrk itself used."""

    rps: float
    requests: int
    wrk_cores: float  # wrk's own CPU over the run, in cores: near 1.0, one thread is saturated


def wrk(url: str, seconds: int, connections: int, cpus: frozenset[int]) -> Run:
    """One wrk thread against the URL for `seconds`: its rate, its count, and its own CPU."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        if cpus:
            os.sched_setaffinity(process.pid, cpus)
        killer = threading.Timer(seconds + 30, process.kill)  # wrk stops itself; this, only if it hangs
        killer.start()
        out = process.stdout.read() if process.stdout else ""
        # wait4, not wait: the rusage of this one child is wrk's own CPU.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        killer.cancel()
    rate, count = re.search(r"Requests/sec:\s+([\d.]+)", out), re.search(r"(\d+) requests in", out)
    if process.returncode != 0 or rate is None or count is None or "Non-2xx" in out:
        raise LabError(f"wrk failed on {url}: {out.strip()[-300:]}")
    return Run(float(rate.group(1)), int(count.group(1)), (usage.ru_utime + usage.ru_stime) / seconds)


def measure(url: str, server_pid: int, where: Split, cpus: int, runs: int = RUNS, seconds: int = SECONDS,
            connections: int = CONNECTIONS, warm_up: bool = False) -> Peak:  # fmt: skip
    """`runs` runs of `seconds`, each with the server's CPU over it, after a 1 s run if `warm_up`.

    `cpus`: the CPUs the server could use, which its peak is divided by. A server that just served
    a locust run is warm already: its workers started, its code paths run.
    """
    if warm_up:
        wrk(url, 1, connections, where.generator)
    rates, costs, busy, generator, others = [], [], [], [], []
    for _ in range(runs):
        before, elsewhere = sum(tree_cpu_seconds(server_pid).values()), others_seconds()
        run = wrk(url, seconds, connections, where.generator)
        used = sum(tree_cpu_seconds(server_pid).values()) - before
        rates.append(run.rps)
        costs.append(used / run.requests * 1e6)
        busy.append(used / seconds / cpus)
        generator.append(run.wrk_cores)
        others.append(used_between(elsewhere, others_seconds()) / seconds)
    return Peak(tuple(rates), tuple(costs), cpus, where.pinned, tuple(busy), tuple(generator), tuple(others))
