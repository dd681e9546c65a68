"""Open-loop rows: each step of each stack (offered, served, latency, failures), a summary, the words."""

from __future__ import annotations

import math
from dataclasses import dataclass

from lab.measure import steps
from lab.report.format import busy, ms


@dataclass(frozen=True)
class Row:
    """One step of one stack, as summary.json holds it."""

    stack: str
    phase: str  # "climb", "recovery" or "closed"
    asked_rps: float
    offered_rps: float
    measured_rps: float  # served: successful completions per second
    bound_rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    latency_lower_bounds: list[str]
    failures: dict[str, int]
    refused_p95_ms: float
    arrivals: int


@dataclass(frozen=True)
class StackSummary:
    stack: str
    command: str
    kind: str  # "slow": each request waits; "cpu": each computes
    service_s: (
        float  # what one request waits; computing, the server's CPU per request measured before the climb
    )
    slots: int | None
    slots_why: str
    bound_rps: float
    knee_rps: float | None
    knee_vs_bound: float | None
    recovery_s: float | None  # None: not recovered before the run ended
    server_cpu_ms: float  # the server's CPU per request over the first step (nan: too little to count)
    expected_recovery_s: float  # the fluid model's: backlog / (bound - recovery rate)
    baseline_uss_mb: float
    peak_uss_mb: float
    closed_users: int
    queues: bool  # past the bound it queued (True) or refused at once (admission control)
    unseen_refusals: str = ""  # why its admission setting may refuse nothing on computing work
    other_cpu_cores: float = math.nan  # cores processes the lab did not start kept busy over the load
    machine_busy: bool = False  # other_cpu_cores above BUSY: rerun on a quiet machine
    interface: str = ""  # WSGI or ASGI
    peak_queued: int | None = None  # the most waiting at once, from the app's headers (None: unnamed)
    expected_queued: float = math.nan  # the fluid model's: what the climb's steps above the bound leave


def to_row(name: str, phase: str, s: steps.StepStats, bound: float) -> Row:
    return Row(
        name,
        phase,
        s.asked_rps,
        s.offered_rps,
        s.served_rps,
        bound,
        s.p50_ms,
        s.p95_ms,
        s.p99_ms,
        s.max_ms,
        s.lower_bounds,
        s.failures,
        s.refused_p95_ms,
        s.arrivals,
    )


def table(rows: list[Row]) -> list[list[str]]:
    head = [
        "stack",
        "phase",
        "asked rps",
        "offered",
        "served",
        "bound",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "refused",
        "timeout",
        "reset",
        "refused p95 ms",
    ]
    body = [
        [
            r.stack,
            r.phase,
            f"{r.asked_rps:.1f}",
            f"{r.offered_rps:.1f}",
            f"{r.measured_rps:.1f}",
            "-" if math.isnan(r.bound_rps) else f"{r.bound_rps:.1f}",
            ms(r.p50_ms, "p50" in r.latency_lower_bounds),
            ms(r.p95_ms, "p95" in r.latency_lower_bounds),
            ms(r.p99_ms, "p99" in r.latency_lower_bounds),
            ms(r.max_ms, "max" in r.latency_lower_bounds),
            str(r.failures.get("refused", 0)),
            str(r.failures.get("timeout", 0)),
            str(r.failures.get("reset", 0) + r.failures.get("other", 0)),
            ms(r.refused_p95_ms),
        ]
        for r in rows
    ]
    return [head, *body]


