"""Every flag of `python compare.py`, defined once; each scenario takes the ones that apply to it.

The command line is read twice: first --scenario, then the full parser holding only that
scenario's flags, so a flag that does not apply is refused by argparse itself, in one line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from lab import cli
from lab.servers import RECORDS
from lab.stacks import threaded

Adder = Callable[[argparse.ArgumentParser], object]


def multiples(text: str) -> tuple[float, ...]:
    """A comma-separated list of positive numbers, climbing: 0.5,1,1.5."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not values or any(not 0 < v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: every rate must be above 0")
    if list(values) != sorted(values):
        raise argparse.ArgumentTypeError(f"{text!r}: the steps must climb")
    return values


def admission_flags() -> dict[str, list[str]]:
    """Each server's admission settings (--limit-concurrency, --backlog...): flag -> servers."""
    flags: dict[str, list[str]] = {}
    for record in RECORDS.values():
        for flag in record.admission:
            flags.setdefault(flag, []).append(record.name)
    return flags


def _admission(parser: argparse.ArgumentParser) -> None:
    for flag, servers in admission_flags().items():
        counts = {RECORDS[name].admission[flag].counts for name in servers}
        parser.add_argument(
            flag,
            type=cli.positive_int,
            metavar="N",
            help=f"{' and '.join(servers)}: caps {' / '.join(sorted(counts))} (see docs/overload.md)",
        )


FLAGS: dict[str, Adder] = {
    "stacks": lambda p: cli.add_stacks(p, "the scenario's"),
    "plan": cli.add_plan,
    "out": lambda p: cli.add_out(p, "the report (default: reports/<time>-<scenario>)"),
    "users": lambda p: p.add_argument(
        "--users",
        type=cli.positive_int,
        help="concurrent users per stack (default 50); connections: held per stack (default 1000)",
    ),
    "duration": lambda p: p.add_argument(
        "--duration",
        type=cli.positive_float,
        help="seconds of load per run (default 30, hello 10 per stack, lengthened when a queue needs longer; "
        "a --duration too short for the queue to fill is refused); the ramp-up is not measured",
    ),
    "processes": lambda p: p.add_argument(
        "--processes",
        type=cli.positive_int,
        default=1,
        help="locust processes generating the load (default 1; more if locust is the bottleneck)",
    ),
    "slow-seconds": lambda p: p.add_argument(
        "--slow-seconds",
        type=cli.positive_float,
        help="how long each request waits (default: $SLOW_SECONDS, else 1)",
    ),
    "workers": lambda p: p.add_argument(
        "--workers",
        type=cli.positive_int,
        help="worker processes, by each server's own flag; the theory follows. A server that runs one"
        " process, always, has none: named, it is refused; among the defaults, it is left out",
    ),
    "threads": lambda p: p.add_argument(
        "--threads",
        type=cli.positive_int,
        help=f"threads per worker, for the stacks that have them: {', '.join(threaded())}",
    ),
    "pool": lambda p: p.add_argument(
        "--pool",
        type=cli.positive_int,
        help="db: connections in each process's database pool (POOL_SIZE, default 5); "
        "upstream: the HTTP client's connections per process (UPSTREAM_CONNECTIONS, default 100)",
    ),
    "proxy": lambda p: cli.add_proxy(p, "the load to every stack"),
    "step": lambda p: p.add_argument(
        "--step", type=cli.positive_float, help="seconds per step (default 5); at least 3 service times"
    ),
    "rates": lambda p: p.add_argument(
        "--rates",
        type=multiples,
        help="the steps, as multiples of each stack's bound (default 0.5,0.8,0.9,1,1.1,1.25,1.5)",
    ),
    "rps": lambda p: p.add_argument(
        "--rps",
        type=multiples,
        help="the steps in requests per second, for every stack (needed where a stack has no bound)",
    ),
    "admission": _admission,
}
