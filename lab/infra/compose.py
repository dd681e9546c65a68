"""docker/compose.yaml and docker/nginx/nginx.conf, generated from the stack matrix: `python -m lab compose`.

One service per stack (its slow app, the command of its server record, the stack's own port on
the host's loopback), nginx in front of each (that port + 1000), and locust in master/worker mode
with its web UI on port 8089. tests/test_dockerfiles.py fails when the files and the matrix
disagree; `python -m lab classroom` brings the file up.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from lab import ROOT, cli
from lab.infra import proxy
from lab.infra.images import REAL_BASES
from lab.servers.base import Stack
from lab.stacks import STACKS

COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
NGINX_CONF = ROOT / "docker" / "nginx" / "nginx.conf"
HEADER = f"""\
# Generated from the stack matrix by `python -m lab compose`; do not edit.
# A whole class's demo in one command, from the repository root:
#   docker compose -f docker/compose.yaml up --build --wait
# (or `python -m lab classroom up`, which also works with podman and without a registry),
# then open http://localhost:8089 (leave Host empty) and start {50 * len(STACKS)} users: 50 per stack.
"""
IMAGE = "localhost/wsgi-asgi-lab:compose"  # built here, never pulled: no registry has it
# Where the host publishes the ports: loopback unless asked (LAB_BIND=0.0.0.0 for a class network).
BIND = "${LAB_BIND:-127.0.0.1}"
PROXY_OFFSET = 1000  # nginx in front of the stack on port P listens on P + 1000
BASE_ARGS = {name: f"${{{name}:-{image}}}" for name, image in REAL_BASES.items()}
# The image's own HEALTHCHECK (docker/Dockerfile.uv), repeated because podman-compose builds
# OCI images, which have no field for it. A test keeps the two equal.
HEALTHCHECK = {
    "test": ["CMD", "/venv/bin/python", "/app/healthcheck.py"],
    "interval": "10s",
    "timeout": "5s",
    "start_period": "5s",
    "retries": 3,
}


def proxy_port(stack: Stack) -> int:
    return stack.port + PROXY_OFFSET


def render() -> str:
    server: dict[str, Any] = {
        "image": IMAGE,
        "pull_policy": "never",
        # Every service can build the one image; the bases are arguments, so a machine without a
        # registry passes its own (python -m lab images prints them).
        "build": {"context": "..", "dockerfile": "docker/Dockerfile.uv", "args": BASE_ARGS},
        "read_only": True,  # the images need no writable root filesystem
        "environment": {"SLOW_SECONDS": "${SLOW_SECONDS:-1}"},
        # GET /health, which no slow app makes wait: the probe never queues behind the load.
        "healthcheck": HEALTHCHECK,
        # Longer than gunicorn.conf.py's graceful_timeout (25 s), so that requests in flight
        # finish on `stop` instead of being killed at compose's default 10 s.
        "stop_grace_period": "30s",
    }
    services: dict[str, Any] = {}
    for stack in STACKS:
        services[stack.name] = {
            **server,
            # The image's ENTRYPOINT is `python -m`: the command starts with the server's module.
            "command": stack.argv(stack.slow, "0.0.0.0", 8000),  # reachable by locust
            "ports": [f"{BIND}:{stack.port}:8000"],
            # Compose sends SIGTERM unless told; a server that stops cleanly only on another says so.
            **({"stop_signal": stack.server.stop_signal} if stack.server.stop_signal != "SIGTERM" else {}),
        }
    healthy = {stack.name: {"condition": "service_healthy"} for stack in STACKS}
    services["nginx"] = {
        "image": "localhost/wsgi-asgi-lab-nginx:compose",
        "pull_policy": "never",
        "build": {"context": "nginx", "args": {"BUILDER_IMAGE": BASE_ARGS["BUILDER_IMAGE"]}},
        "read_only": True,
        "tmpfs": ["/tmp"],  # noqa: S108  # the container's own RAM disk: nginx's pid and buffers
        "ports": [f"{BIND}:{proxy_port(stack)}:{proxy_port(stack)}" for stack in STACKS],
        "depends_on": healthy,
        "stop_grace_period": "30s",
    }
    locust = {
        "image": "localhost/wsgi-asgi-lab-locust:compose",
        "pull_policy": "never",
        "read_only": True,
        "volumes": ["../locustfile.py:/lab/locustfile.py:ro"],  # the one file it needs
        # Each stack's class sent to its service, by name, on the container's port.
        "environment": {
            "LOCUST_TARGETS": json.dumps({s.name: f"http://{s.name}:8000{s.slow.path}" for s in STACKS})
        },
    }
    services["locust-master"] = {
        **locust,
        # Built from this repository's lock (docker/requirements-locust.txt), not a registry tag.
        "build": {"context": ".", "dockerfile": "locust/Dockerfile", "args": BASE_ARGS},
        "command": ["-f", "/lab/locustfile.py", "--master", "--class-picker"],
        "ports": [f"{BIND}:8089:8089"],
        "depends_on": healthy,
    }
    services["locust-worker"] = {
        **locust,
        "command": ["-f", "/lab/locustfile.py", "--worker", "--master-host", "locust-master"],
        # locust's own distributed mode: add replicas to add load. (mode: podman-compose needs it.)
        "deploy": {"mode": "replicated", "replicas": 2},
        "depends_on": ["locust-master"],
    }
    body = yaml.dump(
        {"name": "wsgi-asgi-lab", "services": services}, Dumper=Plain, sort_keys=False, width=120
    )
    return HEADER + body


def nginx_conf() -> str:
    """nginx's config for compose.yaml: port P + 1000 in front of each stack's service."""
    blocks = [proxy.route(stack.name, f"{stack.name}:8000", str(proxy_port(stack))) for stack in STACKS]
    header = "# Generated from the stack matrix by `python -m lab compose`; do not edit."
    return proxy.document(blocks, Path("/tmp"), header)  # noqa: S108  # the nginx container's tmpfs


class Plain(yaml.SafeDumper):
    """Writes shared values out in full: &id001 anchors would puzzle a reader."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def main(args: argparse.Namespace) -> int:
    COMPOSE_FILE.write_text(render())
    NGINX_CONF.write_text(nginx_conf())
    print(f"wrote {COMPOSE_FILE.relative_to(ROOT)} and {NGINX_CONF.relative_to(ROOT)}")
    return 0


COMMAND = cli.Command(
    "compose", "write docker/compose.yaml and its nginx.conf from the stack matrix", lambda parser: None, main
)
