"""Every stack of the matrix as a real process on a free port, answering real HTTP and stopping cleanly."""

from __future__ import annotations

import re
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lab import ROOT
from lab.infra.processes import Server, free_port, free_ports, http_get, running, stop_all
from lab.stacks import BY_NAME, STACKS, Stack
from tests.conftest import SLOW, ServeOne
from tests.processes import launch

# gunicorn exits 0 after a graceful stop; uvicorn (>= 0.29) re-raises the signal it
# handled, so its clean exit reads as "killed by SIGTERM". SIGKILL (-9) means it hung.
CLEAN_EXIT = (0, -signal.SIGTERM)

CASES = [(stack, kind) for stack in STACKS for kind in ("hello", "slow") if getattr(stack, kind)]


@pytest.mark.parametrize(("stack", "kind"), CASES, ids=[f"{s.name}-{k}" for s, k in CASES])
def test_stack_serves_and_stops_cleanly(stack: Stack, kind: str, serve: ServeOne) -> None:
    with serve(stack, kind) as (server,):
        status, body = http_get(server.host, server.port, server.target.path)
        assert status == 200, body
        assert body
        stop_all([server])
        assert server.process.returncode in CLEAN_EXIT, server.log_tail()


def started(
    name: str, argv: list[str], cwd: Path, tmp_path: Path, env: dict[str, str] | None = None
) -> Server:
    port = free_port()
    env = {"HOST": "127.0.0.1", "PORT": str(port), **(env or {})}
    argv = [arg.replace("{port}", str(port)) for arg in argv]
    server = launch(name, argv, port, tmp_path / "server.log", env=env, cwd=cwd)
    server.wait_ready()
    return server


# As the seed material runs them: from inside the folder, with the bare module name.
SEED_COMMANDS = {
    "cd wsgi && gunicorn -w 4 app:app": (
        "wsgi",
        ["gunicorn", "-w", "4", "-b", "127.0.0.1:{port}", "app:app"],
    ),
    "cd asgi && uvicorn app:app": ("asgi", ["uvicorn", "--port", "{port}", "app:app"]),
    "cd asgi && uvicorn slow_app:app": ("asgi", ["uvicorn", "--port", "{port}", "slow_app:app"]),
    "python wsgi/runfromgunicorn.py": (".", ["wsgi/runfromgunicorn.py"]),
    "python asgi/runfromuvicorn.py": (".", ["asgi/runfromuvicorn.py"]),
    "cd wsgi && python runfromgunicorn.py": ("wsgi", ["runfromgunicorn.py"]),
}


@pytest.mark.parametrize("command", SEED_COMMANDS)
def test_seed_style_commands_serve(command: str, tmp_path: Path) -> None:
    folder, argv = SEED_COMMANDS[command]
    python = [sys.executable] if argv[0].endswith(".py") else [sys.executable, "-m"]
    server = started(command, [*python, *argv], ROOT / folder, tmp_path, {"SLOW_SECONDS": "0.1"})
    try:
        assert http_get(server.host, server.port, "/")[0] == 200
    finally:
        stop_all([server])
    assert server.process.returncode in CLEAN_EXIT, server.log_tail()


def test_runfromgunicorn_reads_gunicorn_conf(tmp_path: Path) -> None:
    """The Python launcher and the command line share gunicorn.conf.py (here: WEB_CONCURRENCY, access log)."""
    argv = [sys.executable, "wsgi/runfromgunicorn.py"]
    server = started("runfromgunicorn", argv, ROOT, tmp_path, {"WEB_CONCURRENCY": "3"})
    try:
        http_get(server.host, server.port, "/")
    finally:
        stop_all([server])
    log = server.log_path.read_text()
    assert log.count("Booting worker") == 3, log
    assert '"GET / HTTP/1.1" 200' in log, log  # the access log format of gunicorn.conf.py


