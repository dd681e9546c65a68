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
import math
import random
import resource
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
from websockets.asyncio.client import ClientConnection, connect

from lab import cli
from lab.errors import LabError
from lab.measure import percentile
from lab.report import write_json
from lab.servers import running
from lab.stacks import BY_NAME, Stack, Target

IMPLEMENTATIONS = ("websockets-sansio", "websockets", "wsproto")
WEBSOCKET = Target("asgi.websocket_app:app")


@dataclass(frozen=True)
class Held:
    stack: str
    kind: str  # "websocket" or "stream"
    ws: str  # uvicorn's --ws implementation, for WebSockets
    asked: int
    held: int
    kb_per_connection: float  # server memory (all its processes) per held connection
    echo_p50_ms: float
    echo_p95_ms: float
    seconds: float  # to open them all


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


def tree_rss(pid: int) -> int:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])


async def measure(url: str, pid: int, n: int, messages: int) -> tuple[int, float, list[float], float]:
    """(connections held, server bytes per connection, echo round trips in ms, seconds to open them)."""
    warm = await open_all(url, 1)  # the first connection imports and allocates what all of them share
    baseline = tree_rss(pid)
    began = time.monotonic()
    held = await open_all(url, n)
    connected = time.monotonic() - began
    await asyncio.sleep(1)  # let the server settle
    per_connection = (tree_rss(pid) - baseline) / n
    rtts = sorted(await trickle(held, messages))
    await asyncio.gather(*[ws.close() for ws in held + warm])
    return len(held), per_connection, rtts, connected


def hold_websockets(stack: Stack, n: int, messages: int, log_dir: Path) -> Held:
    # Ticks far apart: idle connections, so memory and latency are those of holding them.
    with running([stack], WEBSOCKET, log_dir, env={"PUSH_SECONDS": "3600"}) as (server,):
        url = f"ws://{server.host}:{server.port}/"
        count, per_connection, rtts, connected = asyncio.run(measure(url, server.process.pid, n, messages))
    ws = stack.options[stack.options.index("--ws") + 1] if "--ws" in stack.options else "default"
    return Held(
        stack.name, "websocket", ws, n, count, round(per_connection / 1024, 1),
        round(percentile(rtts, 50), 2), round(percentile(rtts, 95), 2), round(connected, 1),
    )  # fmt: skip


async def first_lines(host: str, port: int, n: int, within: float) -> int:
    """Open n streams at once; count those whose first line arrived within `within` seconds."""

    async def one() -> bool:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n")
            async with asyncio.timeout(within):
                while b"line 1" not in await reader.readline():
                    pass
            return True
        except TimeoutError:
            return False
        finally:
            writer.close()

    return sum(await asyncio.gather(*[one() for _ in range(n)]))


def hold_streams(stack: Stack, n: int, log_dir: Path, within: float = 1.0) -> Held:
    """How many streamed responses the stack serves at once: each sends a line every second for 5 s."""
    target = Target("wsgi.stream_app:app" if stack.interface == "WSGI" else "asgi.stream_app:app")
    with running([stack], target, log_dir, env={"SLOW_SECONDS": "1", "LINES": "5"}) as (server,):
        began = time.monotonic()
        count = asyncio.run(first_lines(server.host, server.port, n, within))
        elapsed = time.monotonic() - began
    nan = float("nan")  # no memory or echo figures for streams
    return Held(stack.name, "stream", "-", n, count, nan, nan, nan, round(elapsed, 1))


def scenario(chosen: Sequence[Stack], n: int, out: Path) -> list[Held]:
    """compare.py --scenario connections: streams on every stack, WebSockets on the ASGI ones."""
    raise_fd_limit(2 * n + 1024)
    results = []
    for stack in chosen:
        results.append(hold_streams(stack, n, out / "logs"))
        if stack.interface == "ASGI":
            results.append(hold_websockets(stack, n, 200, out / "logs"))
    return results


def report(results: list[Held], title: str, out: Path) -> str:
    """Write summary.json and summary.md; return the table as printed."""
    write_json(out / "summary.json", results)
    lines = [f"# {title}", "", "| stack | kind | --ws | asked | held | KB/conn | echo p50 ms | echo p95 ms |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        figures = (r.kb_per_connection, r.echo_p50_ms, r.echo_p95_ms)
        kb, p50, p95 = ("-" if math.isnan(v) else str(v) for v in figures)
        lines.append(f"| {r.stack} | {r.kind} | {r.ws} | {r.asked} | {r.held} | {kb} | {p50} | {p95} |")
    lines += ["", *[f"- **{r.stack}** ({r.kind}): {explain(r, BY_NAME[r.stack])}" for r in results]]
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


def explain(r: Held, stack: Stack) -> str:
    if r.kind == "stream" and stack.slots is not None and r.held < r.asked:
        return f"{r.held} of {r.asked} streams started: {stack.slots_why}, each busy for a whole stream"
    if r.kind == "stream":
        return f"all {r.held} streams started at once: every stream is a coroutine awaiting its next line"
    return (
        f"{r.held} WebSockets held at {r.kb_per_connection} KB each; echo p95 {r.echo_p95_ms} ms while held"
    )


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
        stack = dataclasses.replace(BY_NAME["uvicorn"], options=("--ws", ws))
        r = hold_websockets(stack, args.n, args.messages, Path(tempfile.mkdtemp(prefix="lab-connections-")))
        print(f"{r.ws:<18} {r.held:>6} {r.kb_per_connection:>8} {r.echo_p50_ms:>7} ms {r.echo_p95_ms:>6} ms "
              f"{r.seconds:>6} s", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    cli.run(main)
