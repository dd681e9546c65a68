"""The three images, really built and run: non-root, read-only, no shell, healthy, small.

Marked `images`. Without docker or podman they skip, naming what to install;
REQUIRE_IMAGES=1 (set by .ci/run) turns that skip into a failure.
"""

from __future__ import annotations

import io
import json
import shlex
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from lab import ROOT
from lab.errors import LabError
from lab.infra import images
from lab.infra.processes import free_port, http_get
from tests.containers import Running
from tests.test_documented_commands import Command, parse

# Building three images (and, on a new machine, the stand-in bases) outlasts the default 300 s.
pytestmark = [pytest.mark.images, pytest.mark.timeout(1800)]

VARIANTS = ["pip", "pipenv", "uv"]
# The venv copied into the runtime stage, bytecode included, as a registry stores and a pull
# downloads it: a gzipped tar. Unpacked it is larger, and bounded too: Granian's one binary
# is 20.6 MB and Daphne's Twisted, autobahn and cryptography 40 MB (docs/images.md).
APP_LAYER_LIMIT = 50e6  # bytes, gzipped
UNPACKED_LIMIT = 120e6  # bytes, on disk (110.7 MB measured)
RECORD = ROOT / "test-artifacts" / "images.json"


@pytest.fixture(scope="module")
def built(container: list[str], bases: dict[str, str]) -> dict[str, dict[str, object]]:
    """Each variant built once for the module, with its build time."""
    record: dict[str, dict[str, object]] = {}
    for variant in VARIANTS:
        began = time.monotonic()
        images.build(container, ROOT / "docker" / f"Dockerfile.{variant}", tag(variant), bases)
        record[variant] = {"build_s": round(time.monotonic() - began, 1)}
    return record


def tag(variant: str) -> str:
    return f"localhost/wsgi-asgi-lab:{variant}"


# Run inside the container by its own Python: there is nothing else to run it with.
PROBE = """
import gzip, json, os, tarfile

class Counted:  # a sink that only counts what the gzip stream writes
    size = 0
    def write(self, data):
        Counted.size += len(data)
        return len(data)
    def flush(self):
        pass

# As a layer is stored: a tar, at gzip's default level, which docker and podman push with.
with gzip.GzipFile(fileobj=Counted(), mode="wb", compresslevel=6) as gz:
    with tarfile.open(fileobj=gz, mode="w") as layer:
        layer.add("/venv")
print(json.dumps({
    "venv_gzip_bytes": Counted.size,
    "uid": [os.getuid(), os.getgid()],
    "present": [p for p in ("/bin/sh", "/bin/bash", "/usr/bin/apt", "/usr/bin/curl") if os.path.exists(p)],
    "packages": os.listdir("/venv/lib/python3.13/site-packages"),
    # lstat: bin/python is a symlink to the base image's interpreter, not part of this layer
    "venv_bytes": sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk("/venv") for f in fs),
}))
"""


@pytest.mark.parametrize("variant", VARIANTS)
def test_image_runs_non_root_read_only_without_a_shell(
    variant: str, container: list[str], bases: dict[str, str], built: dict[str, dict[str, object]]
) -> None:
    image = tag(variant)
    box = Running(container, image, env={"SLOW_SECONDS": "0.2"})
    try:
        box.wait_answering("/")
        health = box.exec(*images.healthcheck(container, image))
        assert health.returncode == 0, health.stderr
        to_healthy = time.monotonic() - box.started
        assert http_get("127.0.0.1", box.port, "/slow")[1] == b'{"slept":0.2}'
        assert box.exec("/bin/sh", "-c", "true").returncode != 0  # no shell to run it
        facts = json.loads(box.exec("/venv/bin/python", "-c", PROBE).stdout)
        total = int(images.run(container, "image", "inspect", "--format", "{{.Size}}", image).stdout)
    finally:
        box.remove()
    assert facts["uid"] == [65532, 65532]
    assert facts["present"] == []
    assert not {"pip", "setuptools", "locust", "pytest", "ruff"} & set(facts["packages"])
    built[variant].update(app_layer_gzip_mb=round(facts["venv_gzip_bytes"] / 1e6, 1),
                          app_layer_mb=round(facts["venv_bytes"] / 1e6, 1), image_mb=round(total / 1e6, 1),
                          start_to_healthy_s=round(to_healthy, 2), base=bases["RUNTIME_IMAGE"])  # fmt: skip
    RECORD.parent.mkdir(exist_ok=True)
    RECORD.write_text(json.dumps(built, indent=2) + "\n")
    assert facts["venv_gzip_bytes"] <= APP_LAYER_LIMIT, f"{facts['venv_gzip_bytes'] / 1e6:.1f} MB gzipped"
    assert facts["venv_bytes"] <= UNPACKED_LIMIT, f"{facts['venv_bytes'] / 1e6:.1f} MB unpacked"
    assert to_healthy <= 2.0, f"{to_healthy:.2f} s from run to a passing healthcheck"


