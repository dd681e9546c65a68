"""The WSGI apps called directly, under wsgiref's PEP 3333 validator."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest

from lab.infra.processes import free_port
from wsgi import app as hello
from wsgi import cpu_app, db_app, slow_app, stream_app, upstream_app


def call(app: Any, path: str = "/") -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"QUERY_STRING": "", "SCRIPT_NAME": "", "PATH_INFO": path}
    setup_testing_defaults(environ)
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen.update(status=status, headers=dict(headers))
        return lambda data: None

    result: Iterable[bytes] = validator(app)(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        result.close()  # type: ignore[attr-defined]  # the validator insists on close()
    return seen["status"], seen["headers"], body


def test_hello_is_valid_wsgi_with_length() -> None:
    status, headers, body = call(hello.app)
    assert status == "200 OK"
    assert body == b"Hello, World!\n"
    assert headers["Content-Type"].startswith("text/plain")
    assert headers["Content-Length"] == str(len(body))


def test_slow_app_sleeps_then_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slow_app, "SLOW_SECONDS", 0.01)
    status, headers, body = call(slow_app.app)
    assert status == "200 OK"
    assert body == b"Slept 0.01 s\n"
    assert headers["Content-Length"] == str(len(body))


@pytest.mark.parametrize("app", [db_app.app, upstream_app.app], ids=["db_app", "upstream_app"])
def test_real_wait_apps_answer_health_without_their_backend(app: Any) -> None:
    """Liveness never touches the database or the upstream (neither runs here)."""
    status, headers, body = call(app, "/health")
    assert (status, body) == ("200 OK", b"ok\n")
    assert headers["Content-Length"] == str(len(body))


def test_upstream_down_is_a_valid_502_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_app, "UPSTREAM_URL", f"http://127.0.0.1:{free_port()}/")  # nothing listens
    status, headers, body = call(upstream_app.app)
    assert status == "502 Bad Gateway"
    assert body.startswith(b"upstream unavailable:")
    assert headers["Content-Length"] == str(len(body))


@pytest.mark.parametrize(("app", "body"), [(slow_app, b"Slept 0.0 s\n"), (stream_app, b"done\n")])
def test_health_skips_the_slow_path(app: Any, body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """A container's healthcheck must not wait SLOW_SECONDS (or a whole stream) for its answer."""
    monkeypatch.setattr(app, "SLOW_SECONDS", 60.0)  # were /health to sleep, this test would hang
    status, _, answer = call(app.app, "/health")
    assert (status, answer) == ("200 OK", body)


@pytest.mark.parametrize("module", [slow_app, cpu_app], ids=["slow_app", "cpu_app"])
def test_the_answer_names_its_worker_and_thread_and_its_time(
    module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if module is slow_app:
        monkeypatch.setattr(slow_app, "SLOW_SECONDS", 0.05)
    before = time.time()
    _, headers, _ = call(module.app)
    after = time.time()
    assert headers["Served-By"] == f"pid={os.getpid()} thread={threading.get_native_id()}"
    assert before <= float(headers["Started-At"]) <= after
    took = float(headers["Server-Timing"].removeprefix("app;dur="))
    assert took <= (after - before) * 1000 + 0.1
    if module is slow_app:
        assert took >= 50.0  # the sleep, in ms
