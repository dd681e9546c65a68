"""One shape for every scenario: plan -> run -> rows -> report, and the driver that runs it.

A scenario plans from its flags alone (stacks, commands, slots, bounds, run length) and starts
nothing; `--plan` prints that plan. Its run appends rows as it measures them, so when a server
dies or the user presses Ctrl-C, the report is still written from every row measured until then.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from lab.errors import LabError
from lab.measure.machine import environment
from lab.report.files import release, run_folder
from lab.report.format import aligned
from lab.servers.base import Stack

Detail = TypeVar("Detail")


@dataclass(frozen=True)
class Plan(Generic[Detail]):
    """What a run will do, decided before anything starts."""

    title: str  # the report's title: the scenario and its load
    stacks: tuple[Stack, ...]
    table: list[list[str]]  # a row per stack: what --plan prints
    seconds: float  # the wall time it should take, start-up included
    said: tuple[str, ...]  # said before the run: a lengthened duration, stacks left out
    detail: Detail  # what the scenario's own run needs


class Scenario(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def about(self) -> str:
        """For --help: what it loads and how."""

    @property
    def flags(self) -> tuple[str, ...]:
        """The flags it takes (lab/scenarios/flags.py)."""

    def plan(self, args: argparse.Namespace) -> Plan[Any]: ...

    def run(self, plan: Plan[Any], out: Path, rows: list[Any]) -> None:
        """Measure, appending each row as it is known; raise (LabError, Ctrl-C) to stop early."""

    def report(
        self, plan: Plan[Any], rows: Sequence[Any], notes: list[str], out: Path, env: dict[str, Any]
    ) -> str:
        """Write summary.json, summary.md and the chart from the rows; return what to print."""


def execute(scenario: Scenario, args: argparse.Namespace) -> int:
    """Plan; with --plan print it and stop; else run into a fresh report folder, and report whatever came."""
    plan = scenario.plan(args)
    for line in plan.said:
        print(line, flush=True)
    if args.plan:
        print(f"plan (nothing started): {plan.title}\n{aligned(plan.table)}\nabout {plan.seconds:.0f} s")
        return 0
    out = run_folder(args.out, scenario.name)
    print(f"{plan.title}\nreport: {out}", flush=True)
    rows: list[Any] = []
    notes: list[str] = []
    started = time.monotonic()
    try:
        scenario.run(plan, out, rows)
    except BaseException as error:  # a server died, Ctrl-C, or a bug in the lab: the rows still count
        why = str(error).splitlines()[0] if str(error) else ""  # the first line, not the whole log tail
        if not isinstance(error, (LabError, KeyboardInterrupt)):
            why = f"{type(error).__name__}: {why}" if why else type(error).__name__
        why = why or "interrupted"
        notes.append(f"Run stopped early ({why}); these are the numbers measured until then.")
        raise
    finally:
        try:
            print("\n" + scenario.report(plan, rows, notes, out, environment()), flush=True)
            print(f"wall time {time.monotonic() - started:.0f} s; report in {out}", flush=True)
        finally:
            release(out)
    return 0
