"""docker/compose.yaml, generated from the stack matrix: `python -m lab.compose > docker/compose.yaml`.

One service per stack (its slow app, the command of lab/stacks.py, ports 8001-8008
on the host's loopback) and locust in master/worker mode with its web UI on port 8089.
tests/test_dockerfiles.py fails when the file and the matrix disagree.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from lab.images import REAL_BASES
from lab.stacks import STACKS

LOCUST_IMAGE = "locustio/locust:2.47.0"  # the version requirements-dev.txt pins
HEADER = """\
# Generated from lab/stacks.py by `python -m lab.compose > docker/compose.yaml`; do not edit.
# A whole class's demo in one command, from the repository root:
#   docker compose -f docker/compose.yaml up --build
# then open http://localhost:8089 (leave Host empty) and start 400 users: 50 per stack.
"""


IMAGE = "localhost/wsgi-asgi-lab:compose"  # built here, never pulled: no registry has it
# Where the host publishes the ports: loopback unless asked (LAB_BIND=0.0.0.0 for a class network).
BIND = "${LAB_BIND:-127.0.0.1}"


def render() -> str:
    server: dict[str, Any] = {
        "image": IMAGE,
        "pull_policy": "never",
        # Every service can build the one image; the bases are arguments, so a machine without a
        # registry passes its own (python -m lab.images prints them).
        "build": {
            "context": "..",
            "dockerfile": "docker/Dockerfile.uv",
            "args": {name: f"${{{name}:-{image}}}" for name, image in REAL_BASES.items()},
        },
        "read_only": True,  # the images need no writable root filesystem
        "environment": {"SLOW_SECONDS": "${SLOW_SECONDS:-1}"},
        # Longer than gunicorn.conf.py's graceful_timeout (25 s), so that requests in flight
        # finish on `stop` instead of being killed at compose's default 10 s.
        "stop_grace_period": "30s",
    }
    services: dict[str, Any] = {}
    for stack in STACKS:
        services[stack.name] = {
            **server,
            # The image's ENTRYPOINT is `python -m`: the command starts with the server's module.
            "command": stack.command(stack.slow, "0.0.0.0", 8000),  # reachable by locust
            "ports": [f"{BIND}:{stack.port}:8000"],
        }
    locust = {
        "image": LOCUST_IMAGE,
        "volumes": ["../locustfile.py:/lab/locustfile.py:ro"],  # the one file it needs
        # Each stack's class sent to its service, by name, on the container's port.
        "environment": {
            "LOCUST_TARGETS": json.dumps({s.name: f"http://{s.name}:8000{s.slow.path}" for s in STACKS})
        },
    }
    services["locust-master"] = {
        **locust,
        "command": ["-f", "/lab/locustfile.py", "--master", "--class-picker"],
        "ports": [f"{BIND}:8089:8089"],
        "depends_on": [stack.name for stack in STACKS],
    }
    services["locust-worker"] = {
        **locust,
        "command": ["-f", "/lab/locustfile.py", "--worker", "--master-host", "locust-master"],
        "deploy": {"replicas": 2},  # locust's own distributed mode: add replicas to add load
        "depends_on": ["locust-master"],
    }
    body = yaml.dump(
        {"name": "wsgi-asgi-lab", "services": services}, Dumper=Plain, sort_keys=False, width=120
    )
    return HEADER + body


class Plain(yaml.SafeDumper):
    """Writes shared values out in full: &id001 anchors would puzzle a reader."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


if __name__ == "__main__":
    print(render(), end="")