def test_runfromgunicorn_reads_gunicorn_cmd_args_too(tmp_path: Path) -> None:
    """GUNICORN_CMD_ARGS overrides the config file, as it does for the gunicorn command."""
    argv = [sys.executable, "wsgi/runfromgunicorn.py"]
    server = started("runfromgunicorn", argv, ROOT, tmp_path, {"GUNICORN_CMD_ARGS": "--workers 2"})
    try:
        assert http_get(server.host, server.port, "/")[0] == 200
    finally:
        stop_all([server])
    assert server.log_path.read_text().count("Booting worker") == 2


def test_gunicorn_master_exits_on_sigint_too(serve: ServeOne) -> None:
    """Ctrl-C in a terminal sends SIGINT: a quick, still clean, shutdown."""
    with serve(STACKS[0], "hello") as (server,):
        server.signal(signal.SIGINT)
        assert server.process.wait(15) == 0


@pytest.mark.parametrize("stack", ["uvicorn", "gunicorn-sync"])
def test_dev_mode_serves_with_reload(stack: str, tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "lab", "dev", stack, "--port", "{port}"]
    server = started(f"dev {stack}", argv, ROOT, tmp_path)
    try:
        assert http_get(server.host, server.port, "/")[0] == 200
    finally:
        stop_all([server])
    log = server.log_path.read_text()
    assert "--reload" in log.splitlines()[0]  # the command it printed before starting


def test_ports_for_servers_started_together_are_all_different() -> None:
    """Chosen one by one, the kernel may return a port twice; then one server fails to bind."""
    ports = free_ports(64)
    assert len(set(ports)) == 64


def test_fastapi_docs_need_no_network(serve: ServeOne) -> None:
    """/docs and /redoc load their scripts from the server itself, so they work with no internet."""
    with serve(BY_NAME["fastapi-def"], "hello") as (server,):
        pages = [http_get(server.host, server.port, path) for path in ("/docs", "/redoc")]
        html = b"".join(body for _, body in pages)
        assets = set(re.findall(rb'(?:src|href)="(/static-offline-docs/[^"]+)"', html))
        served = [http_get(server.host, server.port, asset.decode()) for asset in assets]
    assert [status for status, _ in pages] == [200, 200]
    assert b"cdn" not in html.lower()
    wanted = {b"swagger-ui-bundle.js", b"swagger-ui.css", b"redoc.standalone.js"}
    assert {asset.rsplit(b"/", 1)[1] for asset in assets} >= wanted
    assert all(status == 200 and len(body) > 1000 for status, body in served)


def test_health_is_answered_while_the_slow_requests_wait(serve: ServeOne) -> None:
    """On an event loop the healthcheck does not queue behind the load (a sync worker's would)."""
    with serve(BY_NAME["uvicorn"], "slow") as (server,), ThreadPoolExecutor(10) as pool:
        waiting = [pool.submit(http_get, server.host, server.port, "/") for _ in range(10)]
        began = time.monotonic()
        status, body = http_get(server.host, server.port, "/health")
        took = time.monotonic() - began
        assert all(future.result()[0] == 200 for future in waiting)
    assert (status, body) == (200, b"Slept 0.0 s\n")
    assert took < SLOW / 2, f"/health took {took:.3f} s beside requests of {SLOW} s"


def test_each_record_says_whether_its_server_writes_an_access_log(tmp_path: Path) -> None:
    """The access log each hello command has, read by its record, against the lines its real server wrote."""
    stacks = [stack for stack in STACKS if stack.hello]
    marker = "/access-log-probe"
    # Unbuffered: a line written per request reaches the log file before the server stops.
    with running(stacks, "hello", tmp_path, env={"PYTHONUNBUFFERED": "1"}) as servers:
        for server in servers:
            http_get(server.host, server.port, marker)  # a 404 from some apps: it is logged all the same
    for stack, server in zip(stacks, servers, strict=True):
        logged = marker in server.log_path.read_text(errors="replace")
        assert logged == stack.reading(stack.target("hello")).access_log, (stack.name, server.log_tail())
