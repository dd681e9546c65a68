"""Behind a real nginx speaking https: the client and the scheme reach the app, from a trusted proxy only."""

from __future__ import annotations

import http.client
import json
import ssl
from pathlib import Path

import pytest

from lab.apps import Target
from lab.infra.processes import running
from lab.infra.proxy import nginx
from lab.stacks import BY_NAME

CLIENT = "127.0.0.2"  # a loopback address of its own, so the client is not the proxy (127.0.0.1)


def whoami(host: str, port: int) -> dict[str, str]:
    """GET /client over https from CLIENT, the certificate being the run's own self-signed one."""
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection(host, port, context=tls, source_address=(CLIENT, 0), timeout=10)
    try:
        conn.request("GET", "/client")
        response = conn.getresponse()
        assert response.status == 200
        answer: dict[str, str] = json.loads(response.read())
        return answer
    finally:
        conn.close()


@pytest.mark.parametrize("name", ["uvicorn", "gunicorn-uvicorn-worker"])
@pytest.mark.parametrize(
    ("trusted", "expected"),
    [
        (None, {"client": CLIENT, "scheme": "https"}),  # the default trusts 127.0.0.1, where nginx runs
        ("192.0.2.1", {"client": "127.0.0.1", "scheme": "http"}),  # headers from anyone else are ignored
    ],
)
def test_the_client_and_scheme_arrive_through_a_trusted_proxy(
    name: str, trusted: str | None, expected: dict[str, str], tmp_path: Path
) -> None:
    stack = BY_NAME[name] if trusted is None else BY_NAME[name].with_env(FORWARDED_ALLOW_IPS=trusted)
    app = Target("asgi.fastapi_app:app")
    with running([stack], app, tmp_path) as servers, nginx(servers, tmp_path, tls=True) as (front,):
        assert front.url.startswith("https://")
        assert whoami(front.host, front.port) == expected
