"""Little's law for a run: how long each request waits in its queue, and so how long a run must be."""

from __future__ import annotations

import importlib
import math
import statistics
import time
from collections.abc import Callable, Sequence

from lab.apps import Target
from lab.errors import LabError
from lab.measure.requests import START, settle_seconds, shortest_window
from lab.report.format import plural, secs
from lab.servers.base import Slots, Stack


def compute_seconds(target: Target, rounds: int | None = None, runs: int = 15) -> tuple[int, float]:
    """A computing app's rounds (its CPU_ROUNDS unless given), and the CPU seconds one request takes:
    its own work(), timed here.

    CPU time (not wall time) so that other processes on the machine do not inflate it;
    the median of a few runs, after one to warm up.
    """
    app = importlib.import_module(target.app.partition(":")[0])
    rounds = app.CPU_ROUNDS if rounds is None else rounds
    work: Callable[[int], object] = app.work
    work(rounds)
    times = []
    for _ in range(runs):
        start = time.process_time()
        work(rounds)
        times.append(time.process_time() - start)
    return rounds, statistics.median(times)


def time_in_system(slots: Slots, users: int, service: float) -> float:
    """Little's law read the other way: how long each request waits once the queue is full."""
    if slots.count is None or users <= slots.count:
        return service
    return service * users / slots.count


def choose_duration(
    asked: float | None,
    default: float,
    chosen: Sequence[Stack],
    slots: dict[str, Slots],
    users: int,
    service: float,
) -> tuple[float, str]:
    """The run's length: long enough for every stack's queue to fill and a steady window to follow.

    Too short a run measures the requests that happened to finish first (survivor bias)
    and none of the queue; the default is lengthened to fit (and the note says why), an
    explicit --duration refused.
    """
    needs = {
        stack.name: settle_seconds(time_in_system(slots[stack.name], users, service))
        + shortest_window(service)
        + START
        for stack in chosen
    }
    name, exact = max(needs.items(), key=lambda item: item[1])
    need = math.ceil(exact)  # what the message suggests: a whole number of seconds
    wait = time_in_system(slots[name], users, service)
    why = (
        f"{users} users share {plural(slots[name].count or 0, 'slot')} of {secs(service)} s,"
        f" so each request spends {secs(wait)} s in the server"
        if wait > service
        else f"each request takes {secs(service)} s"
        if service
        else "users ramp up"
    )
    if asked is not None and asked < exact:
        raise LabError(
            f"--duration {asked:g} is too short for {name}: {why}; the steady state starts "
            f"{secs(settle_seconds(wait))} s in and needs {secs(shortest_window(service))} s more"
            f" (and {secs(START)} s for locust to start its users): "
            f"use --duration {need} or more"
        )
    if asked is not None:
        return asked, ""
    if need > default:
        return need, f"duration lengthened from {default:g} s to {need} s: for {name}, {why}"
    return default, ""
