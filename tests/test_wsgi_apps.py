"""The WSGI apps called directly, under wsgiref's PEP 3333 validator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest

from wsgi import app as hello
from wsgi import slow_app


def call(app: Any) -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {"QUERY_STRING": ""}
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
