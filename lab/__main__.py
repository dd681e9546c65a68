"""python -m lab: the lab's one command line. `python -m lab COMMAND --help` for each command's flags."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lab import cli
from lab.infra import classroom, compose, images, postgres, serve, starter
from lab.probes import burst, faults, h2, held, hostile, wrk
from lab.scenarios import command

COMMANDS = (
    serve.LIST,
    serve.SERVE,
    serve.DEV,
    burst.COMMAND,
    faults.COMMAND,
    hostile.COMMAND,
    h2.COMMAND,
    wrk.COMMAND,
    held.COMMAND,
    postgres.COMMAND,
    images.COMMAND,
    compose.COMMAND,
    classroom.COMMAND,
    starter.COMMAND,
)


def parser() -> cli.Parser:
    top = cli.Parser(prog="python -m lab", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # compare reads its own command line (its flags depend on --scenario): listed here, parsed there.
    commands.add_parser("compare", help="= python compare.py: stacks side by side under load", add_help=False)
    for c in COMMANDS:
        p = commands.add_parser(
            c.name,
            help=c.help,
            description=c.about or c.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        c.add_arguments(p)
        p.set_defaults(main=c.main)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["compare"]:
        return command.main(argv[1:])
    args = parser().parse_args(argv)
    return int(args.main(args))


if __name__ == "__main__":
    cli.run(main)
