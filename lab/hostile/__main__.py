"""python -m lab.hostile: every hostile case against every stack; prints where the stacks differ."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from lab import cli, stacks
from lab.hostile.engine import differences, load_cases, run
from lab.proxy import PROXIES


def main() -> int:
    parser = cli.Parser(prog="python -m lab.hostile", description=__doc__)
    parser.add_argument("--stacks", help="comma-separated stack names (default: every stack)")
    parser.add_argument("--cases", help="comma-separated case names (default: every case in lab/hostile/)")
    parser.add_argument(
        "--proxy",
        choices=PROXIES,
        help="send every case through this proxy (Debian's nginx), started in front",
    )
    args: argparse.Namespace = parser.parse_args()
    everything = stacks.Scenario("hostile", "slow", stacks.STACKS, False, "")
    chosen = stacks.choose(args.stacks, everything)
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


if __name__ == "__main__":
    cli.run(main)
