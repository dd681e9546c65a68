"""Containers for the tests: one running container on loopback, and the fixtures that find the tool.

Without docker or podman the container tests skip, naming what to install; REQUIRE_IMAGES=1
(set by .ci/run) turns that skip into a failure.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from lab.infra import images
from lab.infra.processes import free_port, http_get


def container_tool() -> list[str]:
    cmd = images.tool()
    if cmd is None:
        why = "no container tool: install docker, or podman (apt-get install podman runc debootstrap)"
        if os.environ.get("REQUIRE_IMAGES") == "1":
            pytest.fail(f"REQUIRE_IMAGES=1 but {why}")
        pytest.skip(why)
    return cmd


class Running:
    """One container on loopback with a read-only root filesystem, removed afterwards."""

    def __init__(
        self,
        cmd: list[str],
        image: str,
        *command: str,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.cmd, self.port = cmd, port or free_port()
        self.name = f"lab-test-{self.port}"
        options = ["--read-only"]
        if cmd[0] == "podman":
            # podman mounts writable tmpfs on /tmp and /run unless told not to; docker never does.
            options += [
                "--read-only-tmpfs=false",
                "--network",
                "host",
                "-e",
                f"PORT={self.port}",
                "-e",
                "HOST=127.0.0.1",
            ]
        else:
            options += ["-p", f"127.0.0.1:{self.port}:8000"]
        for key, value in (env or {}).items():
            options += ["-e", f"{key}={value}"]
        self.started = time.monotonic()
        images.run(cmd, "run", "-d", "--name", self.name, *options, image, *command)

    def wait_answering(self, path: str = "/", timeout: float = 30) -> float:
        """Seconds from `run` to the first 2xx on `path`."""
        while time.monotonic() - self.started < timeout:
            try:
                if http_get("127.0.0.1", self.port, path, timeout=5)[0] == 200:
                    return time.monotonic() - self.started
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"{self.name} did not answer:\n{self.logs()}")

    def exec(self, *args: str) -> subprocess.CompletedProcess[str]:
        return images.run(self.cmd, "exec", self.name, *args, check=False)

    def logs(self) -> str:
        result = images.run(self.cmd, "logs", self.name, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        images.run(self.cmd, "rm", "-f", "-t", "2", self.name, check=False)
