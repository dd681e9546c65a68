"""Start stacks as real server processes on loopback, wait until they answer, stop them all."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil

from lab import ROOT
from lab.apps import Target
from lab.errors import LabError
from lab.servers.base import Stack

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    return free_ports(1, host)[0]


def free_ports(n: int, host: str = HOST) -> list[int]:
    """n different free ports. All are held at once while chosen: asked one by one, the kernel
    may hand out a port it just gave back, and two servers would then race for it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with ExitStack() as held:
        socks = [held.enter_context(socket.socket(family)) for _ in range(n)]
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def check_port_free(port: int, host: str = HOST) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        # As the servers do: connections of an earlier run lingering in TIME_WAIT are no conflict.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            raise LabError(f"port {port} on {host} is already in use ({error.strerror})") from None


def http_get(host: str, port: int, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
    """One plain HTTP/1.1 GET on a new connection."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class Server:
    """One server running as a process group (master and workers) with its log on disk."""

    name: str
    path: str  # what to GET to know it is ready
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    host = HOST

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def failed(self, why: str) -> LabError:
        tail = self.log_tail()
        return LabError(f"{self.name} {why}; its log ({self.log_path}) ends with:\n{tail}")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Return once the server answers its target path; raise if it exits or stays silent."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise self.failed(f"exited with code {self.process.returncode} before answering")
            try:
                status, _ = http_get(self.host, self.port, self.path, timeout=max(timeout, 5.0))
            except OSError:
                status = 0
            if 0 < status < 500:  # the app answered (a WebSocket endpoint answers plain HTTP with 426)
                self.wait_workers_booted(deadline)
                return
            if time.monotonic() > deadline:
                raise self.failed(f"did not answer {self.path} within {timeout:.0f} s")
            time.sleep(0.1)

    def wait_listening(self, timeout: float = 30.0) -> None:
        """Return once the port accepts connections and the workers have booted (no request sent)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise self.failed(f"exited with code {self.process.returncode} before listening")
            with suppress(OSError), socket.create_connection((self.host, self.port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise self.failed(f"did not listen on port {self.port} within {timeout:.0f} s")
            time.sleep(0.1)
        self.wait_workers_booted(deadline)

    def wait_workers_booted(self, deadline: float, quiet: float = 0.5) -> None:
        """Wait until no worker has been forked for `quiet` seconds.

        One worker answering is not all of them booted, and a gunicorn worker forked a
        moment before a SIGTERM can miss it and live on until the master's graceful
        timeout kills it. So "ready" means the process tree has stopped growing.
        """
        seen: set[int] = set()
        calm_since = time.monotonic()
        while time.monotonic() - calm_since < quiet and time.monotonic() < deadline:
            try:
                pids = {child.pid for child in psutil.Process(self.process.pid).children(recursive=True)}
            except psutil.NoSuchProcess:
                return
            if not pids <= seen:
                seen |= pids
                calm_since = time.monotonic()
            time.sleep(0.05)

    def signal(self, signum: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)


def stop_all(servers: Sequence[Server], grace: float = 10.0) -> None:
    """Stop every server at once, so they share one grace period instead of queueing."""
    for server in servers:
        if server.process.poll() is None:
            # To the master only, as `docker stop` and systemd do: it stops its own workers.
            # (A worker still booting when a group-wide SIGTERM lands can miss it and live on.)
            server.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for server in servers:
        with suppress(subprocess.TimeoutExpired):
            server.process.wait(max(0.0, deadline - time.monotonic()))
    for server in servers:
        # Workers outlive a master killed hard; signalling the group takes them all.
        server.signal(signal.SIGKILL)
        server.process.wait()


@dataclass
class StackServer(Server):
    stack: Stack
    target: Target


def popen(
    argv: Sequence[str], log_path: Path, env: dict[str, str] | None, cwd: Path,
    cpus: frozenset[int] = frozenset(),
) -> subprocess.Popen[bytes]:  # fmt: skip
    """A server command in its own process group (so stopping it reaches its workers), output to a file.

    `cpus`: pin it to these (its workers and threads inherit them), where the OS has affinity.
    """
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if cpus:  # at once, while the interpreter starts: the workers and threads it makes later inherit it
        os.sched_setaffinity(process.pid, cpus)
    return process


def start(
    stack: Stack, target: Target, port: int, log_path: Path, env: dict[str, str] | None = None,
    cpus: frozenset[int] = frozenset(),
) -> StackServer:  # fmt: skip
    """One stack, started from the repository root as the README's commands are."""
    # `python -m gunicorn` is the `gunicorn` script of this same environment.
    argv = [sys.executable, "-m", *stack.argv(target, HOST, port)]
    process = popen(argv, log_path, {**dict(stack.env), **(env or {})}, ROOT, cpus)
    return StackServer(stack.name, target.path, port, process, log_path, stack, target)


@contextmanager
def running(
    stacks: Sequence[Stack],
    kind: str | Target,
    log_dir: Path,
    env: dict[str, str] | None = None,
    ports: Sequence[int] | None = None,
    timeout: float = 30.0,
    grace: float = 10.0,
    cpus: frozenset[int] = frozenset(),
) -> Iterator[list[StackServer]]:
    """Run each stack's `kind` target ("slow" or "hello"), or one given Target, until the block ends."""
    log_dir.mkdir(parents=True, exist_ok=True)
    if ports is None:
        ports = free_ports(len(stacks))
    for port in ports:
        check_port_free(port)
    servers: list[StackServer] = []
    try:
        for stack, port in zip(stacks, ports, strict=True):
            target = kind if isinstance(kind, Target) else stack.target(kind)
            servers.append(start(stack, target, port, log_dir / f"{stack.name}.log", env, cpus))
        # In parallel: a slow app's first answer takes SLOW_SECONDS, and six of them add up.
        with ThreadPoolExecutor(len(servers) or 1) as pool:
            for ready in [pool.submit(server.wait_ready, timeout) for server in servers]:
                ready.result()
        yield servers
    finally:
        stop_all(servers, grace)
