"""python -m lab: list the stacks, serve them side by side, develop with reload, time a burst."""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import socket
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from lab import cli, faults, stacks
from lab.errors import LabError
from lab.measure import tree_cpu_seconds
from lab.probe import burst
from lab.proxy import PROXIES
from lab.report import aligned
from lab.servers import HOST, ROOT, check_port_free, locust_targets, running, slow_seconds
from lab.theory import usable_cpus
from lab.waits import POOL_SETTING, waited_on


def list_stacks(args: argparse.Namespace) -> int:
    sized = stacks.size_all([(stack, stack.slow) for stack in stacks.STACKS])
    rows = [["stack", "iface", "slots", "path", "command (slow scenario)"]]
    for stack, slots in zip(stacks.STACKS, sized, strict=True):
        count = "inf" if slots.count is None else str(slots.count)
        command = " ".join([*(f"{k}={v}" for k, v in stack.env), *stack.command(stack.slow)])
        rows.append([stack.name, stack.interface, count, stack.slow.path, command])
    print(aligned(rows))
    return 0


# The locust of this Python, as the user can type it from the repository root (.venv/bin/locust).
_locust = Path(sys.executable).parent / "locust"
LOCUST = str(_locust.relative_to(ROOT)) if _locust.is_relative_to(ROOT) else "locust"


def serve(args: argparse.Namespace) -> int:
    """Every stack on its own fixed port, for the locustfiles and their web UI, until Ctrl-C."""
    if args.kind == "websocket":
        target: str | stacks.Target = stacks.WEBSOCKET
        chosen = stacks.websocket_stacks()
        locust = f"{LOCUST} -f websocket_locustfile.py"
    else:
        target, chosen = args.kind, stacks.serving(args.kind)
        locust = f"{LOCUST} -f locustfile.py"
    if args.stacks:
        named = {stack.name for stack in stacks.choose(args.stacks, stacks.SCENARIOS["slow"])}
        chosen = tuple(stack for stack in chosen if stack.name in named)
    slow_seconds()
    log_dir = Path(tempfile.mkdtemp(prefix="lab-serve-"))
    with running(chosen, target, log_dir, ports=[s.port for s in chosen]) as servers:
        for server in servers:
            print(
                f"{server.stack.name:<24} {server.url}{server.target.path}  ({server.target.app})", flush=True
            )
        if any(server.target.path != stack.slow.path for server, stack in zip(servers, chosen, strict=True)):
            # The classes request the slow apps' paths; here some stacks serve another one.
            locust = f"LOCUST_TARGETS='{locust_targets(servers)}' {locust}"
        try:  # before "now run:", so that a Ctrl-C the moment it shows is still a clean stop
            print(f"logs in {log_dir}; now run: {locust} --class-picker  (Ctrl-C stops)", flush=True)
            while all(server.process.poll() is None for server in servers):
                time.sleep(0.5)
        except KeyboardInterrupt:  # Ctrl-C is how serve is meant to end: not an error
            print("\nstopping every server", flush=True)
            return 0
        dead = next(server for server in servers if server.process.poll() is not None)
        raise dead.failed(f"exited with code {dead.process.returncode}")


def dev(args: argparse.Namespace) -> int:
    """One stack in the foreground with auto-reload on code changes."""
    stack = stacks.get(args.stack)
    if stack.server == "uvicorn" and "--workers" in stack.options:
        # The reloader restarts one server process when a file changes; it cannot also
        # supervise a pool of workers, so uvicorn refuses the pair.
        raise LabError("uvicorn's --reload cannot be combined with --workers: use the 'uvicorn' stack")
    if stack.server == "daphne":
        raise LabError("daphne has no --reload: use the 'uvicorn' stack, or restart daphne by hand")
    target = stacks.Target(args.app) if args.app else (stack.hello or stack.slow)
    check_port_free(args.port)
    slow_seconds()
    argv = [*stack.command(target, HOST, args.port), "--reload"]
    print("$", " ".join(argv), flush=True)
    os.chdir(ROOT)
    os.execv(sys.executable, [sys.executable, "-m", *argv])


