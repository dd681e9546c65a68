"""`python -m lab hostile`: every hostile case of this folder against every stack; where they differ, and why.

One case per .toml file (see README.md here): the bytes sent, what the RFC requires, and the
stacks known to deviate from it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from lab import cli
from lab.probes.hostile.engine import differences, load_cases, run
from lab.stacks import STACKS, choose


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_stacks(parser, "every stack")
    parser.add_argument(
        "--cases", help="comma-separated case names (default: every case in lab/probes/hostile/)"
    )
    cli.add_proxy(parser, "every case")


def main(args: argparse.Namespace) -> int:
    chosen = choose(args.stacks, STACKS)
    cases = load_cases(args.cases.split(",") if args.cases else None)
    reports = run(chosen, cases, Path(tempfile.mkdtemp(prefix="lab-hostile-")), args.proxy)
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
    print(f"\n{len(cases)} cases x {len(reports)} stacks: {bad} problem(s)")
    return 1 if bad else 0


COMMAND = cli.Command(
    "hostile", "every hostile request (lab/probes/hostile/) against every stack", add_arguments, main
)
