"""Held connections: streams and WebSockets; `python -m lab websockets` measures what a WebSocket costs.

For each WebSocket configuration (uvicorn's three --ws implementations, with
per-message deflate on and off, and gunicorn's own ASGI worker) it starts a server
for asgi/websocket_app.py at the app's own tick (a push every PUSH_SECONDS, 1 by
default), opens N connections from this process, has each exchange a message,
keeps reading their ticks, then measures:

- server memory per connection, as USS (memory no other process shares), summed
  over the server's processes: RSS would count pages shared by workers once each;
- the echo round trip of a trickle of messages sent while all N are active;
- the bytes a large text message costs on the wire, which is what deflate buys.

Loopback only; bounded by N and by deadlines. It raises this process's open-file
limit (the server inherits it): N connections need N descriptors on each side.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import resource
import socket
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as connect_sync

from lab import cli
from lab.apps import ASGI_STREAM, WEBSOCKET, WSGI_STREAM
from lab.errors import LabError
from lab.infra.processes import running
from lab.measure.cpu import server_uss
from lab.measure.machine import environment
from lab.measure.requests import percentile
from lab.report.files import write_json, write_markdown
from lab.report.format import aligned
from lab.report.held import Held, explain, table
from lab.servers.base import Stack
from lab.stacks import BY_NAME

IMPLEMENTATIONS = ("websockets-sansio", "websockets", "wsproto")
LARGE = json.dumps([{"id": i, "name": f"user {i}", "active": i % 2 == 0} for i in range(1500)])[:60_000]
SETTLE = 3.0  # seconds of ticks on every connection before memory is read: each compressor allocated


def raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise LabError(f"{needed} open files needed, the hard limit is {hard}: raise it (ulimit -Hn)")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


class Active:
    """One client connection that echoes once, then keeps reading: ticks are dropped, echoes answered."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.echo: asyncio.Future[str] | None = None
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        try:
            async for message in self.ws:
                if self.echo is not None and not str(message).startswith("tick "):
                    self.echo.set_result(str(message))
        except ConnectionClosed:
            pass

    async def round_trip(self, text: str) -> float:
        self.echo = asyncio.get_running_loop().create_future()
        began = time.perf_counter()
        await self.ws.send(text)
        await asyncio.wait_for(self.echo, 30)
        self.echo = None
        return (time.perf_counter() - began) * 1000


async def open_active(url: str, n: int, batch: int = 250) -> list[Active]:
    held: list[Active] = []
    while len(held) < n:
        size = min(batch, n - len(held))
        # No keep-alive pings: the traffic is the app's own, ticks and echoes.
        opened = await asyncio.gather(
            *[connect(url, ping_interval=None, open_timeout=60) for _ in range(size)]
        )
        batch_held = [Active(ws) for ws in opened]
        await asyncio.gather(*[a.round_trip("hello") for a in batch_held])  # each exchanges a message
        held += batch_held
    return held


async def measure_active(url: str, pid: int, n: int, messages: int) -> tuple[int, float, list[float], float]:
    """(connections held, server bytes per connection, echo round trips in ms, seconds to open them)."""
    warm = await open_active(url, 1)  # the first connection imports and allocates what all of them share
    await asyncio.sleep(SETTLE)
    baseline = server_uss(pid)
    began = time.monotonic()
    held = await open_active(url, n)
    connected = time.monotonic() - began
    await asyncio.sleep(SETTLE)  # every connection ticking, its buffers and compressor allocated
    per_connection = (server_uss(pid) - baseline) / n
    rtts = sorted([await a.round_trip("ping") for a in random.sample(held, min(messages, len(held)))])
    alive = sum(1 for a in held if not a.reader.done())
    await asyncio.gather(*[a.ws.close() for a in held + warm])
    return alive, per_connection, rtts, connected


class CountingSocket(socket.socket):
    """A client socket that counts the bytes it receives: the wire cost of a message."""

    received = 0

    def recv(self, size: int, flags: int = 0) -> bytes:
        data = super().recv(size, flags)
        self.received += len(data)
        return data


def wire_cost(host: str, port: int) -> tuple[str, int]:
    """(deflate as negotiated, bytes received for the echo of LARGE)."""
    sock = CountingSocket(socket.AF_INET, socket.SOCK_STREAM)
    sock.connect((host, port))
    with connect_sync(f"ws://{host}:{port}/", sock=sock, ping_interval=None) as ws:
        negotiated = "on" if ws.protocol.extensions else "off"
        before = sock.received
        ws.send(LARGE)
        while str(ws.recv(timeout=10)).startswith("tick "):
            before = sock.received  # a tick arrived first: count from after it
        return negotiated, sock.received - before


