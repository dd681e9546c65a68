"""python -m lab h2: HTTP/2 beside HTTP/1.1, measured with h2load, on the servers that speak it.

HTTP/1.1 answers one request at a time per connection (no server here pipelines), so
requests in flight are capped by connections. HTTP/2 multiplexes: one connection carries
many streams at once. h2load (Debian's nghttp2-client) loads each stack's slow app three
ways, each a fixed number of requests, so the run stops by itself:

  h2      -c C -m M     C connections x M streams: C x M in flight
  h1.1    -c C --h1     the same C connections: C in flight
  h1.1    -c C*M --h1   as many connections as there were streams: C x M in flight

Little's law predicts each rate: min(in flight, the stack's slots) / SLOW_SECONDS. Over
loopback without TLS, HTTP/2 is spoken with prior knowledge (h2c, RFC 9113 section 3.3).
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lab import apps, cli
from lab.errors import LabError
from lab.infra.processes import running
from lab.measure.machine import environment
from lab.report import probes as charts
from lab.report.files import release, run_folder, write_json
from lab.report.format import aligned
from lab.servers.base import Stack
from lab.stacks import STACKS, choose

# The stacks measured unless --stacks says: one of each way a server runs HTTP/2's streams.
DEFAULT = ("granian-wsgi", "granian-asgi", "hypercorn", "gunicorn-gthread", "gunicorn-asgi", "uvicorn")


@dataclass(frozen=True)
class Way:
    name: str  # "h2", "h1.1"
    connections: int
    streams: int  # per connection: 1 for HTTP/1.1

    @property
    def in_flight(self) -> int:
        return self.connections * self.streams

    def argv(self, requests: int, url: str) -> list[str]:
        way = ["-m", str(self.streams)] if self.name == "h2" else ["--h1"]
        return ["h2load", "-n", str(requests), "-c", str(self.connections), *way, url]


@dataclass(frozen=True)
class Row:
    stack: str
    way: str
    protocol: str  # as h2load reports it: "h2c" when HTTP/2 was spoken, else "http/1.1"
    connections: int
    in_flight: int  # requests offered at once: connections x streams, or fewer when fewer were sent
    predicted_rps: float
    measured_rps: float
    succeeded: int
    failed: int
    mean_ms: float
    of_bound: float  # measured / predicted


def ways(connections: int, streams: int) -> list[Way]:
    return [
        Way("h2", connections, streams),
        Way("h1.1", connections, 1),
        Way("h1.1", connections * streams, 1),
    ]


def speaking(stack: Stack) -> Stack:
    """The stack with what its server needs to accept h2c, or a clear refusal saying why it cannot."""
    options = stack.server.h2c(stack.reading())
    if isinstance(options, str):
        raise LabError(f"{stack.name}: {options}")
    return stack.with_options(*options)


def speakers() -> tuple[Stack, ...]:
    """Every stack that can be measured over cleartext HTTP/2 here (the pitfalls aside)."""
    return tuple(s for s in STACKS if not s.pitfall and not isinstance(s.server.h2c(s.reading()), str))


def parse(stdout: str) -> tuple[str, float, int, int, float]:
    """(protocol spoken, seconds, succeeded, failed, mean ms per request) from h2load's summary."""
    protocol = re.search(r"Application protocol: (\S+)", stdout)
    finished = re.search(r"finished in ([\d.]+)(m?s)", stdout)
    counts = re.search(
        r"requests: \d+ total, \d+ started, (\d+) done, \d+ succeeded, \d+ failed, "
        r"(\d+) errored, (\d+) timeout",
        stdout,
    )
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", stdout)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", stdout)
    if not (protocol and finished and counts and codes and mean):
        raise LabError(f"h2load printed no summary: {stdout.strip()[-300:]}")
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    done, errored, timeout = (int(n) for n in counts.groups())
    ok, redirected, client_error, server_error = (int(n) for n in codes.groups())
    if not ok + redirected + client_error + server_error:
        # h2load 1.52 records an HTTP/1.1 status only with a reason phrase, which RFC 9112 makes
        # optional and h11 (Hypercorn) leaves out (docs/sources.md#h11-reason-phrase): count what came
        # back whole.
        ok = done - errored - timeout
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[mean.group(2)]
    return protocol.group(1), seconds, ok, done - ok, float(mean.group(1)) * scale


