"""python compare.py's command line: which stacks, which scenario, how long; then the run and its report."""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from lab import cli, connections, report, stacks
from lab import overload as overload_module
from lab.environment import environment
from lab.errors import LabError
from lab.proxy import PROXIES, nginx_binary
from lab.report import Result
from lab.results import censoring_notes, generator_notes
from lab.runner import Run, run_group
from lab.servers import ROOT, slow_seconds
from lab.theory import choose_duration, compute_seconds, usable_cpus
from lab.waits import POOL_SETTING, WAITS_IN, waited_on

DEFAULT_DURATION = {"slow": 30.0, "hello": 10.0, "cpu": 15.0, "pitfalls": 30.0, "db": 30.0, "upstream": 30.0}


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = cli.Parser(
        prog="python compare.py",
        description="Run server stacks side by side under locust and print what each measured beside "
        "what Little's law allows. Writes locust's CSV and HTML, summary.md, summary.json and chart.png.",
    )
    parser.add_argument(
        "--scenario", choices=stacks.SCENARIOS, default="slow",
        help="; ".join(f"{s.name}: {s.about}" for s in stacks.SCENARIOS.values()) + " (default: slow)",
    )  # fmt: skip
    parser.add_argument(
        "--stacks", help="comma-separated stack names (default: the scenario's; see python -m lab list)"
    )
    parser.add_argument(
        "--users",
        type=cli.positive_int,
        help="concurrent users per stack (default 50); connections: held per stack (default 1000)",
    )
    parser.add_argument(
        "--duration", type=cli.positive_float,
        help="seconds of load per run (default 30, hello 10 per stack, lengthened when a queue needs longer; "
        "a --duration too short for the queue to fill is refused); the ramp-up is not measured",
    )  # fmt: skip
    parser.add_argument(
        "--processes", type=cli.positive_int, default=1,
        help="locust processes generating the load (default 1; more if locust is the bottleneck)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="report folder (default: reports/<time>-<scenario>)")
    parser.add_argument(
        "--slow-seconds", type=cli.positive_float,
        help="how long each slow request waits (default: $SLOW_SECONDS, else 1)",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=cli.positive_int,
        help="worker processes for every chosen stack (gunicorn -w, uvicorn, Granian, Hypercorn --workers; "
        "Daphne has none and is left out); the theory follows",
    )  # fmt: skip
    parser.add_argument(
        "--pool", type=cli.positive_int,
        help="db: connections in each process's database pool (POOL_SIZE, default 5); "
        "upstream: the HTTP client's connections per process (UPSTREAM_CONNECTIONS, default 100)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=cli.positive_int,
        help=f"threads per worker, for {' and '.join(stacks.threaded())} (choose them with --stacks)",
    )  # fmt: skip
    overload = parser.add_argument_group("overload scenario")
    overload.add_argument(
        "--step", type=cli.positive_float,
        help=f"seconds per step (default {overload_module.STEP:g}); at least 3 service times",
    )  # fmt: skip
    overload.add_argument(
        "--rates", type=multiples,
        help="the steps, as multiples of each stack's bound (default "
        + ",".join(f"{m:g}" for m in overload_module.MULTIPLES) + ")",
    )  # fmt: skip
    overload.add_argument(
        "--rps", type=multiples,
        help="the steps in requests per second, for every stack (needed where a stack has no bound)",
    )  # fmt: skip
    overload.add_argument(
        "--limit-concurrency", type=cli.positive_int, metavar="N",
        help="uvicorn's admission control: 503 at once past N - 1 requests in flight per process",
    )  # fmt: skip
    overload.add_argument(
        "--backpressure", type=cli.positive_int, metavar="N",
        help="Granian's: past N requests in flight per worker it accepts no more (the kernel queues them)",
    )  # fmt: skip
    overload.add_argument(
        "--backlog", type=cli.positive_int, metavar="N",
        help="the kernel's listen queue (gunicorn, uvicorn, Granian, Hypercorn): past it, connections wait",
    )  # fmt: skip
    parser.add_argument(
        "--proxy", choices=PROXIES,
        help="start this proxy (Debian's nginx) in front of every stack and send the load through it",
    )  # fmt: skip
    return parser.parse_args(argv)


def multiples(text: str) -> tuple[float, ...]:
    """A comma-separated list of positive numbers, climbing: 0.5,1,1.5."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not values or any(not v > 0 or v == float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: every rate must be above 0")
    if list(values) != sorted(values):
        raise argparse.ArgumentTypeError(f"{text!r}: the steps must climb")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    scenario = stacks.SCENARIOS[args.scenario]
    overload_only = {"--step": args.step, "--rates": args.rates, "--rps": args.rps,
                     "--limit-concurrency": args.limit_concurrency,
                     "--backpressure": args.backpressure, "--backlog": args.backlog}  # fmt: skip
    given = [flag for flag, value in overload_only.items() if value is not None]
    if given and not scenario.open_loop:
        raise LabError(f"{', '.join(given)}: only for --scenario overload or overload-cpu")
    if args.limit_concurrency and args.backpressure:
        raise LabError("--limit-concurrency is uvicorn's and --backpressure Granian's: give one")
    if args.limit_concurrency and not args.stacks and scenario.open_loop:
        args.stacks = "uvicorn"  # the default stacks are gunicorn's and Granian's, which have no such flag
    if args.backpressure and not args.stacks and scenario.open_loop:
        args.stacks = "granian-asgi"
    chosen = stacks.choose(args.stacks, scenario)
    if importlib.util.find_spec("locust") is None:
        raise LabError(
            "locust is not installed in this Python: run `make demo`, or pip install -r requirements-dev.txt"
        )
    out = args.out or ROOT / "reports" / f"{datetime.now():%Y%m%d-%H%M%S}-{scenario.name}"
    if args.workers and not args.stacks:
        chosen = tuple(stack for stack in chosen if stack.server != "daphne")  # one process, always
    if args.workers or args.threads:
        chosen = tuple(stack.configured(args.workers, args.threads) for stack in chosen)
    if args.pool:
        if scenario.kind not in POOL_SETTING:
            raise LabError(f"--pool applies to the db and upstream scenarios, not {scenario.name!r}")
        chosen = tuple(stack.with_env(**{POOL_SETTING[scenario.kind]: str(args.pool)}) for stack in chosen)
    if args.proxy:
        if scenario.name == "connections":
            raise LabError("--proxy: the connections scenario holds connections to the servers themselves")
        nginx_binary()  # missing: said now, before anything starts
    if scenario.name == "connections":  # no load to generate: connections opened and held
        make_folder(out)
        held = args.users or 1000
        title = f"connections: {held} per stack, held open at once"
        print(f"{title}\nreport: {out}", flush=True)
        rows = connections.scenario(chosen, held, out)
        print("\n" + connections.write_report(rows, chosen, title, out, environment()))
        return 0
    if scenario.open_loop:
        return run_overload(args, scenario, chosen, out)
    if args.slow_seconds and scenario.kind in ("hello", "cpu"):
        raise LabError(f"--slow-seconds: nothing waits in the {scenario.name} scenario")
    seconds = args.slow_seconds or slow_seconds()
    users = args.users or 50
    sized = stacks.size_all([(stack, getattr(stack, scenario.kind)) for stack in chosen])
    if scenario.kind == "cpu":  # threads and coroutines overlap waits, not computing
        cpus = usable_cpus()
        sized = [size.computing(cpus) for size in sized]
        # The WSGI and ASGI apps do the same work: either one times it.
        rounds, seconds = compute_seconds(chosen[0].target("cpu"), cpu_rounds())
    slots = {stack.name: size for stack, size in zip(chosen, sized, strict=True)}
    service = 0.0 if scenario.kind == "hello" else seconds
    duration, lengthened = choose_duration(
        args.duration, DEFAULT_DURATION[scenario.name], chosen, slots, users, service
    )
    if lengthened:
        print(lengthened, flush=True)
    make_folder(out)
    groups = [[stack] for stack in chosen] if scenario.one_at_a_time else [list(chosen)]
    title = (
        f"{scenario.name}: {users} users per stack, {duration:g} s"
        + (f", each request computes {rounds} hashes" if scenario.kind == "cpu" else "")
        + (f", each request waits {seconds:g} s" if service and scenario.kind != "cpu" else "")
        + (f" {WAITS_IN[scenario.kind]}" if scenario.kind in WAITS_IN else "")
        + (f", through {args.proxy}" if args.proxy else "")
        + f", {args.processes} locust process{'es' if args.processes > 1 else ''}"
    )
    print(f"{title}\nreport: {out}", flush=True)
    results: list[Result] = []
    notes: list[str] = []
    started = time.monotonic()
    try:
        with waited_on(scenario.kind, seconds, out / "logs") as env:
            for group in groups:
                prefix = "locust" if len(groups) == 1 else f"locust-{group[0].name}"
                run = Run(scenario, users, duration, service, args.processes, out, prefix, env, args.proxy)
                run_group(group, slots, run, results)
    except (LabError, KeyboardInterrupt) as error:
        why = str(error).splitlines()[0] if str(error) else "interrupted"  # not the whole log tail
        notes.append(f"Run stopped early ({why}); these are the numbers measured until then.")
        raise
    finally:
        notes += generator_notes(results) + censoring_notes(results)
        report.write(out, results, title, notes, environment())
        if results:
            print("\n" + report.text_table(results))
        for note in notes:
            print(f"\nNOTE: {note}")
        print(f"\nwall time {time.monotonic() - started:.0f} s; report in {out}")
    return 0


def run_overload(
    args: argparse.Namespace, scenario: stacks.Scenario, chosen: tuple[stacks.Stack, ...], out: Path
) -> int:
    unused = {"--users": args.users, "--duration": args.duration, "--pool": args.pool, "--proxy": args.proxy}
    given = [flag for flag, value in unused.items() if value is not None]
    if given or args.processes != 1:
        flags = ", ".join(given + (["--processes"] if args.processes != 1 else []))
        raise LabError(
            f"{flags}: not for the {scenario.name} scenario (its load is a rate: --rates, --rps, --step)"
        )
    if args.rates and args.rps:
        raise LabError("--rates and --rps both set the steps: give one")
    step = args.step or overload_module.STEP
    if scenario.kind == "cpu":
        if args.slow_seconds:
            raise LabError(f"--slow-seconds: nothing waits in the {scenario.name} scenario")
        # The WSGI and ASGI apps do the same work: either one times it.
        rounds, seconds = compute_seconds(chosen[0].target("cpu"), cpu_rounds() or overload_module.CPU_ROUNDS)
        work = overload_module.Work("cpu", seconds, rounds)
    else:
        work = overload_module.Work("slow", args.slow_seconds or slow_seconds())
    return overload_module.run(
        chosen,
        work,
        step,
        args.rates,
        args.rps,
        args.limit_concurrency,
        out,
        environment(),
        {flag: value for flag in overload_module.QUEUE_FLAGS if (value := getattr(args, flag[2:]))},
    )


def cpu_rounds() -> int | None:
    """$CPU_ROUNDS, which the computing apps read (None: unset); refused if not a count."""
    text = os.environ.get("CPU_ROUNDS")
    if text is not None and (not text.strip().isdigit() or int(text) < 1):
        raise LabError(f"CPU_ROUNDS={text!r}: give a whole number of hashes per request, 1 or more")
    return None if text is None else int(text)


def make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LabError(f"cannot write the report to {out}: {error.strerror}") from None


if __name__ == "__main__":
    cli.run(main)
