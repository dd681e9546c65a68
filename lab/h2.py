"""python -m lab.h2: HTTP/2 beside HTTP/1.1, measured with h2load, on the servers that speak it.

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
import dataclasses
import math
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lab import cli, stacks
from lab.environment import environment
from lab.errors import LabError
from lab.report import aligned, write_json
from lab.servers import running, slow_seconds
from lab.stacks import Stack

# What each stack adds to speak cleartext HTTP/2; Granian and Hypercorn do by default.
GUNICORN_H2C = ("--http-protocols", "h2,h1", "--http2-cleartext", "both")  # both: HTTP/1.1 still served
SPEAKS = {
    "granian-wsgi": (),
    "granian-asgi": (),
    "hypercorn": (),
    "gunicorn-gthread": GUNICORN_H2C,
    "gunicorn-asgi": GUNICORN_H2C,
}
# Streams a connection may carry at once (SETTINGS_MAX_CONCURRENT_STREAMS): 100 by default in
# Hypercorn and gunicorn, 200 in Granian; h2load keeps to it, so more per connection would wait.
MAX_STREAMS = 100
# gthread hands a connection to one thread, which serves its streams one after another:
# over HTTP/2 its requests in flight are its connections (measured: 2 connections x 10
# streams of 0.2 s, 9.9 rps, as 2 would give).
ONE_STREAM_AT_A_TIME = {"gunicorn-gthread"}
# Why the others are left out, each checked by tests/test_h2.py against the server itself.
NOT_SPOKEN = {
    "uvicorn": "uvicorn speaks HTTP/1.1 only (h11 or httptools)",
    "daphne": "Daphne speaks HTTP/2 only over TLS, negotiated with ALPN (Twisted's h2 support)",
}


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
    """The stack with what it needs to accept h2c, or a clear refusal."""
    if stack.name in NOT_SPOKEN:
        raise LabError(f"{stack.name}: {NOT_SPOKEN[stack.name]}")
    if stack.name not in SPEAKS:
        raise LabError(f"{stack.name} is not measured over HTTP/2; choose from: {', '.join(SPEAKS)}")
    return dataclasses.replace(stack, options=(*stack.options, *SPEAKS[stack.name]))


def parse(stdout: str) -> tuple[str, float, int, int, float]:
    """(protocol spoken, seconds, succeeded, failed, mean ms per request) from h2load's summary."""
    protocol = re.search(r"Application protocol: (\S+)", stdout)
    finished = re.search(r"finished in ([\d.]+)(m?s)", stdout)
    counts = re.search(r"requests: \d+ total, \d+ started, (\d+) done, \d+ succeeded, \d+ failed, "
                       r"(\d+) errored, (\d+) timeout", stdout)  # fmt: skip
    codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", stdout)
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", stdout)
    if not (protocol and finished and counts and codes and mean):
        raise LabError(f"h2load printed no summary: {stdout.strip()[-300:]}")
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    done, errored, timeout = (int(n) for n in counts.groups())
    ok, redirected, client_error, server_error = (int(n) for n in codes.groups())
    if not ok + redirected + client_error + server_error:
        # h2load 1.52 records an HTTP/1.1 status only with a reason phrase, which RFC 9112 makes
        # optional and h11 (Hypercorn) and gunicorn 27 leave out: count what came back whole.
        ok = done - errored - timeout
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[mean.group(2)]
    return protocol.group(1), seconds, ok, done - ok, float(mean.group(1)) * scale


def measure(stack: Stack, chosen: list[Way], rounds: int, log_dir: Path) -> list[Row]:
    h2 = speaking(stack)
    slots = h2.slots(h2.slow)
    seconds = slow_seconds()
    rows = []
    with running([h2], "slow", log_dir) as (server,):
        for way in chosen:
            overlap = way.connections if stack.name in ONE_STREAM_AT_A_TIME else way.in_flight
            at_once = overlap if slots.count is None else min(overlap, slots.count)
            # A fixed count in whole rounds of what is served at once, then h2load stops; at
            # least one request per connection (h2load's rule). Fewer requests than streams
            # open only that many streams.
            requests = math.ceil(max(way.connections, at_once * rounds) / at_once) * at_once
            offered = min(requests, way.in_flight)
            at_once = min(at_once, offered)
            done = subprocess.run(
                way.argv(requests, server.url + server.path), capture_output=True, text=True,
                timeout=60 + requests / at_once * seconds * 2, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                raise server.failed(
                    f"h2load {way.name} failed: {(done.stderr or done.stdout).strip()[-200:]}"
                )
            protocol, elapsed, succeeded, failed, mean_ms = parse(done.stdout)
            if way.name == "h2" and protocol != "h2c":
                raise server.failed(f"answered h2load in {protocol}, not HTTP/2")
            predicted, measured = at_once / seconds, succeeded / elapsed
            rows.append(Row(
                stack.name, way.name, protocol, way.connections, offered, round(predicted, 2),
                round(measured, 2), succeeded, failed, round(mean_ms, 1), round(measured / predicted, 3),
            ))  # fmt: skip
    return rows


def table(rows: list[Row]) -> str:
    head = ["stack", "protocol", "connections", "in flight", "predicted rps", "measured rps", "of bound",
            "failed", "mean ms"]  # fmt: skip
    body = [
        [r.stack, r.protocol, str(r.connections), str(r.in_flight), f"{r.predicted_rps:g}",
         f"{r.measured_rps:g}", f"{r.of_bound:.0%}", str(r.failed), f"{r.mean_ms:,.0f}"]
        for r in rows
    ]  # fmt: skip
    return aligned([head, *body])


def main() -> int:
    parser = cli.Parser(
        prog="python -m lab.h2", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--stacks", help=f"comma-separated (default: {','.join(SPEAKS)})")
    parser.add_argument("-c", "--connections", type=cli.positive_int, default=2, help="default 2")
    parser.add_argument(
        "-m", "--streams", type=cli.positive_int, default=50, help="per connection (default 50)"
    )
    parser.add_argument("--rounds", type=cli.positive_int, default=4, help="requests per slot (default 4)")
    parser.add_argument("--out", type=Path, help="write summary.json here too")
    args = parser.parse_args()
    if shutil.which("h2load") is None:
        raise LabError("h2load is not installed (Debian: apt-get install nghttp2-client)")
    names = args.stacks.split(",") if args.stacks else list(SPEAKS)
    chosen = [stacks.get(name.strip()) for name in names if name.strip()]
    if not chosen:
        raise LabError("--stacks names no stack")
    if args.streams > MAX_STREAMS:
        raise LabError(f"-m {args.streams}: the servers allow {MAX_STREAMS} streams per connection at once; "
                       "add connections (-c) instead")  # fmt: skip
    for stack in chosen:
        speaking(stack)  # refuse a stack that speaks no HTTP/2 before measuring any
    print(
        f"SLOW_SECONDS={slow_seconds():g}; h2load over loopback, cleartext (h2c prior knowledge)", flush=True
    )
    rows: list[Row] = []
    log_dir = Path(tempfile.mkdtemp(prefix="lab-h2-"))
    try:
        for stack in chosen:
            rows += measure(stack, ways(args.connections, args.streams), args.rounds, log_dir / stack.name)
            print(table(rows[-3:]), flush=True)
    finally:
        if args.out and rows:  # what was measured stays, even when a later stack fails
            args.out.mkdir(parents=True, exist_ok=True)
            write_json(args.out / "summary.json", rows, environment())
    print("\n" + table(rows))
    return 0


if __name__ == "__main__":
    cli.run(main)
