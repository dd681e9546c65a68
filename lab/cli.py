"""Shared pieces of the command-line tools: one-line errors, clean exits, Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from lab.errors import LabError


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line naming the problem."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


@dataclass(frozen=True)
class Command:
    """One `python -m lab` subcommand: its flags and what it runs."""

    name: str
    help: str  # one line, for `python -m lab --help`
    add_arguments: Callable[[argparse.ArgumentParser], None]
    main: Callable[[Any], int]  # takes the parsed arguments, returns the exit code
    about: str = ""  # the longer description its own --help shows


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


# The flags several commands share, each defined here once.


def add_stacks(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--stacks", help=f"comma-separated stack names (default: {default}; see python -m lab list)"
    )


def add_proxy(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--proxy", choices=("nginx",), help=f"{what} through this proxy (Debian's nginx), started in front"
    )


def add_out(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--out", type=Path, help=f"folder for {what}; new or empty")


def add_plan(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plan",
        action="store_true",
        help="print what it would run (stacks, commands, slots, bounds, length); start nothing",
    )


def _terminate(signum: int, frame: FrameType | None) -> NoReturn:
    # Turn SIGTERM into the same unwinding as Ctrl-C, so every server is stopped.
    raise KeyboardInterrupt


def run(main: Callable[[], int]) -> NoReturn:
    """Run a tool's main: a LabError becomes one line and exit 1, Ctrl-C exits 130."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        code = main()
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print("interrupted: every server was stopped", file=sys.stderr)
        code = 130
    sys.exit(code)