def time_burst(args: argparse.Namespace) -> int:
    """N concurrent slow requests against a stack, or a server of your own, beside what its slots predict."""
    n: int = args.n
    if args.slow_seconds and args.kind == "cpu":
        raise LabError("--slow-seconds: nothing waits in --kind cpu (CPU_ROUNDS sets its work)")
    if args.slow_seconds:
        os.environ["SLOW_SECONDS"] = str(args.slow_seconds)  # for the server the lab starts, and the theory
    seconds = slow_seconds()
    if args.url:
        if args.stack or args.workers or args.threads or args.pool or args.kind != "slow":
            raise LabError(
                "--url times a server you started: give no stack, --kind, --workers, --threads or --pool"
            )
        host, port, path = loopback_url(args.url)
        slots = stacks.Slots(
            args.slots, f"{args.slots} slots, as --slots says" if args.slots else "unbounded", 1
        )
        check_answers(host, port, args.url)
        result = burst(host, port, path, n)
        name = args.url
    else:
        if not args.stack:
            raise LabError("name a stack (python -m lab list), or time a server of your own with --url")
        if args.slots:
            raise LabError("--slots goes with --url; a stack's slots come from its command")
        if args.pool and args.kind not in POOL_SETTING:
            raise LabError("--pool goes with --kind db or --kind upstream")
        stack = stacks.get(args.stack).configured(args.workers, args.threads)
        if args.pool:
            stack = stack.with_env(**{POOL_SETTING[args.kind]: str(args.pool)})
        target = getattr(stack, args.kind)
        if target is None:
            raise LabError(f"stack {stack.name!r} has no {args.kind!r} app")
        slots = stack.slots(target)
        if args.kind == "cpu":  # threads and coroutines overlap waits, not computing
            slots = slots.computing(usable_cpus())
        logs = Path(tempfile.mkdtemp(prefix="lab-burst-"))
        with waited_on(args.kind, seconds, logs) as env, running([stack], target, logs, env) as (server,):
            before = tree_cpu_seconds(server.process.pid)
            result = burst(server.host, server.port, target.path, n)
            after = tree_cpu_seconds(server.process.pid)
        if args.kind == "cpu":
            # What each request cost the server, measured over the burst itself: this machine's
            # speed drifts, so a time taken before the burst would not hold for it.
            used = sum(after.values()) - sum(before.get(pid, 0.0) for pid in after)
            seconds = used / n
        command = " ".join([*(f"{k}={v}" for k, v in stack.env), stack.server, *stack.options, target.app])
        name = f"{stack.name} ({command}, GET {target.path})"
    rounds = 1 if slots.count is None else math.ceil(n / slots.count)
    statuses = sorted(set(result.statuses))
    cpu = args.kind == "cpu"
    each, unit = (
        (f"{seconds * 1000:.1f} ms of server CPU", "computations") if cpu else (f"{seconds:g} s", "sleeps")
    )
    print(
        f"{name}: {n} requests of {each} took {result.wall:.2f} s "
        f"= {result.wall / seconds:.2f} {unit}; theory {rounds} ({slots.why})"
        + ("" if statuses == [200] else f"; statuses {statuses}")
    )
    return 0 if statuses == [200] else 1


