"""gunicorn.conf.py: what a container's environment turns into."""

from __future__ import annotations

import os
import runpy
import sys
from typing import Any

import pytest

from lab import ROOT


def settings(monkeypatch: pytest.MonkeyPatch, *argv: str, **env: str) -> dict[str, Any]:
    """gunicorn.conf.py as `gunicorn *argv` reads it, in this environment."""
    monkeypatch.setattr(sys, "argv", ["gunicorn", *argv])  # not pytest's own, whose -k is no worker class
    for name in ("PORT", "HOST", "WEB_CONCURRENCY", "GUNICORN_CONTROL_SOCKET", "GUNICORN_CMD_ARGS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_laptop_defaults_stay_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch)["bind"] == ["127.0.0.1:8000"]


def test_container_port_listens_on_all_interfaces(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch, PORT="8080")["bind"] == ["0.0.0.0:8080"]
    assert settings(monkeypatch, PORT="8080", HOST="::")["bind"] == ["[::]:8080"]


def test_workers_follow_web_concurrency_or_usable_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch, WEB_CONCURRENCY="7")["workers"] == 7
    conf = settings(monkeypatch)
    assert 1 <= conf["usable_cpus"]() <= len(os.sched_getaffinity(0))
    assert conf["workers"] == 2 * conf["usable_cpus"]() + 1


@pytest.mark.parametrize(
    ("argv", "env", "per_cpu"),
    [
        (["wsgi.app:app"], {}, "sync"),
        (["--threads", "8", "-k", "gthread", "wsgi.app:app"], {}, "sync"),
        (["-k", "uvicorn_worker.UvicornWorker", "asgi.app:app"], {}, "async"),
        (["--worker-class=asgi", "asgi.app:app"], {}, "async"),
        (["asgi.app:app"], {"GUNICORN_CMD_ARGS": "-k asgi"}, "async"),
        (["-k", "sync", "wsgi.app:app"], {"GUNICORN_CMD_ARGS": "-k asgi"}, "sync"),  # the command line wins
    ],
)
def test_event_loop_workers_default_to_one_per_cpu(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str], per_cpu: str
) -> None:
    conf = settings(monkeypatch, *argv, **env)
    cpus = conf["usable_cpus"]()
    assert conf["workers"] == (2 * cpus + 1 if per_cpu == "sync" else cpus)
    assert settings(monkeypatch, *argv, WEB_CONCURRENCY="3", **env)["workers"] == 3


def test_usable_cpus_follows_the_affinity_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    """`taskset -c 0` or `docker run --cpuset-cpus 0`: one CPU, whatever the host has."""
    conf = settings(monkeypatch)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert conf["usable_cpus"]() == 1


def test_control_socket_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch)["control_socket_disable"] is True
    conf = settings(monkeypatch, GUNICORN_CONTROL_SOCKET="/run/app/gunicorn.ctl")
    assert conf["control_socket_disable"] is False
    assert conf["control_socket"] == "/run/app/gunicorn.ctl"
