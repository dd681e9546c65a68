"""`python -m lab fault`: faults a production server must survive, on real processes.

SIGTERM mid-request, a killed worker, a request past the worker timeout, slowloris (with or
without a proxy in front).
"""

from __future__ import annotations

import argparse
import http.client
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil

from lab import cli
from lab.errors import LabError
from lab.infra.processes import StackServer, free_port, http_get, running, start, stop_all
from lab.infra.proxy import fronted
from lab.servers.base import Stack
from lab.stacks import get

SLOW = 2.0  # long enough to send SIGTERM while every request is still in flight


@dataclass(frozen=True)
class Shutdown:
    in_flight: int
    completed_ok: int  # in-flight requests that still got their 200
    new_connection: str  # what a connection attempted after SIGTERM got: "refused", "reset", "timeout", "200"
    exit_code: int | None
    exit_seconds: float  # from SIGTERM to the master's exit

    @property
    def ok(self) -> bool:
        return self.completed_ok == self.in_flight

    def describe(self) -> str:
        return (
            f"SIGTERM with {self.in_flight} requests in flight -> {self.completed_ok} finished with 200;"
            f" a new connection got: {self.new_connection};"
            f" the master exited ({self.exit_code}) after {self.exit_seconds} s"
        )


def try_new_connection(server: StackServer, timeout: float = SLOW + 3) -> str:
    """One GET of the server's own path on a new connection: its status, or how the connection failed."""
    return get_status(server.host, server.port, server.path, timeout)


def get_status(host: str, port: int, path: str, timeout: float) -> str:
    try:
        status, _ = http_get(host, port, path, timeout=timeout)
    except ConnectionRefusedError:
        return "refused"
    except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
        return "reset"
    except TimeoutError:
        return "timeout"
    return str(status)


TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")  # Linux's; macOS and Windows have no /proc
READS_TCP_TABLES = ("shutdown", "slowloris")  # the faults that wait until a server has read requests


def tcp_tables() -> list[Path]:
    tables = [Path(table) for table in TCP_TABLES if Path(table).exists()]
    if not tables:
        raise LabError(
            "this fault reads which requests a server has taken from Linux's /proc/net/tcp, which this"
            " system lacks: run it on Linux, in WSL or in the dev container"
        )
    return tables


def read_by_server(port: int) -> int:
    """Connections to this port whose request the server has read: accepted, nothing left unread.

    From the kernel's own table (/proc/net/tcp): a socket the server has not accepted,
    or has not read yet, still holds the request's bytes in its receive queue.
    """
    count = 0
    for table in tcp_tables():
        with suppress(OSError):
            for line in table.read_text().splitlines()[1:]:
                _, local, _, state, queues = line.split()[:5]
                rx_queue = int(queues.split(":")[1], 16)
                if state == "01" and int(local.rsplit(":", 1)[1], 16) == port and rx_queue == 0:
                    count += 1  # 01: ESTABLISHED
    return count


def wait_read(port: int, n: int, timeout: float = 10.0) -> None:
    """Until the server has read n requests sent to it (not a sleep: the kernel says when)."""
    deadline = time.monotonic() + timeout
    while read_by_server(port) < n:
        if time.monotonic() > deadline:
            raise LabError(f"the server on port {port} did not read {n} requests within {timeout:g} s")
        time.sleep(0.01)


def send_and_wait(server: StackServer, n: int, pool: ThreadPoolExecutor) -> list[Future[int]]:
    """Send n GETs on n connections; return once the server has read every one of them."""
    sent = threading.Semaphore(0)

    def one() -> int:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=SLOW * 5)
        try:
            conn.request("GET", server.path)
            sent.release()
            response = conn.getresponse()
            response.read()
            return response.status
        except OSError:
            return 0
        finally:
            conn.close()

    requests = [pool.submit(one) for _ in range(n)]
    for _ in range(n):
        if not sent.acquire(timeout=10):
            raise LabError(f"{server.name}: could not send {n} requests")
    wait_read(server.port, n)
    return requests


