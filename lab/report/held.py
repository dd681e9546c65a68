"""Held-connection rows: how many streams or WebSockets a stack held, at what cost, and the words for it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lab.servers.base import Stack


@dataclass(frozen=True)
class Held:
    stack: str
    kind: str  # "websocket" or "stream"
    ws: str  # uvicorn's --ws implementation, for WebSockets
    deflate: str  # permessage-deflate as negotiated: "on", "off", "not offered" by the server, "-"
    asked: int
    held: int
    kb_per_connection: float  # server USS (all its processes) per active connection
    echo_p50_ms: float
    echo_p95_ms: float
    wire_bytes: float  # on the wire for one 60,000-character text message
    seconds: float  # to open them all


def table(results: Sequence[Held]) -> list[list[str]]:
    rows = [
        [
            "stack",
            "kind",
            "--ws",
            "deflate",
            "asked",
            "held",
            "KB/conn",
            "echo p50 ms",
            "echo p95 ms",
            "60 KB message, bytes",
            "open s",
        ]
    ]
    for r in results:
        figures = (r.kb_per_connection, r.echo_p50_ms, r.echo_p95_ms)
        wire = "-" if math.isnan(r.wire_bytes) else f"{r.wire_bytes:,.0f}"
        rows.append(
            [
                r.stack,
                r.kind,
                r.ws,
                r.deflate,
                str(r.asked),
                str(r.held),
                *("-" if math.isnan(v) else str(v) for v in figures),
                wire,
                str(r.seconds),
            ]
        )
    return rows


def explain(r: Held, stack: Stack) -> str:
    if r.kind != "stream":
        return (
            f"{r.held} active WebSockets at {r.kb_per_connection} KB each (deflate {r.deflate});"
            f" echo p95 {r.echo_p95_ms} ms while every one of them ticked"
        )
    slots = stack.slots(stack.slow)
    predicted = r.asked if slots.count is None else min(r.asked, slots.count)
    if r.held == predicted == r.asked:
        return f"all {r.held} streams started at once: every stream is a coroutine awaiting its next line"
    if r.held == predicted:
        return f"{r.held} of {r.asked} streams started: {slots.why}, each busy for a whole stream"
    return (
        f"{r.held} of {r.asked} streams sent their first line within 1 s, where its slots predict {predicted}"
        f" ({slots.why}): the slots do not account for it; its log is in logs/"
    )