def loopback_url(url: str) -> tuple[str, int, str]:
    """host, port and path of an http:// URL on this machine; load goes nowhere else."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback:
        raise LabError(f"--url {url}: give an http:// URL on this machine (127.0.0.1, ::1 or localhost)")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return host, parts.port or 80, path


def check_answers(host: str, port: int, url: str) -> None:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as error:
        raise LabError(f"--url {url}: nothing answers there ({error.strerror or error})") from None


def fault(args: argparse.Namespace) -> int:
    """A fault on one stack, shown: SIGTERM mid-request, a killed worker, the timeout, slowloris."""
    stack = stacks.get(args.stack)
    if args.fault == "timeout" and stack.server != "gunicorn":
        raise LabError(f"{stack.name}: the worker timeout is gunicorn's; {stack.server} has none")
    if args.fault == "kill-worker" and (
        stack.server == "daphne" or (stack.server == "uvicorn" and not stack.supervised)
    ):
        raise LabError(f"{stack.name} is a single process: nothing supervises it, killing it ends it")
    log_dir = Path(tempfile.mkdtemp(prefix="lab-fault-"))
    if args.proxy and args.fault != "slowloris":
        raise LabError("--proxy goes with the slowloris fault: the one a proxy in front changes")
    result = (
        faults.slowloris(stack, log_dir, proxy=args.proxy)
        if args.fault == "slowloris"
        else faults.FAULTS[args.fault](stack, log_dir)
    )
    print(f"{stack.name}: {result.describe()}")
    return 0 if result.ok else 1


def main() -> int:
    parser = cli.Parser(prog="python -m lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the stack matrix").set_defaults(func=list_stacks)

    p = commands.add_parser("serve", help="run the stacks on their fixed ports (8001-8013) until Ctrl-C")
    p.add_argument(
        "--kind", choices=["slow", "hello", "websocket"], default="slow", help="which app each stack serves"
    )
    p.add_argument("--stacks", help="comma-separated stack names (default: every stack with such an app)")
    p.set_defaults(func=serve)

    p = commands.add_parser("dev", help="one stack with auto-reload on code changes")
    p.add_argument("stack", nargs="?", default="uvicorn", help="a stack name (default: uvicorn)")
    p.add_argument("--app", help="import string to serve instead, e.g. asgi.fastapi_app:app")
    p.add_argument("--port", type=cli.positive_int, default=8000)
    p.set_defaults(func=dev)

    p = commands.add_parser(
        "burst", help="time N concurrent slow requests against one stack, or your own server (--url)"
    )
    p.add_argument("stack", nargs="?", help="a stack name (python -m lab list)")
    p.add_argument("-n", type=cli.positive_int, default=10, help="requests at once (default 10)")
    p.add_argument(
        "--slow-seconds", type=cli.positive_float,
        help="how long each request waits (default: $SLOW_SECONDS, else 1); with --url, your server's wait",
    )  # fmt: skip
    p.add_argument(
        "--kind", choices=["slow", "db", "upstream", "cpu"], default="slow",
        help="what each request waits on: a sleep (default), a real PostgreSQL the lab starts, an upstream;"
        " or cpu: no wait, CPU_ROUNDS hashes of computing",
    )  # fmt: skip
    p.add_argument("--pool", type=cli.positive_int, help="db: POOL_SIZE; upstream: UPSTREAM_CONNECTIONS")
    p.add_argument(
        "--workers", type=cli.positive_int, help="worker processes (gunicorn -w, uvicorn --workers)"
    )
    p.add_argument(
        "--threads", type=cli.positive_int, help=f"threads per worker ({', '.join(stacks.threaded())})"
    )
    p.add_argument(
        "--url", help="time a server you started yourself, e.g. http://127.0.0.1:8000/ (loopback only)"
    )
    p.add_argument(
        "--slots", type=cli.positive_int, help="with --url: requests it serves at once (default: unbounded)"
    )
    p.set_defaults(func=time_burst)

    p = commands.add_parser(
        "fault", help="a fault on one stack: shutdown (SIGTERM mid-request), kill-worker, timeout, slowloris"
    )
    p.add_argument("fault", choices=faults.FAULTS)
    p.add_argument("stack", help="a stack name")
    p.add_argument(
        "--proxy",
        choices=PROXIES,
        help="slowloris: send it through this proxy (Debian's nginx), started in front",
    )
    p.set_defaults(func=fault)

    args = parser.parse_args()
    return int(args.func(args))


if __name__ == "__main__":
    cli.run(main)
