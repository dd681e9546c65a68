"""The slots, seen from inside: how many requests the app held at once, and how many queued for it.

Each app names the slot that served a request and when it held it (its Served-By, Started-At and
Server-Timing headers), and locust knows when the request was sent and answered. So at every
instant of the window a request is queued (sent, not yet taken by the app), in the app, or on its
way back; averaged over the window, those are Little's law seen directly: a closed loop's users
split between them, and in the app there are as many as the stack has slots, when users outnumber
them.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.measure.requests import Request, Window

ROUNDING = 0.001  # seconds: slack for the headers' rounding when one request follows another
SHORTEST = 1.0  # seconds: a shorter stretch of known occupancy is no average


@dataclass(frozen=True)
class Occupancy:
    in_server: float  # requests the app was serving at once, averaged over the stretch
    queued: float  # requests sent but not yet taken by the app, averaged
    slots_seen: int  # distinct slots that served a request in the stretch
    processes_seen: int  # the processes they belong to
    seconds: float  # the stretch averaged over: the window less its last round (see occupancy)
    unnamed: int  # answered in the stretch without naming their slot (a failure, an app without headers)


def overlap(begin: float, end: float, window: Window) -> float:
    return max(0.0, min(end, window.finish) - max(begin, window.begin))


def occupancy(requests: list[Request], window: Window) -> Occupancy | None:
    """Requests in the app and queued, averaged over the window; None where the app named no slot.

    The window ends when locust stopped, with requests still open: those never said when the app
    took them. So the average stops one round earlier: every request that was in the app then had
    answered by the stop (no request took longer from being taken to being answered), and one still
    open at the stop that was sent by then was still queued at that moment.
    """
    named = [r for r in requests if r.slot]
    if not named:
        return None
    longest = max(r.end - r.app_start for r in named)
    known = Window(window.begin, window.finish - longest)
    if known.seconds < SHORTEST:
        return None
    in_app = sum(overlap(r.app_start, r.app_end, known) for r in named)
    queued = sum(overlap(r.start, r.app_start, known) for r in named)
    queued += sum(overlap(r.start, known.finish, known) for r in requests if r.censored)
    seen = {r.slot for r in named if overlap(r.app_start, r.app_end, known) > 0}
    processes = {slot.split()[0] for slot in seen}  # "pid=1234"
    answered = [r for r in requests if not r.censored and known.begin <= r.end <= known.finish]
    unnamed = sum(1 for r in answered if not r.slot)
    return Occupancy(
        in_app / known.seconds, queued / known.seconds, len(seen), len(processes), known.seconds, unnamed
    )


def expected_in_server(slots: int | None, users: int) -> int:
    """A closed loop's requests in the app at once: every user, or every slot when they are fewer."""
    return users if slots is None else min(slots, users)


def lanes(requests: list[Request], begin: float, finish: float) -> dict[str, list[list[Request]]]:
    """Each slot's requests that the app held within [begin, finish], stacked in sub-lanes.

    A slot that holds one request at a time (a sync worker, a thread) gets one lane; an event loop
    that overlaps many gets as many sub-lanes as it held at once: each request goes to the first
    sub-lane free when it started.
    """
    by_slot: dict[str, list[list[Request]]] = {}
    for r in sorted((r for r in requests if r.slot and r.app_end > begin and r.app_start < finish),
                    key=lambda r: r.app_start):  # fmt: skip
        sub = by_slot.setdefault(r.slot, [])
        # Server-Timing is rounded to 0.1 ms: a thread's next request may seem to start a hair early.
        free = next((lane for lane in sub if lane[-1].app_end <= r.app_start + ROUNDING), None)
        if free is None:
            sub.append([r])
        else:
            free.append(r)
    return dict(sorted(by_slot.items(), key=lambda item: slot_order(item[0])))


def slot_order(slot: str) -> tuple[int, ...]:
    """pid, then thread, as numbers: the lanes of one process lie together."""
    return tuple(int(part.split("=")[1]) for part in slot.split() if part.split("=")[-1].isdigit())


def over_time(
    requests: list[Request], begin: float, finish: float, step: float = 0.05
) -> list[tuple[float, int, int]]:
    """(seconds since begin, requests in the app, requests queued) every `step` seconds: the queue over time.

    A request is queued from when it was sent until the app took it; one that never named its
    slot (still open at the stop, or failed on the way) counts as queued until it ended.
    """
    series = []
    for i in range(int((finish - begin) / step) + 1):
        t = begin + i * step
        in_app = sum(1 for r in requests if r.slot and r.app_start <= t < r.app_end)
        queued = sum(1 for r in requests if r.start <= t < (r.app_start if r.slot else r.end))
        series.append((round(t - begin, 3), in_app, queued))
    return series


@dataclass(frozen=True)
class Queue:
    """One stack's open-loop run over time, for queue.png."""

    stack: str
    interface: str
    slots: int | None
    series: list[tuple[float, int, int]]  # over_time: (seconds, in the app, queued)
    schedule: list[tuple[float, float, float]]  # (from, to, arrivals a second): the steps, then the drop