def graceful_shutdown(stack: Stack, log_dir: Path) -> Shutdown:
    """SIGTERM the master while requests wait on slow I/O; do they all finish, is the door shut?"""
    n = min(stack.slots(stack.slow).count or 8, 8)  # in flight, not queued: every one of them holds a slot
    with running([stack], "slow", log_dir, env={"SLOW_SECONDS": str(SLOW)}) as (server,):
        with ThreadPoolExecutor(n) as pool:
            requests = send_and_wait(server, n, pool)  # every request read by the server, being served
            began = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.3)  # not a synchronisation: what a newcomer meets 0.3 s into the drain is the point
            newcomer = try_new_connection(server)
            statuses = [request.result() for request in requests]
        try:
            code: int | None = server.process.wait(30)
        except subprocess.TimeoutExpired:  # still running: reported as no exit code
            code = None
        return Shutdown(n, statuses.count(200), newcomer, code, round(time.monotonic() - began, 2))


@dataclass(frozen=True)
class Replacement:
    killed: int
    replaced_within: float | None  # seconds until a new worker pid appeared, None if none did
    served_after: bool
    master_alive: bool = True  # False: the server ended with its worker

    @property
    def ok(self) -> bool:
        return self.replaced_within is not None and self.served_after

    def describe(self) -> str:
        replaced = (
            "NOT replaced" if self.replaced_within is None else f"replaced within {self.replaced_within} s"
        )
        ended = "" if self.master_alive else "; the whole server exited"
        return (
            f"worker {self.killed} killed with SIGKILL -> {replaced}; later requests ok: {self.served_after}"
            + ended
        )


def listens(pid: int, port: int) -> bool:
    """A worker holds the listening socket; helpers (multiprocessing's resource tracker) do not."""
    connections = psutil.Process(pid).net_connections(kind="tcp")
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections)


def kill_a_worker(stack: Stack, log_dir: Path, wait: float = 15.0) -> Replacement:
    """SIGKILL one worker; the master (gunicorn's arbiter, uvicorn's supervisor) must replace it."""
    with running([stack], "hello", log_dir) as (server,):
        master = psutil.Process(server.process.pid)
        before = {child.pid for child in master.children()}
        victim = next(pid for pid in sorted(before) if listens(pid, server.port))
        psutil.Process(victim).kill()
        began = time.monotonic()
        replaced = None
        if wait_for_new_pid(master, before, wait) - before:
            replaced = round(time.monotonic() - began, 2)
            # Its pid appears before it accepts (in one CI run Granian's did not answer 0.01 s after it
            # appeared): served means answering once it does, within the same wait.
            while time.monotonic() < began + wait:
                with suppress(OSError):
                    if http_get(server.host, server.port, "/", timeout=1)[0] == 200:
                        break
                time.sleep(0.05)
        try:
            served = all(http_get(server.host, server.port, "/", timeout=10)[0] == 200 for _ in range(10))
        except OSError:  # the master went down with its worker (Granian, Hypercorn): nothing listens
            served = False
        if not served:
            with suppress(subprocess.TimeoutExpired):
                server.process.wait(5)  # a master going down with its worker takes a moment
        return Replacement(victim, replaced, served, server.process.poll() is None)


@dataclass(frozen=True)
class Timeout:
    client_saw: str  # what the client of the stuck request got
    log_says: bool  # the master logged WORKER TIMEOUT
    replaced: bool  # a new worker was booted in its place

    @property
    def ok(self) -> bool:
        return self.client_saw != "timeout"  # the client was answered or cut off, not left hanging

    def describe(self) -> str:
        return (
            f"with --timeout 2, a request sleeping 6 s: the client got {self.client_saw};"
            f" WORKER TIMEOUT logged: {self.log_says}; worker replaced: {self.replaced}"
        )


