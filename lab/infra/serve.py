"""The stacks for people: `python -m lab list`, `serve` (every stack on its port), `dev` (one, reloading)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from lab import ROOT, apps, cli
from lab.apps import Target
from lab.errors import LabError
from lab.infra.processes import HOST, check_port_free, running, stop_all
from lab.report.format import aligned
from lab.scenarios.locust import targets
from lab.stacks import STACKS, choose, get, serving, size_all, websocket_stacks

# The locust of this Python, as the user can type it from the repository root (.venv/bin/locust).
_locust = Path(sys.executable).parent / "locust"
LOCUST = str(_locust.relative_to(ROOT)) if _locust.is_relative_to(ROOT) else "locust"
SLOTS_TAB = "lab/scenarios/slots_tab.py"


def list_stacks(args: argparse.Namespace) -> int:
    sized = size_all([(stack, stack.slow) for stack in STACKS])
    rows = [["stack", "iface", "slots", "path", "command (slow scenario)"]]
    for stack, slots in zip(STACKS, sized, strict=True):
        count = "inf" if slots.count is None else str(slots.count)
        command = " ".join([*(f"{k}={v}" for k, v in stack.env), *stack.command(stack.slow)])
        rows.append([stack.name, stack.interface, count, stack.slow.path, command])
    print(aligned(rows))
    return 0


def add_serve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kind", choices=["slow", "hello", "websocket"], default="slow", help="which app each stack serves"
    )
    cli.add_stacks(parser, "every stack with such an app")


def serve(args: argparse.Namespace) -> int:
    """Every stack on its own fixed port, for the locustfiles and their web UI, until Ctrl-C."""
    if args.kind == "websocket":
        target: str | Target = apps.WEBSOCKET
        chosen = websocket_stacks()
        locust = f"{LOCUST} -f websocket_locustfile.py"
    else:
        target, chosen = args.kind, serving(args.kind)
        # The slow apps name the slot that served each request: the Slots tab shows them live.
        locust = f"{LOCUST} -f locustfile.py" + (f",{SLOTS_TAB}" if args.kind == "slow" else "")
    if args.stacks:
        named = {stack.name for stack in choose(args.stacks, ())}
        chosen = tuple(stack for stack in chosen if stack.name in named)
    apps.slow_seconds()
    log_dir = Path(tempfile.mkdtemp(prefix="lab-serve-"))
    # A quick stop: Ctrl-C ends a demo, and nothing in flight matters then.
    with running(chosen, target, log_dir, ports=[s.port for s in chosen], grace=2.0) as servers:
        for server in servers:
            print(
                f"{server.stack.name:<24} {server.url}{server.target.path}  ({server.target.app})", flush=True
            )
        if any(server.target.path != server.stack.slow.path for server in servers):
            # The classes request the slow apps' paths; here some stacks serve another one.
            locust = f"LOCUST_TARGETS='{targets(servers)}' {locust}"
        try:  # before "now run:", so that a Ctrl-C the moment it shows is still a clean stop
            print(f"logs in {log_dir}; now run: {locust} --class-picker  (Ctrl-C stops)", flush=True)
            while all(server.process.poll() is None for server in servers):
                time.sleep(0.5)
        except KeyboardInterrupt:  # Ctrl-C is how serve is meant to end: not an error
            print(f"\nstopping {len(servers)} servers", flush=True)
            stop_all(servers, grace=2.0)
            print("stopped", flush=True)
            return 0
        dead = next(server for server in servers if server.process.poll() is not None)
        raise dead.failed(f"exited with code {dead.process.returncode}")


def add_dev(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stack", nargs="?", default="uvicorn", help="a stack name (default: uvicorn)")
    parser.add_argument("--app", help="import string to serve instead, e.g. asgi.fastapi_app:app")
    parser.add_argument("--port", type=cli.positive_int, default=8000)


def dev(args: argparse.Namespace) -> int:
    """One stack in the foreground with auto-reload on code changes."""
    stack = get(args.stack)
    why = stack.server.no_reload(stack.reading())
    if why or not stack.server.reload:
        raise LabError(f"{stack.name}: {why}")
    target = Target(args.app) if args.app else (stack.hello or stack.slow)
    check_port_free(args.port)
    apps.slow_seconds()
    argv = [*stack.command(target, HOST, args.port), stack.server.reload]
    print("$", " ".join(argv), flush=True)
    os.chdir(ROOT)
    os.execv(sys.executable, [sys.executable, "-m", stack.server.module, *argv[1:]])


LIST = cli.Command("list", "the stack matrix: each stack's slots and command", lambda p: None, list_stacks)
SERVE = cli.Command(
    "serve", "run the stacks on their fixed ports until Ctrl-C, for locust's web UI", add_serve, serve
)
DEV = cli.Command("dev", "one stack with auto-reload on code changes", add_dev, dev)
