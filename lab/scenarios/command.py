"""`python compare.py` (= `python -m lab compare`): read --scenario, then its own flags, then run it."""

from __future__ import annotations

from collections.abc import Sequence

from lab import cli
from lab.scenarios import SCENARIOS
from lab.scenarios.base import execute
from lab.scenarios.flags import FLAGS

PROG = "python compare.py"
DESCRIPTION = (
    "Run server stacks side by side under load and print what each measured beside what Little's law "
    "allows. Writes summary.md, summary.json, chart.png and locust's CSV and HTML. Each scenario has "
    "its own flags: python compare.py --scenario NAME --help lists them."
)
COMMON = ("stacks", "out", "plan")


def parser(name: str) -> cli.Parser:
    """The command line of one scenario: the common flags and its own, each defined once in flags.py."""
    scenario = SCENARIOS[name]
    p = cli.Parser(prog=PROG, description=DESCRIPTION)
    p.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="slow",
        help="; ".join(f"{s.name}: {s.about}" for s in SCENARIOS.values()) + " (default: slow)",
    )
    for flag in (*COMMON, *scenario.flags):
        FLAGS[flag](p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    first = cli.Parser(prog=PROG, add_help=False)
    first.add_argument("--scenario", choices=SCENARIOS, default="slow")
    known, _ = first.parse_known_args(argv)
    args = parser(known.scenario).parse_args(argv)  # a flag this scenario does not take: one line, exit 2
    return execute(SCENARIOS[args.scenario], args)


if __name__ == "__main__":
    cli.run(main)
