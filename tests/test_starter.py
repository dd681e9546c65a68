"""The team starter, generated fresh as a team would: package renamed, a nested subpackage added.

Its own `make test` passes, its workflow passes actionlint, its manifests validate against the
Kubernetes schemas, and its image builds, runs read-only and serves the nested package.
"""

from __future__ import annotations

import json
import keyword
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lab import ROOT
from lab.infra import images, starter
from lab.infra.processes import http_get
from tests.containers import Running

pytestmark = pytest.mark.timeout(900)  # the first `make test` downloads the service's dependencies

PROJECT, PACKAGE = "orders-api", "orders"
BIN = Path(sys.executable).parent  # uv, copier, actionlint and kubernetes-validate, from the lab's pins
RECORD = ROOT / "test-artifacts" / "starter.json"

NESTED_ROUTER = '''"""A team's first addition: a nested subpackage, which must reach the image too."""

from fastapi import APIRouter

router = APIRouter(prefix="/v2")


@router.get("/status")
async def status() -> dict[str, str]:
    return {"version": "2"}
'''
API_INIT = f'''"""The service's own endpoints, gathered here."""

from fastapi import APIRouter

from {PACKAGE}.api import items
from {PACKAGE}.api.v2 import status

router = APIRouter()
router.include_router(items.router)
router.include_router(status.router)
'''


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **env}
    return subprocess.run(args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("starter") / PROJECT
    starter.render(dest, project_name=PROJECT, package=PACKAGE, copyright_holder="Orders Team")
    (dest / PACKAGE / "api" / "v2").mkdir()
    (dest / PACKAGE / "api" / "v2" / "__init__.py").write_text('"""Version 2 of the API."""\n')
    (dest / PACKAGE / "api" / "v2" / "status.py").write_text(NESTED_ROUTER)
    (dest / PACKAGE / "api" / "__init__.py").write_text(API_INIT)
    return dest


def test_only_the_service_is_generated(service: Path) -> None:
    files = sorted(str(p.relative_to(service)) for p in service.rglob("*") if p.is_file())
    assert not [f for f in files if f.startswith(("lab/", "wsgi/", "asgi/", "docs/", "starter/", "docker/"))]
    assert f"{PACKAGE}/main.py" in files and "Dockerfile" in files and ".github/workflows/ci.yml" in files
    leftovers = [f for f in files if "{{" in (service / f).read_text(errors="replace") and f != "uv.lock"]
    assert leftovers == [], "unrendered template variables"
    assert "Copyright (c)" in (service / "LICENSE").read_text()
    assert "Orders Team" in (service / "LICENSE").read_text()
    answers = (service / ".copier-answers.yml").read_text()
    assert f"package: {PACKAGE}" in answers and "_src_path:" in answers  # what `copier update` reads
    RECORD.parent.mkdir(exist_ok=True)
    lines = sum(len((service / f).read_text().splitlines()) for f in files if f != "uv.lock")
    record = {"files": files, "lines_without_uv_lock": lines}
    RECORD.write_text(json.dumps(record, indent=2) + "\n")


def test_its_own_make_test_passes(service: Path) -> None:
    result = run(service, "make", "test")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_its_dockerfiles_pass_hadolint(service: Path) -> None:
    result = run(service, "hadolint", "Dockerfile", "nginx/Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_requests_in_flight_outlast_every_stop(service: Path) -> None:
    """gunicorn's graceful_timeout fits inside compose's and Kubernetes' grace periods."""
    # gunicorn.conf.py as the service's own Python reads it (it imports the service's settings).
    read = "import runpy; print(runpy.run_path('gunicorn.conf.py')['graceful_timeout'])"
    graceful = int(run(service, "uv", "run", "--locked", "python", "-c", read).stdout)
    compose = yaml.safe_load((service / "compose.yaml").read_text())["services"]
    deployment = yaml.safe_load((service / "k8s" / "deployment.yaml").read_text())
    assert graceful < int(compose["app"]["stop_grace_period"].removesuffix("s"))
    assert compose["proxy"]["stop_grace_period"] == compose["app"]["stop_grace_period"]
    assert graceful < deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert "STOPSIGNAL SIGQUIT" in (service / "nginx" / "Dockerfile").read_text()  # nginx's graceful stop


def test_its_pre_commit_config_is_valid(service: Path) -> None:
    result = run(service, "uv", "run", "--locked", "pre-commit", "validate-config")
    assert result.returncode == 0, result.stdout + result.stderr


def test_its_workflow_passes_actionlint(service: Path, tmp_path: Path) -> None:
    workflow = service / ".github" / "workflows" / "ci.yml"
    result = run(service, "actionlint", str(workflow))
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / ".github" / "workflows" / "ci.yml"  # the check can fail: an unknown key
    broken.parent.mkdir(parents=True)
    broken.write_text(workflow.read_text().replace("runs-on:", "run-on:", 1))
    assert run(tmp_path, "actionlint", str(broken)).returncode != 0


def test_its_manifests_are_valid_kubernetes(service: Path) -> None:
    manifests = sorted((service / "k8s").glob("*.yaml"))
    kustomization = service / "k8s" / "kustomization.yaml"
    resources = [
        line.strip("- \n") for line in kustomization.read_text().splitlines() if line.startswith("  - ")
    ]
    assert all((service / "k8s" / name).is_file() for name in resources)
    documents = [str(p) for p in manifests if p != kustomization]
    result = run(service, "kubernetes-validate", "--strict", *documents)
    assert result.returncode == 0, result.stdout + result.stderr
    passed = {line.split("for resource ")[1].split()[0] for line in result.stdout.splitlines()}
    assert passed == {
        f"deployment/{PROJECT}",
        f"service/{PROJECT}",
        f"horizontalpodautoscaler/{PROJECT}",
        f"deployment/{PROJECT}-locust-master",
        f"service/{PROJECT}-locust-master",
        f"deployment/{PROJECT}-locust-worker",
    }


def test_a_broken_manifest_fails_validation(service: Path, tmp_path: Path) -> None:
    broken = tmp_path / "deployment.yaml"
    text = (service / "k8s" / "deployment.yaml").read_text()
    broken.write_text(text.replace("containerPort: 8000", 'containerPort: "eight thousand"'))
    assert run(tmp_path, "kubernetes-validate", "--strict", str(broken)).returncode != 0


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"project_name": "Orders_API"}, "lowercase letters, digits and hyphens"),
        ({"package": "http"}, "http is taken"),  # would shadow the standard library's http.client
        ({"package": "class"}, "class is taken"),  # a keyword
        ({"package": "pydantic"}, "pydantic is taken"),  # a dependency
        ({"package": "Orders"}, "a lowercase Python identifier"),
        ({"description": 'A "quoted" service'}, "no double quotes or backslashes"),
    ],
)
def test_bad_answers_are_refused_before_anything_is_written(
    tmp_path: Path, answers: dict[str, str], message: str
) -> None:
    with pytest.raises(subprocess.CalledProcessError) as failed:
        starter.render(tmp_path / "bad", **{"project_name": "orders-api", **answers})
    assert message in failed.value.stderr.decode()
    assert not (tmp_path / "bad" / "pyproject.toml").exists()


