"""`python -m lab burst`: N requests at once, timed, beside what the slots predict."""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import math
import os
import socket
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lab import apps, cli
from lab.errors import LabError
from lab.infra.processes import running
from lab.infra.waits import POOL_SETTING, waited_on
from lab.measure.cpu import BUSY, CpuSampler
from lab.measure.machine import usable_cpus
from lab.measure.requests import Window
from lab.report.format import busy
from lab.scenarios.flags import FLAGS
from lab.servers.base import Slots
from lab.stacks import get


@dataclass(frozen=True)
class Burst:
    wall: float  # from the moment all N were sent to the last response
    statuses: list[int]


def burst(host: str, port: int, path: str, n: int, timeout: float = 120.0) -> Burst:
    """Open N connections, release N GETs together, wait for every response."""
    ready = threading.Barrier(n)

    def one(_: int) -> tuple[float, float, int]:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.connect()  # the kernel completes the handshake even if no worker is free
            ready.wait()
            sent = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return sent, time.perf_counter(), response.status
        finally:
            conn.close()

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(one, range(n)))
    wall = max(done for _, done, _ in results) - min(sent for sent, _, _ in results)
    return Burst(wall, [status for _, _, status in results])


def main(args: argparse.Namespace) -> int:
    """N concurrent slow requests against a stack, or a server of your own, beside what its slots predict."""
    n: int = args.n
    if args.slow_seconds and args.kind == "cpu":
        raise LabError("--slow-seconds: nothing waits in --kind cpu (CPU_ROUNDS sets its work)")
    if args.slow_seconds:
        os.environ["SLOW_SECONDS"] = str(args.slow_seconds)  # for the server the lab starts, and the theory
    seconds = apps.slow_seconds()
    if args.url:
        if args.stack or args.workers or args.threads or args.pool or args.kind != "slow":
            raise LabError(
                "--url times a server you started: give no stack, --kind, --workers, --threads or --pool"
            )
        host, port, path = loopback_url(args.url)
        slots = Slots(
            args.slots, f"{args.slots} slots, as --slots says" if args.slots else "unbounded: no --slots", 1
        )
        check_answers(host, port, args.url)
        result = burst(host, port, path, n)
        name = args.url
        others = math.nan  # the server is not the lab's: its CPU would count as another process's
    else:
        if not args.stack:
            raise LabError("name a stack (python -m lab list), or time a server of your own with --url")
        if args.slots:
            raise LabError("--slots goes with --url; a stack's slots come from its command")
        if args.pool and args.kind not in POOL_SETTING:
            raise LabError("--pool goes with --kind db or --kind upstream")
        stack = get(args.stack).configured(args.workers, args.threads)
        if args.pool:
            stack = stack.with_env(**{POOL_SETTING[args.kind]: str(args.pool)})
        target = stack.target(args.kind)
        slots = stack.slots(target)
        if args.kind == "cpu":  # threads and coroutines overlap waits, not computing
            slots = slots.computing(usable_cpus())
        logs = Path(tempfile.mkdtemp(prefix="lab-burst-"))
        with waited_on(args.kind, seconds, logs) as env, running([stack], target, logs, env) as (server,):
            sampler = CpuSampler({"server": server.process.pid})
            sampler.sample()
            result = burst(server.host, server.port, target.path, n)
            sampler.sample()
        interval = Window(sampler.samples[0][0], sampler.samples[-1][0])
        others = sampler.others(interval)
        if args.kind == "cpu":
            # What each request cost the server, measured over the burst itself: this machine's
            # speed drifts, so a time taken before the burst would not hold for it.
            seconds = sampler.seconds("server", interval) / n
        name = f"{stack.name} ({stack.typed(target)}, GET {target.path})"
    rounds = 1 if slots.count is None else math.ceil(n / slots.count)
    statuses = sorted(set(result.statuses))
    cpu = args.kind == "cpu"
    each, unit = (
        (f"{seconds * 1000:.1f} ms of server CPU", "computations") if cpu else (f"{seconds:g} s", "sleeps")
    )
    measured = result.wall / seconds
    print(
        f"{name}: {n} requests of {each} took {result.wall:.2f} s "
        f"= {measured:.2f} {unit}; theory {rounds} ({slots.why})"
        + ("" if statuses == [200] else f"; statuses {statuses}")
    )
    if others > BUSY:
        print(f"WARNING: {busy(others)}.")
    if statuses == [200] and not rounds * 0.9 <= measured <= rounds * 1.25:
        print(f"WARNING: {measured:.2f} {unit} where the theory says {rounds}: {off_theory(args)}")
    return 0 if statuses == [200] else 1


def off_theory(args: argparse.Namespace) -> str:
    """What to check when a burst does not take the rounds its slots predict."""
    if args.url:
        return (
            "the theory is only as right as what you told it: --slots (requests your server serves at once;"
            " none given means unbounded) and --slow-seconds (how long each request waits)"
        )
    if args.kind == "cpu":
        return "the machine may be busy: other processes took CPU from the server; rerun on a quiet machine"
    return "the machine may be busy, or the stack is not serving what its slots say: see the server's log"


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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("stack", nargs="?", help="a stack name (python -m lab list)")
    p.add_argument("-n", type=cli.positive_int, default=10, help="requests at once (default 10)")
    p.add_argument(
        "--kind", choices=["slow", "db", "upstream", "cpu"], default="slow",
        help="what each request waits on: a sleep (default), a real PostgreSQL the lab starts, an upstream;"
        " or cpu: no wait, CPU_ROUNDS hashes of computing",
    )  # fmt: skip
    for flag in ("slow-seconds", "workers", "threads", "pool"):  # the comparison's own, as it defines them
        FLAGS[flag](p)
    p.add_argument(
        "--url", help="time a server you started yourself, e.g. http://127.0.0.1:8000/ (loopback only)"
    )
    p.add_argument(
        "--slots", type=cli.positive_int, help="with --url: requests it serves at once (default: unbounded)"
    )


COMMAND = cli.Command(
    "burst",
    "time N requests at once against one stack, or your own server (--url), beside the theory",
    add_arguments,
    main,
)