def notes(summaries: list[StackSummary], rows: list[Row]) -> list[str]:
    said = []
    for s in summaries:
        mine = [r for r in rows if r.stack == s.stack]
        if s.knee_rps is None:
            knee = "it kept up with no step"
        elif s.knee_vs_bound is None:
            knee = f"it kept up to {s.knee_rps:.1f} rps"
        else:
            share = f"{s.knee_vs_bound:.0%}"
            knee = f"it kept up to {s.knee_rps:.1f} rps, {share} of its bound ({s.bound_rps:.1f})"
        recovered = "not within the run" if s.recovery_s is None else f"after {s.recovery_s:.1f} s"
        if not s.queues:
            predicted = "nothing queued: the excess was refused"
        elif math.isnan(s.expected_recovery_s):
            predicted = "the drop's rate is above the measured bound, so the queue never drains"
        else:
            predicted = f"the queue left by the climb predicts {s.expected_recovery_s:.1f} s"
        queued = ""
        if s.peak_queued is not None and s.queues and math.isfinite(s.expected_queued):
            queued = (
                f" At most {s.peak_queued} waited in the queue at once (the steps above the bound predict"
                f" {s.expected_queued:.1f}; queue.png draws it)."
            )
        said.append(
            f"{s.stack}: {knee}. When the load dropped, it served normally again {recovered} ({predicted})."
            f"{queued} Memory: {s.baseline_uss_mb:.0f} MB idle, {s.peak_uss_mb:.0f} MB at the peak."
        )
        if s.kind == "cpu" and math.isfinite(s.server_cpu_ms):
            said.append(
                f"{s.stack}'s processes used {s.server_cpu_ms:.1f} ms of CPU per request at the first step;"
                f" the app's hashing, timed alone, takes {s.service_s * 1000:.1f} ms, and the bound counts"
                " only that: the rest is the server's own work (and the noise of a 0.5 s sample)."
            )
            if not 0.8 <= s.server_cpu_ms / (s.service_s * 1000) <= 1.25:
                said.append(
                    f"{s.stack}: the server's CPU per request and the hashing timed alone differ by more than"
                    " a quarter, so its bound may be off: another process may have taken CPU from it (or from"
                    " the timing). Rerun on a quiet machine."
                )
        if s.machine_busy:
            said.append(f"{s.stack}: {busy(s.other_cpu_cores)}.")
        refused = sum(r.failures.get("refused", 0) for r in mine)
        if s.kind == "cpu" and s.unseen_refusals and not refused:
            said.append(f"{s.stack} ran with admission control and refused nothing: {s.unseen_refusals}")
        if refused:
            fastest = max((r.refused_p95_ms for r in mine if r.failures.get("refused")), default=math.nan)
            said.append(
                f"{s.stack} refused {refused} requests with 503 past its limit, each step's refusals "
                f"answered within {ms(fastest)} ms (p95, the slowest step): a client learns at once to "
                "retry or go elsewhere, instead of waiting in a queue that only grows."
            )
        closed = next((r for r in mine if r.phase == "closed"), None)
        top = [r for r in mine if r.phase == "climb"][-1]
        if closed is not None and top.measured_rps >= steps.KEEPS_UP * top.offered_rps:
            said.append(
                f"{s.stack} kept up at {top.asked_rps:.1f} rps, so both loops agree there: p99 "
                f"{ms(top.p99_ms)} ms on a clock, {ms(closed.p99_ms)} ms from {s.closed_users} "
                "closed-loop users."
            )
        elif closed is not None:
            said.append(
                f"{s.stack}, open vs closed at {top.asked_rps:.1f} rps asked: arrivals on a clock kept "
                f"offering {top.offered_rps:.1f} rps and their p99 was {ms(top.p99_ms)} ms, growing with the "
                f"queue; {s.closed_users} closed-loop users offered only {closed.offered_rps:.1f} rps, since "
                f"each waits for its answer, and their p99 was {ms(closed.p99_ms)} ms. The closed loop never "
                "sends the requests a slow server would have been sent meanwhile: coordinated omission."
            )
    behind = [r for r in rows if r.phase != "closed" and r.offered_rps < 0.97 * r.asked_rps]
    if behind:
        said.append(
            "The load generator fell behind (offered below 97% of asked) on: "
            + ", ".join(f"{r.stack} at {r.asked_rps:.1f} rps ({r.offered_rps:.1f} offered)" for r in behind)
            + ". Offered is what was measured, and the figures beside it hold for that."
        )
    return said
