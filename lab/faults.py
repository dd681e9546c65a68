"""Faults a production server must survive, shown on real processes: SIGTERM mid-request, a killed worker."""

from __future__ import annotations

import dataclasses
import http.client
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil

from lab.servers import StackServer, free_port, get, running, start, stop_all
from lab.stacks import Stack

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
    """One GET on a new connection: its status, or how the connection failed."""
    try:
        status, _ = get(server.host, server.port, server.path, timeout=timeout)
    except ConnectionRefusedError:
        return "refused"
    except (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError):
        return "reset"
    except TimeoutError:
        return "timeout"
    return str(status)


def graceful_shutdown(stack: Stack, log_dir: Path) -> Shutdown:
    """SIGTERM the master while requests wait on slow I/O; do they all finish, is the door shut?"""
    n = min(stack.slots or 8, 8)  # in flight, not queued: every one of them holds a slot
    with running([stack], "slow", log_dir, env={"SLOW_SECONDS": str(SLOW)}) as (server,):
        with ThreadPoolExecutor(n) as pool:
            requests = [pool.submit(get, server.host, server.port, server.path, SLOW * 5) for _ in range(n)]
            time.sleep(SLOW / 4)  # all sent and being served
            began = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            newcomer = try_new_connection(server)
            statuses = []
            for request in requests:
                try:
                    statuses.append(request.result()[0])
                except OSError:
                    statuses.append(0)
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

    @property
    def ok(self) -> bool:
        return self.replaced_within is not None and self.served_after

    def describe(self) -> str:
        replaced = (
            "NOT replaced" if self.replaced_within is None else f"replaced within {self.replaced_within} s"
        )
        return (
            f"worker {self.killed} killed with SIGKILL -> {replaced}; later requests ok: {self.served_after}"
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
        while time.monotonic() - began < wait:
            now = {child.pid for child in master.children()}
            if now - before:
                replaced = round(time.monotonic() - began, 2)
                break
            time.sleep(0.05)
        served = all(get(server.host, server.port, "/")[0] == 200 for _ in range(10))
        return Replacement(victim, replaced, served)


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


def request_past_timeout(stack: Stack, log_dir: Path, timeout: int = 2) -> Timeout:
    """A request that blocks longer than gunicorn's `timeout`: the master kills the silent worker."""
    stuck = dataclasses.replace(stack, options=(*stack.options, "--timeout", str(timeout)))
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {"SLOW_SECONDS": str(timeout * 3)}
    server = start(stuck, stuck.slow, free_port(), log_dir / f"{stack.name}.log", env)
    try:
        server.wait_listening()  # every request would outlive the timeout: no GET to check readiness
        master = psutil.Process(server.process.pid)
        before = {child.pid for child in master.children()}
        client_saw = try_new_connection(server, timeout * 5.0)
        time.sleep(1.0)  # the replacement boots
        after = {child.pid for child in master.children()}
    finally:
        stop_all([server])
    log = server.log_path.read_text(errors="replace")
    return Timeout(client_saw, "WORKER TIMEOUT" in log, bool(after - before))


@dataclass(frozen=True)
class Slowloris:
    idle_connections: int
    served_meanwhile: bool  # a normal request got its answer while they were held open
    served_after: bool  # and after they were closed

    @property
    def ok(self) -> bool:
        return self.served_after  # starved for a while perhaps, but not for good

    def describe(self) -> str:
        return (
            f"with {self.idle_connections} half-sent requests held open, a normal request"
            f" {'was' if self.served_meanwhile else 'was NOT'} served within 3 s;"
            f" after they closed it {'was' if self.served_after else 'was NOT'}"
        )


def slowloris(stack: Stack, log_dir: Path, connections: int = 4, patience: float = 3.0) -> Slowloris:
    """Hold `connections` requests open half-sent, then try a normal request beside them."""
    with running([stack], "hello", log_dir) as (server,):
        held = []
        try:
            for _ in range(connections):
                sock = socket.create_connection((server.host, server.port), timeout=5)
                sock.sendall(b"GET / HTTP/1.1\r\nHost: lab\r\n")  # ...and the blank line never comes
                held.append(sock)
            time.sleep(0.5)  # let the server pick them up
            meanwhile = try_new_connection(server, patience) == "200"
        finally:
            for sock in held:
                sock.close()
        after = try_new_connection(server, 10) == "200"
    return Slowloris(connections, meanwhile, after)


class Outcome(Protocol):
    """What every fault reports: did the server come through, and what happened, in a sentence."""

    @property
    def ok(self) -> bool: ...

    def describe(self) -> str: ...


FAULTS: dict[str, Callable[[Stack, Path], Outcome]] = {
    "shutdown": graceful_shutdown,
    "kill-worker": kill_a_worker,
    "timeout": request_past_timeout,
    "slowloris": slowloris,
}
