"""docker/compose.yaml, generated from the stack matrix: `python -m lab.compose > docker/compose.yaml`.

One service per stack (its slow app, the command of lab/stacks.py, ports 8001-8008
on the host) and locust in master/worker mode with its web UI on port 8089.
tests/test_dockerfiles.py fails when the file and the matrix disagree.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from lab.stacks import STACKS

LOCUST_IMAGE = "locustio/locust:2.47.0"  # the version requirements-dev.txt pins
HEADER = """\
# Generated from lab/stacks.py by `python -m lab.compose > docker/compose.yaml`; do not edit.
# A whole class's demo in one command, from the repository root:
#   docker compose -f docker/compose.yaml up --build
# then open http://localhost:8089 (leave Host empty) and start 400 users: 50 per stack.
"""


def render() -> str:
    server: dict[str, Any] = {
        "image": "wsgi-asgi-lab",
        "read_only": True,  # the images need no writable root filesystem
        "environment": {"SLOW_SECONDS": "1"},
    }
    services: dict[str, Any] = {}
    for index, stack in enumerate(STACKS):
        services[stack.name] = {
            **server,
            # The image's ENTRYPOINT is `python -m`: the command starts with the server's module.
            "command": stack.command(stack.slow, "0.0.0.0", 8000),  # reachable by locust
            "ports": [f"{stack.port}:8000"],
        }
        if index == 0:  # one service builds the image all of them run
            services[stack.name]["build"] = {"context": "..", "dockerfile": "docker/Dockerfile.uv"}
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
        "ports": ["8089:8089"],
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