@pytest.mark.parametrize(
    "command",
    [
        ["uvicorn", "asgi.slow_app:app", "--host", "127.0.0.1", "--port", "{port}"],
        ["gunicorn", "-w", "2", "--threads", "4", "wsgi.slow_app:app", "-b", "127.0.0.1:{port}"],
        ["gunicorn", "-w", "2", "-k", "asgi", "asgi.app:app", "-b", "127.0.0.1:{port}"],
        ["granian", "--interface", "wsgi", "wsgi.slow_app:app", "--host", "127.0.0.1", "--port", "{port}"],
        ["granian", "--interface", "asgi", "asgi.slow_app:app", "--host", "127.0.0.1", "--port", "{port}"],
        ["hypercorn", "asgi.slow_app:app", "-b", "127.0.0.1:{port}"],
        ["daphne", "-b", "127.0.0.1", "-p", "{port}", "asgi.slow_app:app"],  # loads Twisted and autobahn
    ],
    ids=[
        "uvicorn",
        "gunicorn-gthread",
        "gunicorn-asgi",
        "granian-wsgi",
        "granian-asgi",
        "hypercorn",
        "daphne",
    ],
)
def test_one_image_serves_any_stack_chosen_by_cmd(
    command: list[str], container: list[str], built: dict[str, dict[str, object]]
) -> None:
    if container[0] != "podman":
        pytest.skip("the port placeholders assume host networking (podman)")
    port = free_port()
    box = Running(
        container,
        tag("uv"),
        *[arg.replace("{port}", str(port)) for arg in command],
        env={"SLOW_SECONDS": "0.2"},
    )
    box.port = port
    try:
        box.wait_answering("/")
    finally:
        box.remove()


DOCUMENTED = [c for block in parse(ROOT / "docs" / "images.md") for c in block.commands]
RUNS = [c for c in DOCUMENTED if c.text.startswith("docker run ")]


def test_the_documented_build_is_one_these_tests_build(built: dict[str, dict[str, object]]) -> None:
    """docs/images.md's `docker build -f docker/Dockerfile.X`: the `built` fixture builds that file."""
    [build] = [shlex.split(c.text) for c in DOCUMENTED if c.text.startswith("docker build ")]
    dockerfile = build[build.index("-f") + 1]
    assert dockerfile.removeprefix("docker/Dockerfile.") in built


@pytest.mark.parametrize("command", RUNS, ids=[c.where for c in RUNS])
def test_the_documented_docker_run_commands_serve(
    command: Command, container: list[str], built: dict[str, dict[str, object]]
) -> None:
    """Each `docker run` of docs/images.md, as written: its flags, its image (built here), its CMD."""
    if container[0] != "podman":
        pytest.skip("the port placeholders assume host networking (podman)")
    words = shlex.split(command.text)
    at = words.index("wsgi-asgi-lab")
    options, cmd = words[2:at], words[at + 1 :]
    assert {"--rm", "--read-only"} <= set(options), "the documented run is read-only and removes itself"
    env = dict(options[i + 1].split("=", 1) for i, option in enumerate(options) if option == "-e")
    port = free_port()  # on the host's network: the documented 8000 moves to a free port
    box = Running(container, tag("uv"), *[w.replace("8000", str(port)) for w in cmd], env=env, port=port)
    try:
        box.wait_answering("/")
    finally:
        box.remove()


@pytest.mark.parametrize(
    ("variant", "stale", "message"),
    [
        ("pipenv", ("Pipfile", 'version = "==27.0.1"', 'version = "==27.0.0"'), "Aborting deploy"),
        ("uv", ("pyproject.toml", "http2]==27.0.1", "http2]==27.0.0"), "needs to be updated"),  # gunicorn's
    ],
)
def test_stale_lock_fails_the_build_with_the_tools_own_message(
    variant: str,
    stale: tuple[str, str, str],
    message: str,
    container: list[str],
    bases: dict[str, str],
    tmp_path: Path,
) -> None:
    context = tmp_path / "context"
    shutil.copytree(
        ROOT, context, ignore=shutil.ignore_patterns(".venv", ".git", "reports", "test-artifacts", "*cache*")
    )
    filename, pinned, edited = stale
    text = (context / filename).read_text()
    assert pinned in text
    (context / filename).write_text(text.replace(pinned, edited))
    with pytest.raises(LabError, match=message):
        images.build(
            container,
            context / "docker" / f"Dockerfile.{variant}",
            f"localhost/lab-stale:{variant}",
            bases,
            context,
        )


def test_build_context_keeps_subpackages_and_drops_the_rest(container: list[str], tmp_path: Path) -> None:
    """.dockerignore as the real builder reads it: a nested package goes in, the lab stays out."""
    context = tmp_path / "context"
    skip = shutil.ignore_patterns(".venv", ".git", "reports", "test-artifacts", ".*_cache")
    shutil.copytree(ROOT, context, ignore=skip)
    (context / "asgi" / "api" / "v1").mkdir(parents=True)
    (context / "asgi" / "api" / "__init__.py").write_text("")
    (context / "asgi" / "api" / "v1" / "routes.py").write_text("ROUTES = []\n")
    (context / "asgi" / "__pycache__").mkdir(exist_ok=True)
    (context / "asgi" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"")  # a local run's bytecode
    (context / "Dockerfile.context").write_text("FROM scratch\nCOPY . /context\n")  # no base to pull
    image = "localhost/lab-context-probe:test"
    images.run(container, "build", "-f", str(context / "Dockerfile.context"), "-t", image, str(context))
    try:
        made = images.run(container, "create", image, "none").stdout.strip()
        try:
            exported = subprocess.run([*container, "export", made], capture_output=True, check=True,
                                      env=images.env(), timeout=120).stdout  # fmt: skip
        finally:
            images.run(container, "rm", made, check=False)
    finally:
        images.run(container, "rmi", image, check=False)
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        names = set(tar.getnames())
    assert "context/asgi/api/v1/routes.py" in names and "context/asgi/api/__init__.py" in names
    assert "context/asgi/app.py" in names and "context/gunicorn.conf.py" in names
    assert not any(name.startswith(("context/lab/", "context/tests/", "context/docs/")) for name in names)
    assert not any("__pycache__" in name for name in names)
