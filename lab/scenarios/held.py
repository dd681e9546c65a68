"""Held connections (scenario connections): streams on every stack, WebSockets where the server has them.

No load to generate: each stack gets N streams at once, and an ASGI stack N active WebSockets;
the report says how many it held beside what its slots predict, and what each connection cost.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.probes.held import hold_streams, hold_websockets, raise_fd_limit
from lab.report import charts
from lab.report.files import write_json, write_markdown
from lab.report.format import aligned
from lab.report.held import Held, explain, table
from lab.scenarios.base import Plan
from lab.stacks import choose, serving

# About how long each takes for 500 connections, start-up included (measured once here: 7-9 s of
# streams, 6-11 s more of WebSockets); more connections take longer.
SECONDS = {"stream": 8.0, "websocket": 9.0}


@dataclass(frozen=True)
class HeldConnections:
    name: str
    about: str
    flags: tuple[str, ...] = ("users", "workers", "threads")

    def plan(self, args: argparse.Namespace) -> Plan[int]:
        chosen = choose(args.stacks, tuple(s for s in serving("slow") if not s.pitfall))
        if args.workers or args.threads:
            chosen = tuple(stack.configured(args.workers, args.threads) for stack in chosen)
        held = args.users or 1000
        rows = [["stack", "iface", "slots", "held", "command"]]
        seconds = 0.0
        for stack in chosen:
            slots = stack.slots(stack.slow)
            kinds = [
                "stream",
                *(["websocket"] if stack.server.websocket(stack.options, stack.reading()) else []),
            ]
            seconds += sum(SECONDS[kind] * max(held, 500) / 500 for kind in kinds)
            count = "inf" if slots.count is None else str(slots.count)
            rows.append(
                [
                    stack.name,
                    stack.interface,
                    count,
                    f"{held} " + " and ".join(f"{k}s" for k in kinds),
                    stack.typed(stack.slow),
                ]
            )
        return Plan(
            f"connections: {held} per stack, held open at once; one stack at a time",
            chosen,
            rows,
            seconds,
            (),
            held,
        )

    def run(self, plan: Plan[int], out: Path, rows: list[Any]) -> None:
        held = plan.detail
        raise_fd_limit(2 * held + 1024)
        for n, stack in enumerate(plan.stacks, 1):
            began = time.monotonic()
            print(f"[{n}/{len(plan.stacks)}] {stack.name}: {held} streams ...", end="", flush=True)
            rows.append(hold_streams(stack, held, out / "logs"))
            print(f" held {rows[-1].held}", end="", flush=True)
            if stack.server.websocket(stack.options, stack.reading()):
                print(f"; {held} WebSockets ...", end="", flush=True)
                rows.append(hold_websockets(stack, held, 200, out / "logs"))
                print(f" held {rows[-1].held}, {rows[-1].kb_per_connection} KB each", end="", flush=True)
            print(f" ({time.monotonic() - began:.0f} s)", flush=True)

    def report(
        self, plan: Plan[int], rows: Sequence[Any], notes: list[str], out: Path, env: dict[str, Any]
    ) -> str:
        results: list[Held] = list(rows)
        ran = {stack.name: stack for stack in plan.stacks}
        write_json(out / "summary.json", results, env)
        words = [f"- **{r.stack}** ({r.kind}): {explain(r, ran[r.stack])}" for r in results]
        write_markdown(out / "summary.md", plan.title, table(results), [*words, *[f"> {n}" for n in notes]])
        if results:
            interfaces = {name: stack.interface for name, stack in ran.items()}
            charts.held_connections(results, interfaces, plan.title, out / "chart.png")
        lines = [aligned(table(results))] if results else []
        return "\n".join(
            [
                *lines,
                *[f"{r.stack} ({r.kind}): {explain(r, ran[r.stack])}" for r in results],
                *[f"\nNOTE: {note}" for note in notes],
            ]
        )
