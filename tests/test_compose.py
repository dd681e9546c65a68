"""Both compose files brought up for real, with podman-compose (or docker compose), and down again.

The class's docker/compose.yaml: every stack healthy and answering, nginx in front of each,
locust's master with two workers loading every stack; a request longer than 10 s finishes
when its service is stopped. The team starter's compose.yaml: the app behind nginx.
Marked `compose` (and `images`): REQUIRE_COMPOSE=1, set by .ci/run, makes a skip a failure.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lab import ROOT
from lab.errors import LabError
from lab.infra import classroom, starter
from lab.infra.classroom import Project
from lab.infra.compose import proxy_port
from lab.infra.processes import free_port, http_get
from lab.stacks import BY_NAME, STACKS

pytestmark = [pytest.mark.compose, pytest.mark.images, pytest.mark.timeout(1800)]

RECORD = ROOT / "test-artifacts" / "compose.json"
SLOW = 0.2  # seconds each slow app sleeps in the class project


def project(name: str, container: list[str], **kwargs: object) -> Project:
    """A Project, or a skip (a failure under REQUIRE_COMPOSE=1) where no compose can run."""
    try:
        return Project(name, **kwargs)  # type: ignore[arg-type]
    except LabError as error:
        if os.environ.get("REQUIRE_COMPOSE") == "1":
            pytest.fail(f"REQUIRE_COMPOSE=1 but {error}")
        pytest.skip(str(error))


def record(**values: object) -> None:
    RECORD.parent.mkdir(exist_ok=True)
    previous = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    RECORD.write_text(json.dumps({**previous, **values}, indent=2) + "\n")


def raw(port: int, request: bytes, host: str = "127.0.0.1") -> str:
    """The status line a raw request gets back."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        return sock.recv(4096).split(b"\r\n", 1)[0].decode()


@pytest.fixture(scope="module")
def classroom_up(container: list[str]) -> Iterator[Project]:
    class_project = project(f"labtest{os.getpid()}", container, env={"SLOW_SECONDS": str(SLOW)})
    seconds = class_project.up([])
    record(class_up_to_healthy_s=round(seconds, 1))
    try:
        yield class_project
    finally:
        class_project.down()
    assert class_project.containers("uvicorn") == []  # down removed them


def test_every_stack_answers_directly_and_through_nginx(classroom_up: Project) -> None:
    answered = {}
    for stack in STACKS:
        direct = http_get("127.0.0.1", stack.port, stack.slow.path)
        proxied = http_get("127.0.0.1", proxy_port(stack), stack.slow.path)
        assert direct[0] == proxied[0] == 200, stack.name
        assert direct[1] == proxied[1], stack.name
        answered[stack.name] = direct[1].decode().strip()
    assert answered["uvicorn"] == f"Slept {SLOW} s"
    record(answered=answered)


def test_the_proxy_refuses_the_host_cases_the_servers_accept(classroom_up: Project) -> None:
    no_host = b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"
    two_hosts = b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n"
    sync, uvicorn = BY_NAME["gunicorn-sync"], BY_NAME["uvicorn"]
    seen = {
        "no Host, gunicorn-sync": [raw(sync.port, no_host), raw(proxy_port(sync), no_host)],
        "two Hosts, uvicorn": [raw(uvicorn.port, two_hosts), raw(proxy_port(uvicorn), two_hosts)],
    }
    record(host_cases_alone_then_through_nginx=seen)
    for alone, through_nginx in seen.values():
        assert alone.split()[1] == "200"
        assert through_nginx.split()[1] == "400"


def test_locust_workers_load_every_stack(classroom_up: Project) -> None:
    web = "http://127.0.0.1:8089"
    classes = re.findall(r"^class (\w+)\(StackUser\)", (ROOT / "locustfile.py").read_text(), re.M)
    assert len(classes) == len(STACKS)
    assert stats(web)["worker_count"] == 2
    form = urllib.parse.urlencode(
        [("user_count", 16), ("spawn_rate", 16)] + [("user_classes", c) for c in classes]
    )
    post(f"{web}/swarm", form.encode())
    try:
        deadline = time.monotonic() + 60
        while True:  # until every stack's row has answers
            rows = {row["name"]: row for row in stats(web)["stats"] if row["name"] != "Aggregated"}
            if len(rows) == len(STACKS) and all(row["num_requests"] > 0 for row in rows.values()):
                break
            assert time.monotonic() < deadline, f"not every stack was loaded: {sorted(rows)}"
            time.sleep(0.5)
    finally:
        post(f"{web}/stop", b"")
    assert {name: row["num_failures"] for name, row in rows.items()} == dict.fromkeys(rows, 0)


def stats(web: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{web}/stats/requests", timeout=10) as response:  # noqa: S310  # loopback
        return json.loads(response.read())  # type: ignore[no-any-return]


def post(url: str, body: bytes) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=10):  # noqa: S310
        pass


