"""Long-lived connections on real servers: WebSockets on every ASGI stack, streams on both sides."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from lab.apps import ASGI_STREAM, WEBSOCKET, WSGI_STREAM, Target
from lab.infra.processes import StackServer, running
from lab.probes import held
from lab.stacks import BY_NAME, Stack, websocket_stacks

ASGI_SERVERS = websocket_stacks()  # uvicorn's three, gunicorn -k asgi, Granian, Hypercorn, Daphne
HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: lab\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
ENV = {"PUSH_SECONDS": "0.2", "SLOW_SECONDS": "0.3", "LINES": "3"}


def ws_url(server: StackServer) -> str:
    return f"ws://{server.host}:{server.port}/"


def echo(ws: ClientConnection, text: str) -> str:
    """Send text and return the echo, skipping the server's pushed ticks."""
    ws.send(text)
    while (reply := str(ws.recv(timeout=5))).startswith("tick "):
        pass
    return reply


@pytest.mark.parametrize("stack", ASGI_SERVERS, ids=[s.name for s in ASGI_SERVERS])
def test_websocket_echo_push_and_close(stack: Stack, tmp_path: Path) -> None:
    with running([stack], WEBSOCKET, tmp_path, env=ENV) as (server,), connect(ws_url(server)) as ws:
        assert echo(ws, "hello") == "hello"
        ticks = [str(ws.recv(timeout=2)) for _ in range(2)]  # pushed without being asked
        assert all(tick.startswith("tick ") for tick in ticks)
        ws.close()
        assert ws.close_code == 1000  # a clean close, acknowledged by the server


def close_code_after(url: str, payload: str | bytes) -> int | None:
    """Send one bad message; return the close code the server ends the connection with."""
    with connect(url, max_size=None) as ws:
        ws.send(payload)
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=5)
        return ws.close_code


@pytest.mark.parametrize("stack", ASGI_SERVERS, ids=[s.name for s in ASGI_SERVERS])
def test_bad_websocket_input_closes_only_that_connection(stack: Stack, tmp_path: Path) -> None:
    with running([stack], WEBSOCKET, tmp_path, env=ENV) as (server,), connect(ws_url(server)) as bystander:
        # Binary where text is expected: 1003. Daphne's autobahn lets an app close only with 1000 or
        # 3000-4999 and turns the app's 1003 into 1011 (internal error), logging a traceback.
        binary = 1011 if stack.server.name == "daphne" else 1003
        assert close_code_after(ws_url(server), b"\x00\x01") == binary
        assert close_code_after(ws_url(server), "x" * 100_000) in (1009, 1011)  # past the 64 KB limit
        with socket.create_connection((server.host, server.port)) as vanishing:
            vanishing.sendall(HANDSHAKE)  # then gone mid-handshake, without a close frame
        assert echo(bystander, "still here") == "still here"


def test_wsgi_server_answers_an_upgrade_as_a_plain_request(tmp_path: Path) -> None:
    """A WSGI app is one call per request: gunicorn hands it the upgrade as a GET, it answers 200."""
    with (
        running([BY_NAME["gunicorn-sync"]], "hello", tmp_path) as (server,),
        pytest.raises(InvalidStatus) as refused,
    ):
        connect(ws_url(server), open_timeout=5)
    assert refused.value.response.status_code == 200  # not 101 Switching Protocols: no WebSocket


def first_lines(server: StackServer, streams: int, within: float) -> int:
    """Streams opened at once whose first line came within `within` s, counted as the runner counts."""
    return asyncio.run(held.first_lines(server.host, server.port, streams, within))


def test_gunicorn_sync_holds_exactly_its_workers_in_streams(tmp_path: Path) -> None:
    """4 workers, 8 clients: 4 streams start at once, 4 wait for a worker (3 lines x 0.3 s)."""
    with running([BY_NAME["gunicorn-sync"]], WSGI_STREAM, tmp_path, env=ENV) as (server,):
        assert first_lines(server, streams=8, within=0.6) == 4


def test_one_asgi_process_holds_every_stream(tmp_path: Path) -> None:
    with running([BY_NAME["uvicorn"]], ASGI_STREAM, tmp_path, env=ENV) as (server,):
        assert first_lines(server, streams=50, within=0.6) == 50


UPLOAD = Target("wsgi.upload_app:app")


def upload_slowly(server: StackServer, pieces: int = 3, gap: float = 0.5) -> list[float]:
    """Send a chunked body a piece at a time, `gap` seconds apart; the app's read times, in seconds."""
    with socket.create_connection((server.host, server.port), timeout=30) as sock:
        sock.sendall(b"PUT / HTTP/1.1\r\nHost: lab\r\nTransfer-Encoding: chunked\r\n\r\n")
        for n in range(pieces):
            if n:
                time.sleep(gap)
            sock.sendall(b"%x\r\n%s\r\n" % (10_000, b"x" * 10_000))
        sock.sendall(b"0\r\n\r\n")
        answer = b""
        while not answer.endswith(b"bytes read\n"):
            answer += sock.recv(65536)
    return [float(line.split()[0]) for line in answer.decode().splitlines() if line.endswith("bytes read")]


@pytest.mark.parametrize("name", ["gunicorn-sync", "gunicorn-gthread"])
def test_a_wsgi_app_reads_its_request_body_as_it_arrives(name: str, tmp_path: Path) -> None:
    """wsgi.input is a stream: gunicorn calls the app with the headers, and a reader that waits for more."""
    with running([BY_NAME[name]], UPLOAD, tmp_path) as (server,):
        reads = upload_slowly(server)
    assert reads[0] < 0.3 and reads[-1] > 0.8, reads  # the first piece a second before the last


def test_waitress_reads_the_whole_body_before_it_calls_the_app(tmp_path: Path) -> None:
    """The other choice a WSGI server may make (docs/sources.md#waitress-buffers-request)."""
    with running([BY_NAME["waitress"]], UPLOAD, tmp_path) as (server,):
        reads = upload_slowly(server)
    assert reads[-1] < 0.2, reads  # every piece was there when the app first read