# The WebSocket implementation each of the other ASGI servers always uses.
def hold_websockets(stack: Stack, n: int, messages: int, log_dir: Path) -> Held:
    with running([stack], WEBSOCKET, log_dir) as (server,):  # the app's default tick
        deflate, wire = wire_cost(server.host, server.port)
        url = f"ws://{server.host}:{server.port}/"
        try:
            count, per_connection, rtts, connected = asyncio.run(
                measure_active(url, server.process.pid, n, messages)
            )
        except (OSError, TimeoutError, ConnectionClosed) as error:
            raise server.failed(f"lost its WebSocket clients ({type(error).__name__}: {error})") from None
    ws = stack.server.websocket(stack.options, stack.reading(WEBSOCKET)) or "-"
    return Held(
        stack.name,
        "websocket",
        ws,
        deflate,
        n,
        count,
        round(per_connection / 1024, 1),
        round(percentile(rtts, 50), 2),
        round(percentile(rtts, 95), 2),
        wire,
        round(connected, 1),
    )


async def first_lines(host: str, port: int, n: int, within: float) -> int:
    """Open n streams at once; count those whose first line arrived within `within` seconds of the start.

    A stream that got its line is held open to the end of the window, as a client
    still reading would hold it: closed early, its worker would fail its next write
    and be free for another stream inside the window, which is not what is counted.
    """
    deadline = asyncio.get_running_loop().time() + within

    async def one() -> bool:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:  # refused or reset: a stream that was not held
            return False
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n")
            async with asyncio.timeout_at(deadline):
                while b"line 1" not in await reader.readline():
                    pass
        except (TimeoutError, OSError):
            writer.close()
            return False
        await asyncio.sleep(deadline - asyncio.get_running_loop().time())  # negative: at once
        writer.close()
        return True

    return sum(await asyncio.gather(*[one() for _ in range(n)]))


def hold_streams(stack: Stack, n: int, log_dir: Path, within: float = 1.0) -> Held:
    """How many streamed responses the stack serves at once: each sends a line every second for 5 s."""
    target = WSGI_STREAM if stack.interface == "WSGI" else ASGI_STREAM
    with running([stack], target, log_dir, env={"SLOW_SECONDS": "1", "LINES": "5"}) as (server,):
        began = time.monotonic()
        count = asyncio.run(first_lines(server.host, server.port, n, within))
        elapsed = time.monotonic() - began
    nan = float("nan")  # no memory or echo figures for streams
    return Held(stack.name, "stream", "-", "-", n, count, nan, nan, nan, nan, round(elapsed, 1))


def configurations(chosen: Sequence[str]) -> list[Stack]:
    """uvicorn with each --ws implementation, deflate on and off; gunicorn's ASGI worker (no deflate)."""
    uvicorn = BY_NAME["uvicorn"]
    configs = []
    for ws in chosen:
        for deflate in ("true", "false"):
            configs.append(
                dataclasses.replace(uvicorn, options=("--ws", ws, "--ws-per-message-deflate", deflate))
            )
    return configs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", type=cli.positive_int, default=5000, help="connections to hold (default 5000)")
    parser.add_argument(
        "--messages", type=cli.positive_int, default=200, help="echoes in the trickle (default 200)"
    )
    parser.add_argument("--ws", choices=IMPLEMENTATIONS, action="append", help="default: all three")
    parser.add_argument("--no-gunicorn", action="store_true", help="leave out gunicorn -k asgi")
    parser.add_argument("--out", type=Path, help="write summary.json and summary.md here too")


def main(args: Any) -> int:
    raise_fd_limit(2 * args.n + 1024)
    configs = configurations(args.ws or IMPLEMENTATIONS)
    if not args.no_gunicorn:
        configs.append(BY_NAME["gunicorn-asgi"])
    results = []
    for stack in configs:
        print(f"{' '.join([stack.server.program, *stack.options])}: {args.n} connections ...", flush=True)
        results.append(
            hold_websockets(stack, args.n, args.messages, Path(tempfile.mkdtemp(prefix="lab-ws-")))
        )
    print("\n" + aligned(table(results)))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        write_json(args.out / "summary.json", results, environment())
        words = [
            f"- **{r.stack}** ({r.kind}): {explain(r, stack)}"
            for r, stack in zip(results, configs, strict=True)
        ]
        write_markdown(
            args.out / "summary.md", f"{args.n} active WebSockets per configuration", table(results), words
        )
    return 0


COMMAND = cli.Command(
    "websockets",
    "what N active WebSockets cost each implementation: memory, echo time, bytes on the wire",
    add_arguments,
    main,
    about=__doc__ or "",
)
