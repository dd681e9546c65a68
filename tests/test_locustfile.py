"""locustfile.py on its own: one class per stack, the -H warning, and locust's master/worker mode."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from lab import ROOT
from lab.apps import WEBSOCKET
from lab.infra.processes import free_port, running
from lab.scenarios.locust import targets as locust_targets
from lab.stacks import BY_NAME, serving, websocket_stacks
from tests.conftest import SLOW


def locust(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", "locustfile.py", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


# Reads each locustfile's classes in a process of their own (importing locust patches gevent).
CLASSES = """
import json, sys, importlib
module = importlib.import_module(sys.argv[1])
base = getattr(module, sys.argv[2])
print(json.dumps({u.__name__: [u.stack, u.host, u.path] for u in base.__subclasses__()}))
"""


def classes(module: str, base: str, env: dict[str, str] | None = None) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", CLASSES, module, base], cwd=ROOT, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_the_explicit_classes_match_the_stack_matrix() -> None:
    """The locustfiles write each class out; the matrix stays the one source of truth."""
    expected = {s.user_class: [s.name, f"http://127.0.0.1:{s.port}", s.slow.path] for s in serving("slow")}
    assert classes("locustfile", "StackUser") == expected
    websocket = {s.user_class: [s.name, f"http://127.0.0.1:{s.port}", "/"] for s in websocket_stacks()}
    assert classes("websocket_locustfile", "WebSocketUser") == websocket


def test_locust_targets_moves_a_stack_host_and_path() -> None:
    moved = classes(
        "locustfile", "StackUser", {"LOCUST_TARGETS": '{"fastapi-def": "http://127.0.0.1:9000/"}'}
    )
    assert moved["FastapiDef"] == ["fastapi-def", "http://127.0.0.1:9000", "/"]
    assert moved["Uvicorn"] == ["uvicorn", "http://127.0.0.1:8003", "/"]


def test_the_locustfile_copied_alone_loads_a_served_stack(tmp_path: Path) -> None:
    """A team copies locustfile.py into an empty folder: it imports nothing of the lab."""
    alone = tmp_path / "copy"
    alone.mkdir()
    shutil.copy(ROOT / "locustfile.py", alone)
    with running([BY_NAME["uvicorn"]], "slow", tmp_path / "logs", env={"SLOW_SECONDS": str(SLOW)}) as servers:
        done = subprocess.run(
            [sys.executable, "-m", "locust", "-f", "locustfile.py", "--headless", "-u", "4", "-r", "4",
             "-t", "3s", "--csv", "run", "Uvicorn"],
            cwd=alone, env={**os.environ, "LOCUST_TARGETS": locust_targets(servers)},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    with (alone / "run_stats.csv").open(newline="") as file:
        rows = {row["Name"]: row for row in csv.DictReader(file)}
    assert int(rows["uvicorn"]["Request Count"]) > 0
    assert rows["uvicorn"]["Failure Count"] == "0"


def test_one_user_class_per_stack() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "locust", "-f", "locustfile.py", "--list"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    classes = {line.strip() for line in listed.splitlines()[1:] if line.strip()}
    assert classes == {stack.user_class for stack in serving("slow")}  # 13: every stack, no other


def test_global_host_override_is_warned_about(tmp_path: Path) -> None:
    with running([BY_NAME["uvicorn"]], "hello", tmp_path / "logs") as (server,):
        run = locust("--headless", "-u", "1", "-r", "1", "-t", "2s", "-H", server.url, "Uvicorn")
        output, _ = run.communicate(timeout=60)
    assert run.returncode == 0, output
    assert "overrides the host of every class" in output


def test_master_and_worker_load_every_stack_together(tmp_path: Path) -> None:
    stacks = [BY_NAME["gunicorn-sync"], BY_NAME["uvicorn"]]
    with running(stacks, "slow", tmp_path / "logs", env={"SLOW_SECONDS": str(SLOW)}) as servers:
        env = {"LOCUST_TARGETS": locust_targets(servers)}
        port = str(free_port())
        master = locust(
            "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--headless",
            "--expect-workers", "1", "-u", "4", "-r", "4", "-t", "4s", "--csv", str(tmp_path / "run"),
            "GunicornSync", "Uvicorn", env=env,
        )  # fmt: skip
        worker = locust("--worker", "--master-host", "127.0.0.1", "--master-port", port, env=env)
        output, _ = master.communicate(timeout=60)
        worker.communicate(timeout=30)
    assert master.returncode == 0, output
    with (tmp_path / "run_stats.csv").open(newline="") as file:
        rows = {row["Name"]: row for row in csv.DictReader(file)}
    for stack in stacks:
        assert int(rows[stack.name]["Request Count"]) > 0
        assert rows[stack.name]["Failure Count"] == "0"


def test_websocket_round_trips_are_rows_beside_the_http_ones(tmp_path: Path) -> None:
    stacks = [BY_NAME["uvicorn"], BY_NAME["gunicorn-asgi"]]
    with running(stacks, WEBSOCKET, tmp_path / "logs", env={"PUSH_SECONDS": "0.3"}) as servers:
        env = {"LOCUST_TARGETS": locust_targets(servers)}
        run = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", "websocket_locustfile.py", "--headless",
             "-u", "10", "-r", "10", "-t", "4s", "--csv", str(tmp_path / "ws"), "Uvicorn", "GunicornAsgi"],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        output, _ = run.communicate(timeout=60)
    assert run.returncode == 0, output
    with (tmp_path / "ws_stats.csv").open(newline="") as file:
        rows = {row["Name"]: row for row in csv.DictReader(file)}
    for stack in stacks:
        row = rows[f"{stack.name} ws"]
        assert row["Type"] == "WS"
        assert int(row["Request Count"]) >= 10  # 5 users each, a message a second, for 4 s
        assert row["Failure Count"] == "0"