def test_no_standard_library_module_or_keyword_can_be_the_package() -> None:
    reserved = set(yaml.safe_load((ROOT / "copier.yml").read_text())["reserved"]["default"])
    candidates = {n for n in sys.stdlib_module_names if n.isidentifier() and n.islower() and n[0] != "_"}
    assert candidates - reserved == set()
    assert set(keyword.kwlist) - {"None", "True", "False"} <= reserved


def test_pin_images_without_skopeo_says_so_and_changes_nothing(service: Path) -> None:
    before = (service / "Dockerfile").read_text()
    result = subprocess.run(
        [sys.executable, "scripts/pin_images.py", "Dockerfile"],
        cwd=service, env={"PATH": "/nonexistent"}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == "pin-images: skopeo is missing (apt-get install skopeo)"
    assert (service / "Dockerfile").read_text() == before
    assert before.count("@sha256:") == 2  # both bases pinned by digest


@pytest.mark.images
def test_its_image_builds_and_serves_the_nested_package(
    service: Path, container: list[str], bases: dict[str, str]
) -> None:
    image = f"localhost/{PROJECT}:test"
    began = time.monotonic()
    images.build(container, service / "Dockerfile", image, bases, context=service)
    build_s = time.monotonic() - began
    box = Running(container, image)
    try:
        started = box.wait_answering("/health")
        health = box.exec(*images.healthcheck(container, image))
        assert health.returncode == 0, health.stderr
        assert http_get("127.0.0.1", box.port, "/v2/status")[1] == b'{"version":"2"}'
        assert box.exec("/bin/sh", "-c", "true").returncode != 0  # distroless: no shell
        venv_bytes = int(box.exec("/venv/bin/python", "-c", VENV_BYTES).stdout)
        logs = box.logs()
    finally:
        box.remove()
    assert '"path": "/v2/status"' in logs  # the JSON access log, from inside the image
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    record.update(image_app_layer_mb=round(venv_bytes / 1e6, 1), start_to_answer_s=round(started, 2),
                  build_s=round(build_s, 1), base=bases["RUNTIME_IMAGE"])  # fmt: skip
    RECORD.parent.mkdir(exist_ok=True)
    RECORD.write_text(json.dumps(record, indent=2) + "\n")
    assert started <= 5, f"{started:.2f} s from run to /health"


# lstat: bin/python is a symlink into the base image, not part of the app's layer.
VENV_BYTES = (
    "import os; print(sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk('/venv') for f in fs))"
)


def test_make_starter_needs_a_destination() -> None:
    result = subprocess.run(["make", "-s", "starter"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "make starter: say where, as in: make starter DEST=../my-service" in result.stderr
    assert shutil.which("make")