def wait_for_new_pid(master: psutil.Process, before: set[int], wait: float) -> set[int]:
    """The master's children once one that was not there before appears, or after `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        now = {child.pid for child in master.children()}
        if now - before or time.monotonic() > deadline:
            return now
        time.sleep(0.01)


def request_past_timeout(stack: Stack, log_dir: Path, timeout: int = 2) -> Timeout:
    """A request that blocks longer than gunicorn's `timeout`: the master kills the silent worker."""
    if not stack.server.timeout:
        raise LabError(f"{stack.name}: {stack.server.name} has no per-request worker timeout")
    stuck = stack.with_options(stack.server.timeout, str(timeout))
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {"SLOW_SECONDS": str(timeout * 3)}
    server = start(stuck, stuck.slow, free_port(), log_dir / f"{stack.name}.log", env)
    try:
        server.wait_listening()  # every request would outlive the timeout: no GET to check readiness
        master = psutil.Process(server.process.pid)
        before = {child.pid for child in master.children()}
        client_saw = try_new_connection(server, timeout * 5.0)
        after = wait_for_new_pid(master, before, 10.0)
    finally:
        stop_all([server])
    log = server.log_path.read_text(errors="replace")
    return Timeout(client_saw, "WORKER TIMEOUT" in log, bool(after - before))


@dataclass(frozen=True)
class Slowloris:
    idle_connections: int
    served_meanwhile: bool  # a normal request got its answer while they were held open
    served_after: bool  # and after they were closed
    proxy: str | None = None  # what stood in front of the server, if anything

    @property
    def ok(self) -> bool:
        return self.served_after  # starved for a while perhaps, but not for good

    def describe(self) -> str:
        return (
            (f"through {self.proxy}: " if self.proxy else "")
            + f"with {self.idle_connections} half-sent requests held open, a normal request"
            f" {'was' if self.served_meanwhile else 'was NOT'} served within 3 s;"
            f" after they closed it {'was' if self.served_after else 'was NOT'}"
        )


def slowloris(
    stack: Stack, log_dir: Path, connections: int = 4, patience: float = 3.0, proxy: str | None = None
) -> Slowloris:
    """Hold `connections` requests open half-sent, then try a normal request beside them.

    With a proxy the requests go to it, and the server sees only what the proxy passes on.
    """
    with running([stack], "hello", log_dir) as servers, fronted(proxy, servers, log_dir) as (entry,):
        held = []
        try:
            for _ in range(connections):
                sock = socket.create_connection((entry.host, entry.port), timeout=5)
                sock.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\n")  # ...and the blank line never comes
                held.append(sock)
            wait_read(entry.port, connections)  # every half-request taken in by whoever listens there
            meanwhile = get_status(entry.host, entry.port, "/", patience) == "200"
        finally:
            for sock in held:
                sock.close()
        after = get_status(entry.host, entry.port, "/", 10) == "200"
    return Slowloris(connections, meanwhile, after, proxy)


class FaultResult(Protocol):
    """What every fault reports: did the server come through, and what happened, in a sentence."""

    @property
    def ok(self) -> bool: ...

    def describe(self) -> str: ...


FAULTS: dict[str, Callable[[Stack, Path], FaultResult]] = {
    "shutdown": graceful_shutdown,
    "kill-worker": kill_a_worker,
    "timeout": request_past_timeout,
    "slowloris": slowloris,
}


def fault(args: argparse.Namespace) -> int:
    """A fault on one stack, shown: SIGTERM mid-request, a killed worker, the timeout, slowloris."""
    stack = get(args.stack)
    if args.fault == "timeout" and not stack.server.timeout:
        raise LabError(
            f"{stack.name}: {stack.server.name} has no per-request worker timeout (gunicorn's --timeout)"
        )
    if args.fault == "kill-worker" and not stack.server.forks(stack.reading()):
        raise LabError(f"{stack.name} is a single process: nothing supervises it, killing it ends it")
    if args.proxy and args.fault != "slowloris":
        raise LabError("--proxy goes with the slowloris fault: the one a proxy in front changes")
    if args.fault in READS_TCP_TABLES:
        tcp_tables()  # before any server starts
    log_dir = Path(tempfile.mkdtemp(prefix="lab-fault-"))
    if args.fault == "slowloris":
        result: FaultResult = slowloris(stack, log_dir, proxy=args.proxy)
    else:
        result = FAULTS[args.fault](stack, log_dir)
    print(f"{stack.name}: {result.describe()}")
    return 0 if result.ok else 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fault", choices=FAULTS)
    parser.add_argument("stack", help="a stack name")
    cli.add_proxy(parser, "slowloris: send it")


COMMAND = cli.Command(
    "fault",
    "a fault on one stack: shutdown (SIGTERM mid-request), kill-worker, timeout, slowloris",
    add_arguments,
    fault,
)
