"""docker/compose.yaml brought up for real, and down again: `python -m lab classroom up|down [SERVICE ...]`.

It uses `docker compose` where a Docker engine answers, else podman-compose (pinned in
requirements-dev.txt) with podman. A machine that cannot pull the base images builds on the
local stand-ins (see `python -m lab images`). Each image is built once, the services start,
and `up` returns when every server passes its healthcheck, printing where everything answers.
Whatever fails brings the project down again: no container or network is left behind.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import yaml

from lab import cli
from lab.errors import LabError
from lab.infra import images
from lab.infra.compose import COMPOSE_FILE

PROJECT = "wsgi-asgi-lab"


def implementation(container: list[str]) -> list[str]:
    """The compose command for this container tool, or one line saying what to install."""
    if container[0] == "docker":
        if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0:
            return ["docker", "compose"]
        raise LabError("docker has no compose plugin: install docker-compose-plugin (or use podman)")
    found = shutil.which("podman-compose", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    if found is None:
        raise LabError("no compose implementation: pip install podman-compose==1.6.0 (or make install)")
    return [found]


class Project:
    """One compose project (docker/compose.yaml unless told), on this machine's container tool."""

    def __init__(
        self, name: str = PROJECT, env: dict[str, str] | None = None, file: Path = COMPOSE_FILE
    ) -> None:
        container = images.tool()
        if container is None:
            raise LabError("no container tool: install docker, or podman (apt-get install podman runc)")
        self.container, self.name = container, name
        self.compose = [*implementation(container), "-f", str(file), "-p", name]
        # BUILDAH_FORMAT: podman's builds keep the Dockerfile's HEALTHCHECK (OCI images have no field for it).
        self.env = {**images.env(), "BUILDAH_FORMAT": "docker", **(env or {})}
        self.file, self.services = file, yaml.safe_load(file.read_text())["services"]

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.compose, *args], capture_output=True, text=True, env=self.env, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise LabError(f"compose {' '.join(args)} failed:\n{(result.stdout + result.stderr)[-3000:]}")
        return result

    def up(self, selected: Sequence[str], timeout: float = 120) -> float:
        """Build, start and wait for health; the seconds from `up` to every server healthy."""
        unknown = sorted(set(selected) - set(self.services))
        if unknown:
            known = ", ".join(self.services)
            raise LabError(f"no such service: {', '.join(unknown)} ({self.file.name} has: {known})")
        wanted = self.with_dependencies(selected or list(self.services))
        self.check_ports(wanted)
        # The base images: the real ones where they can be pulled, else the stand-ins (built once).
        self.env = {**images.bases(self.container), **self.env}
        try:
            for service in self.builders(wanted):
                self.run("build", service)  # once per image: each service would build its own copy
            began = time.monotonic()
            self.run("up", "-d", *selected)
            for service in self.waited_for(wanted):
                self.wait_healthy(service, began + timeout)
            return time.monotonic() - began
        except BaseException:
            with suppress(LabError):  # the first failure is the one to report
                self.down()
            raise

    def waited_for(self, wanted: Sequence[str]) -> list[str]:
        """Services with a healthcheck here, or one that another service waits for (service_healthy)."""
        awaited = {
            name
            for spec in self.services.values()
            if isinstance(spec.get("depends_on"), dict)
            for name, condition in spec["depends_on"].items()
            if condition.get("condition") == "service_healthy"
        }
        return [s for s in wanted if "healthcheck" in self.services[s] or s in awaited]

    def with_dependencies(self, selected: Sequence[str]) -> list[str]:
        """The selected services and everything they depend on, as compose starts them."""
        started: list[str] = []
        pending = list(selected)
        while pending:
            service = pending.pop()
            if service not in started:
                started.append(service)
                pending.extend(self.services[service].get("depends_on") or [])
        return [s for s in self.services if s in started]

    def builders(self, wanted: Sequence[str]) -> list[str]:
        """One service for each image the wanted services need: compose would build one per service."""
        by_image: dict[str, str] = {}
        for service, spec in self.services.items():
            if "build" in spec and any(self.services[s]["image"] == spec["image"] for s in wanted):
                by_image.setdefault(spec["image"], service)
        return list(by_image.values())

    def check_ports(self, wanted: Sequence[str]) -> None:
        """Each published port free, as the file resolves it (variables and defaults applied)."""
        resolved = yaml.safe_load(self.run("config").stdout)["services"]
        for service in wanted:
            for mapping in resolved[service].get("ports", []):
                host, port = published(mapping)
                family = socket.AF_INET6 if ":" in host else socket.AF_INET
                with socket.socket(family) as probe:
                    try:
                        probe.bind((host, port))
                    except OSError as error:
                        why = error.strerror
                        raise LabError(f"port {port} ({service}) is taken on {host}: {why}") from None

    def containers(self, service: str) -> list[str]:
        labels = {"project": self.name, "service": service}
        filters = [f"--filter=label=com.docker.compose.{key}={value}" for key, value in labels.items()]
        result = images.run(self.container, "ps", "-a", "-q", *filters)
        return result.stdout.split()

    def healthy(self, container_id: str) -> bool:
        if self.container[0] == "docker":  # the engine runs the checks itself
            status = self.inspect(container_id, "{{.State.Health.Status}}")
            return status == "healthy"
        # podman runs healthchecks from systemd timers; without systemd, this runs one now.
        return images.run(self.container, "healthcheck", "run", container_id, check=False).returncode == 0

    def wait_healthy(self, service: str, deadline: float) -> None:
        ids = self.containers(service)
        if not ids:
            raise LabError(f"{service}: no container was started")
        for container_id in ids:
            while not self.healthy(container_id):
                state = self.inspect(container_id, "{{.State.Status}}")
                if state in ("exited", "dead") or time.monotonic() > deadline:
                    logs = images.run(self.container, "logs", container_id, check=False)
                    tail = (logs.stdout + logs.stderr)[-2000:]
                    raise LabError(f"{service} did not become healthy ({state}):\n{tail}")
                time.sleep(0.2)

    def inspect(self, container_id: str, template: str) -> str:
        return images.run(self.container, "inspect", "--format", template, container_id).stdout.strip()

    def down(self) -> None:
        self.run("down")


def published(mapping: str | dict[str, Any]) -> tuple[str, int]:
    """(host address, host port) of a ports entry, short ("127.0.0.1:8001:8000") or long syntax."""
    if isinstance(mapping, dict):
        return mapping.get("host_ip") or "0.0.0.0", int(mapping["published"])  # compose's default
    host, port, _ = mapping.rsplit(":", 2) if mapping.count(":") >= 2 else ("0.0.0.0", *mapping.split(":"))
    return host.strip("[]"), int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("services", nargs="*", metavar="SERVICE", help="only these (default: all)")
    parser.add_argument("-p", "--project", default=PROJECT, help=f"compose project name (default {PROJECT})")


def main(args: argparse.Namespace) -> int:
    if args.action == "down" and args.services:
        raise LabError("down stops the whole project: it takes no SERVICE")
    project = Project(args.project)
    if args.action == "down":
        project.down()
        return 0
    seconds = project.up(args.services)
    print(f"up and healthy in {seconds:.1f} s; stop with: python -m lab classroom down -p {args.project}")
    resolved = yaml.safe_load(project.run("config").stdout)["services"]
    for service in args.services or project.services:
        for host, port in map(published, resolved[service].get("ports", [])):
            print(f"  {service:<24} http://{host}:{port}/")
    return 0


COMMAND = cli.Command(
    "classroom", "docker/compose.yaml up (built, healthy) or down, with docker or podman", add_arguments, main
)