def test_stop_lets_a_request_longer_than_10_s_finish(container: list[str]) -> None:
    """compose's stop_grace_period (30 s) over gunicorn's graceful_timeout (25 s): nothing is cut."""
    seconds = 12.0  # longer than compose's default 10 s grace
    stack = BY_NAME["gunicorn-sync"]
    # Its own loopback address, so it never competes with the class project for ports.
    one = project(
        f"labstop{os.getpid()}", container, env={"SLOW_SECONDS": str(seconds), "LAB_BIND": "127.0.0.2"}
    )
    one.up([stack.name])
    try:
        [box] = one.containers(stack.name)
        with ThreadPoolExecutor(1) as pool:
            began = time.monotonic()
            answer = pool.submit(http_get, "127.0.0.2", stack.port, "/", 60)
            wait_read_inside(one, box)  # the worker has the request: it is in flight
            stopping = time.monotonic()
            one.run("stop", stack.name)
            stopped = time.monotonic()
            status, body = answer.result()
    finally:
        one.down()
    assert (status, body) == (200, f"Slept {seconds} s\n".encode())
    assert stopped - began >= seconds - 0.5  # stop waited for the request, past the 10 s default
    record(graceful_stop={"request_s": seconds, "stop_began_after_s": round(stopping - began, 2),
                          "stop_took_s": round(stopped - stopping, 2), "answer": status})  # fmt: skip


# Run by the container's own Python: /proc/net/tcp in its network namespace. A request the
# server has read leaves an established socket on port 8000 with nothing in its receive queue.
READ = """
lines = open('/proc/net/tcp').read().splitlines()[1:]
print(sum(1 for l in lines if l.split()[1].endswith(':1F40') and l.split()[3] == '01'
          and int(l.split()[4].split(':')[1], 16) == 0))
"""


def wait_read_inside(one: Project, box: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = subprocess.run([*one.container, "exec", box, "/venv/bin/python", "-c", READ],
                                capture_output=True, text=True, env=one.env, check=False)  # fmt: skip
        if result.returncode == 0 and int(result.stdout) >= 1:
            return
        assert time.monotonic() < deadline, f"the request never reached the server: {result.stderr}"
        time.sleep(0.05)


def test_the_starter_runs_behind_nginx(container: list[str], tmp_path: Path) -> None:
    service = tmp_path / "orders-api"
    starter.render(service, project_name="orders-api", package="orders")
    port = free_port()
    team = project(
        f"starter{os.getpid()}", container, file=service / "compose.yaml", env={"PROXY_PORT": str(port)}
    )
    seconds = team.up([])
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/items/7")
        with pytest.raises(urllib.error.HTTPError) as missing:  # 404: through nginx to the app
            urllib.request.urlopen(request, timeout=10)  # noqa: S310  # loopback
        request_id = missing.value.headers["x-request-id"]
        missing.value.close()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=10) as ready:
            assert json.loads(ready.read()) == {"status": "ok", "unreachable": []}
        no_host = raw(port, b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        [app] = team.containers("app")
        logs = subprocess.run([*team.container, "logs", app], capture_output=True, text=True, env=team.env,
                              check=False).stdout  # fmt: skip
    finally:
        team.down()
    assert no_host.split()[1] == "400"
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    [line] = [line for line in lines if line.get("request_id") == request_id]  # nginx's id, in the app's log
    assert (line["path"], line["status"]) == ("/items/7", 404)
    record(starter_up_to_healthy_s=round(seconds, 1))


def test_bad_input_gets_one_line_and_leaves_nothing(container: list[str]) -> None:
    command = [sys.executable, "-m", "lab", "classroom"]
    unknown = subprocess.run(
        [*command, "up", "nosuch"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert unknown.returncode == 1
    assert unknown.stderr.strip().startswith(
        "error: no such service: nosuch (compose.yaml has: gunicorn-sync"
    )
    uvicorn = BY_NAME["uvicorn"]
    with socket.socket() as held:
        held.bind(("127.0.0.3", uvicorn.port))
        held.listen()
        name = f"labtaken{os.getpid()}"
        env = {**os.environ, "LAB_BIND": "127.0.0.3"}
        taken = subprocess.run([*command, "up", "uvicorn", "-p", name], cwd=ROOT, capture_output=True,
                               text=True, env=env, check=False)  # fmt: skip
    assert taken.returncode == 1
    assert (
        taken.stderr.strip()
        == f"error: port {uvicorn.port} (uvicorn) is taken on 127.0.0.3: Address already in use"
    )
    assert project(name, container).containers("uvicorn") == []
    no_tool = subprocess.run([*command, "up"], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PATH": "/nonexistent"}, check=False)  # fmt: skip
    assert (no_tool.returncode, no_tool.stderr.strip()) == (
        1, "error: no container tool: install docker, or podman (apt-get install podman runc)")  # fmt: skip


def test_no_compose_implementation_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LabError, match=r"^no compose implementation: pip install podman-compose==1\.6\.0"):
        classroom.implementation(["podman"])
