"""Real waits with real parts: a PostgreSQL the lab starts, an upstream HTTP service, and their pools."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from lab import ROOT
from lab.apps import Target
from lab.errors import LabError
from lab.infra import postgres as postgres_module
from lab.infra.postgres import Database, postgres
from lab.infra.processes import free_port, http_get, running
from lab.probes.burst import burst
from lab.stacks import BY_NAME, Stack
from tests.conftest import SLOW

UPSTREAM = BY_NAME["uvicorn"]  # serving its slow app: the service the upstream apps call


@pytest.fixture(scope="module")
def database() -> Iterator[Database]:
    """A real PostgreSQL for this module, on a free port; removed afterwards."""
    with postgres() as db:
        yield db


def app_connections(db: Database, only_querying: bool = False) -> int:
    """Connections the apps hold open in the database (this query's own left out)."""
    sql = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
    )
    if only_querying:
        sql += " AND query LIKE 'SELECT pg_sleep%' AND state = 'active'"
    with psycopg.connect(db.url) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def connections_become(expected: int, db: Database, timeout: float = 15.0) -> int:
    """Wait until the apps hold `expected` connections (observed, not slept on); return what was seen."""
    deadline = time.monotonic() + timeout
    while (seen := app_connections(db)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return seen


def env(db: Database, **values: str) -> dict[str, str]:
    return {"DATABASE_URL": db.url, "SLOW_SECONDS": str(SLOW), **values}


def rounds(stack: Stack, target: Target, n: int, extra: dict[str, str], tmp_path: Path) -> float:
    with running([stack], target, tmp_path, env=extra) as (server,):
        result = burst(server.host, server.port, target.path, n)
    assert result.statuses == [200] * n, result.statuses
    return result.wall / SLOW


def test_the_pools_open_with_the_app_and_close_with_it(database: Database, tmp_path: Path) -> None:
    stack = BY_NAME["uvicorn"]
    with running([stack], "db", tmp_path, env=env(database, POOL_SIZE="3")):
        # the lifespan opened the async pool; the sync one (the mistake routes') connects on demand
        assert connections_become(3, database) == 3
    assert connections_become(0, database) == 0  # shut-down closed every connection


def test_a_wsgi_worker_opens_its_pool_with_its_first_request(database: Database, tmp_path: Path) -> None:
    stack = BY_NAME["gunicorn-gthread"]
    with running([stack], "db", tmp_path, env=env(database, POOL_SIZE="3")):  # readiness sent one request
        assert connections_become(3, database) == 3
    assert connections_become(0, database) == 0


@pytest.mark.parametrize("name", ["uvicorn", "gunicorn-gthread", "gunicorn-asgi"])
def test_the_pool_is_the_bound_when_it_is_the_smallest_limit(
    name: str, database: Database, tmp_path: Path
) -> None:
    """A pool of 2 per process: 2 queries at once, whatever the server could do.

    One process each: with two, a burst's connections need not split evenly between
    them (each worker accepts what it can), and the fuller worker's pool sets the pace.
    """
    stack = BY_NAME[name].configured(workers=1).with_env(POOL_SIZE="2")
    assert stack.db is not None
    slots = stack.slots(stack.db)
    assert slots.binding == "db pool"
    n = 3 * (slots.count or 0)  # three rounds of the pool
    took = rounds(stack, stack.db, n, env(database), tmp_path)
    assert 3 * 0.95 <= took < 4, f"{n} queries took {took:.2f} sleeps, theory 3 ({slots.why})"


def test_a_sync_driver_inside_async_def_serialises(database: Database, tmp_path: Path) -> None:
    stack = BY_NAME["blocking-async"]
    assert stack.db is not None and stack.db.path == "/sync-in-async"
    took = rounds(stack, stack.db, 3, env(database), tmp_path)
    assert 3 * 0.95 <= took < 4, f"3 queries took {took:.2f} sleeps: one at a time"


def test_a_pool_smaller_than_the_thread_pool_times_out_instead_of_hanging(
    database: Database, tmp_path: Path
) -> None:
    """40 threads, 1 connection, 0.5 s of patience: 1 query runs, 3 get a quick 503 naming the pool."""
    stack = BY_NAME["fastapi-def"].with_env(POOL_SIZE="1")
    assert stack.db is not None and stack.slots(stack.db).count == 1
    extra = env(database, POOL_TIMEOUT="0.5", SLOW_SECONDS="2")
    with running([stack], stack.db, tmp_path, env=extra, timeout=60) as (server,):
        result = burst(server.host, server.port, stack.db.path, 4)
        with ThreadPoolExecutor(1) as pool:
            holder = pool.submit(http_get, server.host, server.port, stack.db.path, 10)
            deadline = time.monotonic() + 10
            while not app_connections(database, only_querying=True) and time.monotonic() < deadline:
                time.sleep(0.02)  # until the one connection is busy in its query, as the database says
            status, body = http_get(server.host, server.port, stack.db.path, timeout=10)
            assert holder.result()[0] == 200  # and the pool served the next one once free
    assert sorted(result.statuses) == [200, 503, 503, 503]
    assert result.wall < 2 * 2 + 1  # the waiters did not queue behind the query for good
    assert status == 503
    assert b"no database connection within 0.5 s" in body


def test_a_dead_database_gives_503_and_health_still_answers(tmp_path: Path) -> None:
    with postgres() as db:
        stacks = [BY_NAME["uvicorn"], BY_NAME["gunicorn-sync"]]
        with running(stacks, "db", tmp_path, env=env(db, POOL_TIMEOUT="2")) as servers:
            db.stop()
            for server in servers:
                status, body = http_get(server.host, server.port, "/", timeout=20)
                assert status == 503, (server.name, body)
                assert b"database unavailable" in body or b"no database connection" in body, body
                assert http_get(server.host, server.port, "/health")[0] == 200


@pytest.mark.parametrize("name", ["uvicorn", "gunicorn-gthread"])
def test_the_http_client_pool_is_the_bound_when_it_is_the_smallest(name: str, tmp_path: Path) -> None:
    stack = BY_NAME[name].with_env(UPSTREAM_CONNECTIONS="2")
    assert stack.upstream is not None
    assert stack.slots(stack.upstream).count == 2
    with running([UPSTREAM], "slow", tmp_path / "upstream", env={"SLOW_SECONDS": str(SLOW)}) as (upstream,):
        took = rounds(stack, stack.upstream, 6, {"UPSTREAM_URL": f"{upstream.url}/"}, tmp_path)
    assert 3 * 0.95 <= took < 4, f"6 calls through 2 connections took {took:.2f} sleeps, theory 3"


@pytest.mark.parametrize("name", ["uvicorn", "gunicorn-sync"])
def test_an_upstream_that_is_down_gives_502_and_health_still_answers(name: str, tmp_path: Path) -> None:
    stack = BY_NAME[name]
    assert stack.upstream is not None
    closed = f"http://127.0.0.1:{free_port()}/"
    ready_on = dataclasses.replace(stack.upstream, path="/health")  # "/" cannot answer 200 here
    with running([stack], ready_on, tmp_path, env={"UPSTREAM_URL": closed}) as (server,):
        status, body = http_get(server.host, server.port, "/")
        assert status == 502
        assert b"upstream unavailable" in body
        assert http_get(server.host, server.port, "/health")[0] == 200


def test_missing_postgresql_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_ctl on it
    with pytest.raises(LabError, match=r"is not installed: apt-get install postgresql \(Debian, Ubuntu\)$"):
        postgres_module.server_binaries(((tmp_path, "*/bin"),))  # nor where a package would put it


@pytest.mark.parametrize(
    ("scenario", "limit", "pool"), [("db", "db pool", "2"), ("upstream", "client pool", "3")]
)
def test_the_comparison_names_the_binding_limit(scenario: str, limit: str, pool: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "compare.py", "--scenario", scenario, "--stacks", "gunicorn-sync,uvicorn",
         "--users", "10", "--slow-seconds", "0.2", "--pool", pool, "--duration", "9", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    rows = {row["stack"]: row for row in json.loads((out / "summary.json").read_text())["results"]}
    assert rows["gunicorn-sync"]["binding"] == "workers"  # 4 sync workers: fewer than the pools
    assert rows["uvicorn"]["binding"] == limit
    assert rows["uvicorn"]["bound_rps"] == pytest.approx(int(pool) / 0.2)
    for row in rows.values():
        assert row["failures"] == 0
        assert 0.9 * row["bound_rps"] <= row["measured_rps"] <= 1.05 * row["bound_rps"], row


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--scenario", "db", "--pool", "0"], 2, "'0' must be positive"),
        (["--pool", "3"], 2, "unrecognized arguments: --pool 3"),  # the slow scenario has no pool
    ],
)
def test_bad_pool_input_is_one_line(args: list[str], code: int, message: str) -> None:
    done = subprocess.run(
        [sys.executable, "compare.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == code
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
