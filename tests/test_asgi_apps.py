"""The ASGI apps driven directly through scope/receive/send, and the frameworks through their test clients."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from asgi import app as hello
from asgi import blocking_app, cpu_app, fastapi_app, slow_app, starlette_app, stream_app

Message = dict[str, Any]


def drive(app: Any, scope: dict[str, Any], incoming: list[Message]) -> list[Message]:
    """Run one ASGI connection to the end: feed `incoming`, collect what the app sends."""
    sent: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def http_scope(path: str = "/") -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "path": path, "raw_path": path.encode(), "query_string": b"", "headers": []}  # fmt: skip


REQUEST = {"type": "http.request", "body": b"", "more_body": False}


def test_raw_hello_answers_http_with_length() -> None:
    start, body = drive(hello.app, http_scope(), [REQUEST])
    assert start["type"] == "http.response.start"
    assert start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-length"] == str(len(body["body"])).encode()
    assert body == {"type": "http.response.body", "body": b"Hello, World!\n"}


def test_raw_hello_completes_lifespan_startup_and_shutdown() -> None:
    sent = drive(
        hello.app,
        {"type": "lifespan", "asgi": {"version": "3.0"}},
        [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
    )
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_raw_hello_refuses_websocket_handshake() -> None:
    sent = drive(hello.app, {"type": "websocket", "path": "/"}, [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": 1003}]


def test_raw_hello_raises_on_unknown_scope() -> None:
    with pytest.raises(NotImplementedError, match="'webtransport'"):
        drive(hello.app, {"type": "webtransport"}, [])


@pytest.mark.parametrize("module", [slow_app, blocking_app], ids=["slow_app", "blocking_app"])
def test_slow_apps_answer_after_the_sleep(module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "SLOW_SECONDS", 0.01)
    start, body = drive(module.app, http_scope(), [REQUEST])
    assert start["status"] == 200
    assert b"0.01 s" in body["body"]
    # Apps with no start-up work ignore lifespan; the servers then carry on without it.
    assert drive(module.app, {"type": "lifespan"}, []) == []


def test_fastapi_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastapi_app, "SLOW_SECONDS", 0.01)
    with TestClient(fastapi_app.app) as client:
        assert client.get("/").json() == {"message": "Hello, World!"}
        assert client.get("/health").json() == {"status": "ok"}
        for path in ("/slow", "/slow-sync", "/blocking"):
            assert client.get(path).json() == {"slept": 0.01}


def test_starlette_homepage_is_json() -> None:
    with TestClient(starlette_app.app) as client:  # `with` runs the lifespan
        response = client.get("/")
    assert response.status_code == 200
    assert response.json() == {"hello": "world"}


@pytest.mark.parametrize(
    ("app", "body"),
    [
        (slow_app, b"Slept 0.0 s\n"),
        (blocking_app, b"Blocked the event loop for 0.0 s\n"),
        (stream_app, b"done\n"),
    ],
)
def test_health_skips_the_slow_path(app: Any, body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """A container's healthcheck must not wait SLOW_SECONDS (or a whole stream) for its answer."""
    monkeypatch.setattr(app, "SLOW_SECONDS", 60.0)  # were /health to sleep, this test would hang
    sent = drive(app.app, http_scope("/health"), [REQUEST])
    assert sent[0]["status"] == 200
    assert b"".join(m.get("body", b"") for m in sent[1:]) == body


@pytest.mark.parametrize(
    "module", [slow_app, blocking_app, cpu_app], ids=["slow_app", "blocking_app", "cpu_app"]
)
def test_the_answer_names_its_process_and_its_time(module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "SLOW_SECONDS", 0.05, raising=module is not cpu_app)
    before = time.time()
    start, _ = drive(module.app, http_scope(), [REQUEST])
    after = time.time()
    headers = dict(start["headers"])
    assert headers[b"served-by"] == f"pid={os.getpid()}".encode()  # an event loop: the process is the slot
    assert before <= float(headers[b"started-at"]) <= after
    took = float(headers[b"server-timing"].removeprefix(b"app;dur="))
    assert took <= (after - before) * 1000 + 0.1
    assert took >= (50.0 if module is not cpu_app else 0.0)


def test_fastapi_slow_routes_name_their_slot_a_def_route_its_thread_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fastapi_app, "SLOW_SECONDS", 0.01)
    with TestClient(fastapi_app.app) as client:
        on_the_loop, in_a_thread = client.get("/slow").headers, client.get("/slow-sync").headers
        assert "served-by" not in client.get("/").headers  # hello stays as small as it was
    assert on_the_loop["served-by"] == f"pid={os.getpid()}"
    pid, thread = in_a_thread["served-by"].split()
    assert pid == f"pid={os.getpid()}" and thread.startswith("thread=")
    assert float(in_a_thread["server-timing"].removeprefix("app;dur=")) >= 10.0