def measure(stack: Stack, chosen: list[Way], rounds: int, log_dir: Path) -> list[Row]:
    h2 = speaking(stack)
    slots = h2.slots(h2.slow)
    overlapping = h2.server.streams_overlap(h2.reading())
    seconds = apps.slow_seconds()
    rows = []
    with running([h2], "slow", log_dir) as (server,):
        for way in chosen:
            overlap = way.in_flight if overlapping else way.connections
            at_once = overlap if slots.count is None else min(overlap, slots.count)
            # A fixed count in whole rounds of what is served at once, then h2load stops; at
            # least one request per connection (h2load's rule). Fewer requests than streams
            # open only that many streams.
            requests = math.ceil(max(way.connections, at_once * rounds) / at_once) * at_once
            offered = min(requests, way.in_flight)
            at_once = min(at_once, offered)
            done = subprocess.run(
                way.argv(requests, server.url + server.path),
                capture_output=True,
                text=True,
                timeout=60 + requests / at_once * seconds * 2,
                check=False,
            )
            if done.returncode != 0:
                raise server.failed(
                    f"h2load {way.name} failed: {(done.stderr or done.stdout).strip()[-200:]}"
                )
            protocol, elapsed, succeeded, failed, mean_ms = parse(done.stdout)
            if way.name == "h2" and protocol != "h2c":
                raise server.failed(f"answered h2load in {protocol}, not HTTP/2")
            predicted, measured = at_once / seconds, succeeded / elapsed
            rows.append(
                Row(
                    stack.name,
                    way.name,
                    protocol,
                    way.connections,
                    offered,
                    round(predicted, 2),
                    round(measured, 2),
                    succeeded,
                    failed,
                    round(mean_ms, 1),
                    round(measured / predicted, 3),
                )
            )
    return rows


def table(rows: list[Row]) -> str:
    head = [
        "stack",
        "protocol",
        "connections",
        "in flight",
        "predicted rps",
        "measured rps",
        "of bound",
        "failed",
        "mean ms",
    ]
    body = [
        [
            r.stack,
            r.protocol,
            str(r.connections),
            str(r.in_flight),
            f"{r.predicted_rps:g}",
            f"{r.measured_rps:g}",
            f"{r.of_bound:.0%}",
            str(r.failed),
            f"{r.mean_ms:,.0f}",
        ]
        for r in rows
    ]
    return aligned([head, *body])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cli.add_stacks(parser, ",".join(DEFAULT))
    parser.add_argument("-c", "--connections", type=cli.positive_int, default=2, help="default 2")
    parser.add_argument(
        "-m", "--streams", type=cli.positive_int, default=50, help="per connection (default 50)"
    )
    parser.add_argument("--rounds", type=cli.positive_int, default=4, help="requests per slot (default 4)")
    cli.add_out(parser, "the report: summary.json, chart.png (default: reports/<time>-h2)")
    cli.add_plan(parser)


def main(args: argparse.Namespace) -> int:
    if shutil.which("h2load") is None:
        raise LabError("h2load is not installed (Debian: apt-get install nghttp2-client)")
    chosen = [stack for stack in choose(args.stacks, tuple(s for s in STACKS if s.name in DEFAULT))]
    h2 = [speaking(stack) for stack in chosen]  # refuse a stack that speaks no HTTP/2 before measuring any
    fewest = min(stack.server.h2_streams for stack in h2)
    if args.streams > fewest:
        raise LabError(
            f"-m {args.streams}: these servers allow {fewest} streams per connection at once; "
            "add connections (-c) instead"
        )
    if args.plan:
        plan = [["stack", "ways", "command"]]
        plan += [
            [
                s.name,
                f"h2c {args.connections}x{args.streams}, h1.1 {args.connections}, "
                f"h1.1 {args.connections * args.streams}",
                s.typed(s.slow),
            ]
            for s in h2
        ]
        print(f"plan (nothing started): SLOW_SECONDS={apps.slow_seconds():g}\n{aligned(plan)}")
        return 0
    out = run_folder(args.out, "h2")
    how = f"SLOW_SECONDS={apps.slow_seconds():g}; h2load over loopback, cleartext (h2c prior knowledge)"
    print(f"{how}\nreport: {out}", flush=True)
    rows: list[Row] = []
    chosen_ways = ways(args.connections, args.streams)
    log_dir = Path(tempfile.mkdtemp(prefix="lab-h2-"))
    try:
        for stack in chosen:
            rows += measure(stack, chosen_ways, args.rounds, log_dir / stack.name)
            print(f"{stack.name}: measured ({len(rows)} rows so far)", flush=True)
    finally:  # what was measured stays, even when a later stack fails or Ctrl-C stops the run
        if rows:
            write_json(out / "summary.json", rows, environment())
            interfaces = {s.name: s.interface for s in chosen}
            title = f"HTTP/2 beside HTTP/1.1 on the slow app: {how}"
            charts.h2_rates(rows, chosen_ways, interfaces, title, out / "chart.png")
        release(out)
    print("\n" + table(rows) + f"\nreport in {out}")
    return 0


COMMAND = cli.Command(
    "h2",
    "HTTP/2 beside HTTP/1.1 with h2load, predicted by Little's law",
    add_arguments,
    main,
    about=__doc__ or "",
)
