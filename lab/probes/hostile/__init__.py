"""`python -m lab hostile`: every hostile case of this folder against every stack; where they differ, and why.

One case per .toml file (see README.md here): the bytes sent, what the RFC requires, and the
stacks known to deviate from it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from lab import cli
from lab.measure.machine import environment
from lab.probes.hostile.engine import differences, load_cases, run
from lab.report.files import release, run_folder, write_json
from lab.report.probes import hostile_grid
from lab.stacks import STACKS, choose


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_stacks(parser, "every stack")
    parser.add_argument(
        "--cases", help="comma-separated case names (default: every case in lab/probes/hostile/)"
    )
    cli.add_proxy(parser, "every case")
    cli.add_out(parser, "the report: summary.json, chart.png (default: reports/<time>-hostile)")


def main(args: argparse.Namespace) -> int:
    chosen = choose(args.stacks, STACKS)
    cases = load_cases(args.cases.split(",") if args.cases else None)
    out = run_folder(args.out, "hostile")
    print(f"report: {out}", flush=True)
    try:
        reports = run(chosen, cases, Path(tempfile.mkdtemp(prefix="lab-hostile-")), args.proxy)
        write_json(out / "summary.json", reports, environment(), proxy=args.proxy)
        interfaces = {stack.name: stack.interface for stack in chosen}
        hostile_grid(reports, cases, interfaces, out / "chart.png")
    finally:
        release(out)
    print(differences(reports, cases))
    bad = 0
    for report in reports:
        for name, problem in report.deviations.items():
            print(f"known deviation  {report.stack} {name}: {problem}")
        for name, problem in report.violations.items():
            print(f"VIOLATION {report.stack} {name}: {problem}")
            bad += 1
        if report.lost_workers or not report.healthy_after:
            alive = "answers" if report.healthy_after else "does NOT answer"
            print(f"LOST {report.stack}: {report.lost_workers} worker(s) died; it {alive} GET / afterwards")
            bad += 1
    print(f"\n{len(cases)} cases x {len(reports)} stacks: {bad} problem(s); report in {out}")
    return 1 if bad else 0


COMMAND = cli.Command(
    "hostile", "every hostile request (lab/probes/hostile/) against every stack", add_arguments, main
)
