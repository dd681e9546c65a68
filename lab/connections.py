"""python -m lab.connections: how many idle WebSocket connections one uvicorn process holds, and at what cost.

For each of uvicorn's WebSocket implementations (--ws), it starts one uvicorn
process serving asgi/websocket_app.py, opens N connections from this process and
keeps them idle, then measures the server's resident memory per connection and
the echo round trip of a trickle of messages sent one at a time while all N are
held. Loopback only; bounded by N and by a deadline. It raises this process's
open-file limit (the server inherits it): N connections need N descriptors on each side.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from websockets.asyncio.client import ClientConnection, connect

from lab import cli
from lab.errors import LabError
from lab.measure import percentile
from lab.servers import running
from lab.stacks import BY_NAME, Target

IMPLEMENTATIONS = ("websockets-sansio", "websockets", "wsproto")
WEBSOCKET = Target("asgi.websocket_app:app")


@dataclass(frozen=True)
class Held:
    ws: str
    held: int
    kb_per_connection: float
    echo_p50_ms: float
    echo_p95_ms: float
    connect_seconds: float


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise LabError(f"{needed} open files needed, the hard limit is {hard}: raise it (ulimit -Hn)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


async def open_all(url: str, n: int, batch: int = 250) -> list[ClientConnection]:
    held: list[ClientConnection] = []
    while len(held) < n:
        size = min(batch, n - len(held))
        # No keep-alive pings: the connections stay truly idle.
        held += await asyncio.gather(
            *[connect(url, ping_interval=None, open_timeout=60) for _ in range(size)]
        )
    return held


async def trickle(held: list[ClientConnection], messages: int) -> list[float]:
    rtts = []
    for ws in random.sample(held, min(messages, len(held))):
        began = time.perf_counter()
        await ws.send("ping")
        await ws.recv()
        rtts.append((time.perf_counter() - began) * 1000)
    return rtts


async def measure(url: str, pid: int, n: int, messages: int) -> tuple[float, float, list[float], float]:
    warm = await open_all(url, 1)  # the first connection imports and allocates what all of them share
    baseline = psutil.Process(pid).memory_info().rss
    began = time.monotonic()
    held = await open_all(url, n)
    connected = time.monotonic() - began
    await asyncio.sleep(1)  # let the server settle
    after = psutil.Process(pid).memory_info().rss
    rtts = await trickle(held, messages)
    await asyncio.gather(*[ws.close() for ws in held + warm])
    return baseline, after, rtts, connected


def hold(ws: str, n: int, messages: int, log_dir: Path) -> Held:
    stack = dataclasses.replace(BY_NAME["uvicorn"], options=("--ws", ws))
    # Ticks far apart: idle connections, so memory and latency are those of holding them.
    with running([stack], WEBSOCKET, log_dir, env={"PUSH_SECONDS": "3600"}) as (server,):
        url = f"ws://{server.host}:{server.port}/"
        baseline, after, rtts, connected = asyncio.run(measure(url, server.process.pid, n, messages))
    rtts.sort()
    return Held(ws, n, round((after - baseline) / n / 1024, 1), round(percentile(rtts, 50), 2),
                round(percentile(rtts, 95), 2), round(connected, 1))  # fmt: skip


def main() -> int:
    parser = cli.Parser(prog="python -m lab.connections", description=__doc__)
    parser.add_argument("-n", type=cli.positive_int, default=5000, help="connections to hold (default 5000)")
    parser.add_argument(
        "--messages", type=cli.positive_int, default=200, help="echoes in the trickle (default 200)"
    )
    parser.add_argument("--ws", choices=IMPLEMENTATIONS, action="append", help="default: all three")
    args = parser.parse_args()
    raise_fd_limit(2 * args.n + 1024)
    print(f"{'--ws':<18} {'held':>6} {'KB/conn':>8} {'echo p50':>9} {'echo p95':>9} {'connect':>8}")
    for ws in args.ws or IMPLEMENTATIONS:
        r = hold(ws, args.n, args.messages, Path(tempfile.mkdtemp(prefix="lab-connections-")))
        print(f"{r.ws:<18} {r.held:>6} {r.kb_per_connection:>8} {r.echo_p50_ms:>7} ms {r.echo_p95_ms:>6} ms "
              f"{r.connect_seconds:>6} s", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    cli.run(main)
