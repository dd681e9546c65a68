"""The team starter, generated fresh as a team would: package renamed, a nested subpackage added.

Its own `make test` passes, its workflow passes actionlint, its manifests validate against the
Kubernetes schemas, and its image builds, runs read-only and serves the nested package.
"""

from __future__ import annotations

import json
import keyword
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lab import ROOT
from lab.infra import images, starter
from lab.infra.processes import free_port, http_get
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


@pytest.fixture(scope="module")
def with_metrics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same service, made with the one question's other answer: Prometheus metrics."""
    dest = tmp_path_factory.mktemp("starter-metrics") / PROJECT
    starter.render(dest, project_name=PROJECT, package=PACKAGE, metrics="true")
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


def test_one_python_version_for_uv_ci_and_the_image(service: Path) -> None:
    """.python-version is the one place: uv runs the tests on it (CI runs them through uv), and the
    image build checks its base's python3 against it (tests/test_starter.py builds that image)."""
    wanted = (service / ".python-version").read_text().strip()
    assert wanted == "3.13"  # Debian 13's Python, which the image runs
    version = "import sys; print('%d.%d' % sys.version_info[:2])"
    assert run(service, "uv", "run", "--locked", "python", "-c", version).stdout.strip() == wanted
    assert "cat .python-version" in (service / "Dockerfile").read_text()
    assert "!.python-version" in (service / ".dockerignore").read_text().splitlines()
    assert "python-version" not in (service / ".github" / "workflows" / "ci.yml").read_text()  # no second one


def test_its_own_make_test_passes(service: Path) -> None:
    result = run(service, "make", "test")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def said_alone(stderr: str) -> str:
    """The one line a recipe said, once make's own "make: *** [target] Error N" is set aside
    ("make[1]: ***" when these tests run under `make test`)."""
    [line] = [line for line in stderr.splitlines() if not re.match(r"make(\[\d+\])?: \*\*\* ", line)]
    return line


STARTS = """def test_starts(start):
    start()
"""


def test_a_server_that_fails_to_start_shows_why(service: Path) -> None:
    """The harness reports what the server wrote: a router prefix without its slash (which fails
    only when the app is imported, in the server)."""
    items = service / PACKAGE / "api" / "items.py"
    probe = service / "tests" / "test_starts.py"
    good = items.read_text()
    items.write_text(good.replace('prefix="/items"', 'prefix="items"'))
    probe.write_text(STARTS)
    try:
        result = run(service, "uv", "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider", str(probe))
    finally:
        items.write_text(good)
        probe.unlink()
    assert result.returncode != 0
    assert "gunicorn did not start; it wrote:" in result.stdout
    assert "A path prefix must start with '/'" in result.stdout
    assert "I/O operation on closed file" not in result.stdout


def test_make_without_uv_says_so_in_one_line(service: Path) -> None:
    result = run(service, "make", "-s", "lint", "UV=/nonexistent/uv")
    assert result.returncode != 0
    assert said_alone(result.stderr) == (
        "make: /nonexistent/uv is not installed; see README.md (Start): https://docs.astral.sh/uv/"
    )


def test_an_unreadable_project_is_not_called_a_stale_lock(service: Path) -> None:
    pyproject = service / "pyproject.toml"
    good = pyproject.read_text()
    pyproject.write_text(good.replace("[project]", "[project", 1))
    try:
        result = run(service, "make", "-s", "lint")
    finally:
        pyproject.write_text(good)
    assert result.returncode != 0
    assert "make: uv could not export the build group (its error is above)" in result.stderr
    assert "pyproject.toml" in result.stderr  # uv's own words name the file
    assert "stale" not in result.stderr


def test_every_import_its_environment_has_is_a_reserved_name(service: Path) -> None:
    """A package named after one of its own dependencies' modules (opentelemetry, which FastAPI
    brings) would shadow it; every top-level module in the service's .venv is refused."""
    names = "import importlib.metadata as m, json; print(json.dumps(sorted(m.packages_distributions())))"
    modules = json.loads(run(service, "uv", "run", "--locked", "python", "-c", names).stdout)
    reserved = set(yaml.safe_load((ROOT / "copier.yml").read_text())["reserved"]["default"])
    candidates = {name for name in modules if name.isidentifier() and name.islower() and name[0] != "_"}
    assert sorted(candidates - reserved) == []


def test_with_metrics_its_own_make_test_passes(with_metrics: Path) -> None:
    """Its tests scrape the metrics port after real requests on two workers and check the counts."""
    assert (with_metrics / PACKAGE / "metrics.py").is_file()
    result = run(with_metrics, "make", "test")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (
        "test_metrics_count_real_requests_on_a_port_of_their_own PASSED"
        in run(with_metrics, "uv", "run", "--locked", "pytest", "-v", "-k", "metrics").stdout
    )


def test_without_metrics_nothing_of_them_is_generated(service: Path) -> None:
    assert not (service / PACKAGE / "metrics.py").exists()
    made = {".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__"}  # by its make test
    generated = [p for p in service.rglob("*") if p.is_file() and not made & set(p.parts)]
    generated = [p for p in generated if p.name != "uv.lock"]
    assert [p for p in generated if "prometheus" in p.read_text(errors="replace").lower()] == [
        service / "pyproject.toml"  # the group is declared (one lock for both answers), not installed
    ]


@pytest.mark.parametrize("target", ["run", "dev"])
def test_make_run_and_make_dev_serve(service: Path, target: str) -> None:
    """The README's two ways to serve it locally answer /health (on a free port, given as PORT)."""
    port = free_port()
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PORT": str(port), "HOST": "127.0.0.1"}
    process = subprocess.Popen(["make", "-s", target], cwd=service, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not answers(port):
            assert process.poll() is None and time.monotonic() < deadline, f"make {target} did not serve"
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def answers(port: int) -> bool:
    try:
        return http_get("127.0.0.1", port, "/health", timeout=1)[0] == 200
    except OSError:
        return False


def test_its_dockerfiles_pass_hadolint(service: Path) -> None:
    result = run(service, "hadolint", "Dockerfile", "nginx/Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def stated(path: Path, pattern: str) -> int:
    """The one number a comment or a README states with this pattern (whitespace may wrap)."""
    [number] = re.findall(pattern.replace(" ", r"\s+(?:#\s*)?"), path.read_text())
    return int(number)


def test_requests_in_flight_outlast_every_stop(service: Path) -> None:
    """gunicorn's graceful_timeout fits inside compose's and Kubernetes' grace periods, and every
    file that states one of these numbers states the one in force."""
    # gunicorn.conf.py as the service's own Python reads it (it imports the service's settings).
    read = "import runpy; print(runpy.run_path('gunicorn.conf.py')['graceful_timeout'])"
    graceful = int(run(service, "uv", "run", "--locked", "python", "-c", read).stdout)
    compose = yaml.safe_load((service / "compose.yaml").read_text())["services"]
    pod = yaml.safe_load((service / "k8s" / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    stop = int(compose["app"]["stop_grace_period"].removesuffix("s"))
    termination = pod["terminationGracePeriodSeconds"]
    pause = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert graceful < stop
    assert compose["proxy"]["stop_grace_period"] == compose["app"]["stop_grace_period"]
    assert pause + graceful < termination  # the pause comes first, then SIGTERM
    assert "STOPSIGNAL SIGQUIT" in (service / "nginx" / "Dockerfile").read_text()  # nginx's graceful stop
    conf, readme = service / "gunicorn.conf.py", service / "README.md"
    deployment = service / "k8s" / "deployment.yaml"
    assert stated(conf, r"stop_grace_period \((\d+) s\)") == stop
    assert stated(conf, r"terminationGracePeriodSeconds \((\d+) s") == termination
    assert stated(conf, r"with a (\d+) s preStop pause") == pause
    assert stated(service / "compose.yaml", r"graceful_timeout \((\d+) s\)") == graceful
    assert stated(deployment, r"preStop pause \((\d+) s\)") == pause
    assert stated(deployment, r"graceful_timeout \((\d+) s\)") == graceful
    assert stated(readme, r"get (\d+) s to finish") == graceful
    assert stated(readme, r"compose's (\d+) s `stop_grace_period`") == stop
    assert stated(readme, r"Kubernetes' (\d+) s `terminationGracePeriodSeconds`") == termination
    assert stated(readme, r"a (\d+) s `preStop` pause") == pause


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


def test_its_workflow_passes_zizmor(service: Path, tmp_path: Path) -> None:
    """No finding from zizmor's offline audits; an action pinned by tag, not commit, is one."""
    workflow = service / ".github" / "workflows" / "ci.yml"
    result = run(service, "zizmor", "--offline", str(workflow))
    assert result.returncode == 0, result.stdout + result.stderr
    text = workflow.read_text()
    pin = re.search(r"astral-sh/setup-uv@([0-9a-f]{40})", text)
    assert pin, "setup-uv is not pinned by commit"
    broken = tmp_path / "ci.yml"
    broken.write_text(text.replace(f"@{pin[1]}", "@v7"))
    failed = run(tmp_path, "zizmor", "--offline", str(broken))
    assert failed.returncode != 0 and "unpinned-uses" in failed.stdout + failed.stderr


@pytest.mark.parametrize("variant", ["service", "with_metrics"])
def test_its_manifests_are_valid_kubernetes(variant: str, request: pytest.FixtureRequest) -> None:
    service: Path = request.getfixturevalue(variant)
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
        f"networkpolicy/{PROJECT}",
        f"poddisruptionbudget/{PROJECT}",
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
        ({"description": "Two\nlines"}, "one line: no line breaks"),  # pyproject.toml would not parse
        ({"package": "opentelemetry"}, "opentelemetry is taken"),  # FastAPI brings it
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


@pytest.mark.images
def test_with_metrics_its_image_serves_them(
    with_metrics: Path, container: list[str], bases: dict[str, str]
) -> None:
    """The image installs the metrics group: /metrics answers on its own port, inside the container."""
    image = f"localhost/{PROJECT}-metrics:test"
    images.build(container, with_metrics / "Dockerfile", image, bases, context=with_metrics)
    box = Running(container, image)
    try:
        box.wait_answering("/health")
        assert http_get("127.0.0.1", box.port, "/items/1")[0] == 404
        scrape = (
            "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9464/metrics').read().decode())"
        )
        scraped = box.exec("/venv/bin/python", "-c", scrape)
    finally:
        box.remove()
    assert scraped.returncode == 0, scraped.stderr
    [counted] = [line for line in scraped.stdout.splitlines() if line.startswith("http_requests_total{")]
    assert 'route="/items/{item_id}"' in counted and 'status="404"' in counted and counted.endswith(" 1.0")


# lstat: bin/python is a symlink into the base image, not part of the app's layer.
VENV_BYTES = (
    "import os; print(sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk('/venv') for f in fs))"
)


def test_make_starter_needs_a_destination() -> None:
    result = subprocess.run(["make", "-s", "starter"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "make starter: say where, as in: make starter DEST=../my-service" in result.stderr
    assert shutil.which("make")


def test_make_starter_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "Makefile").write_text("our own\n")
    result = subprocess.run(
        ["make", "-s", "starter", f"DEST={ours}"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert said_alone(result.stderr) == (
        f"make starter: {ours} exists and is not empty; choose a new folder (nothing was written)"
    )
    assert [p.name for p in ours.iterdir()] == ["Makefile"]
    assert (ours / "Makefile").read_text() == "our own\n"


TEMPLATE_URL = "https://git.example.com/platform/wsgi-asgi.git"
GIT_ID = {k: "Starter Test" for k in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")} | {
    k: "starter@example.com" for k in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL")
}


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ID}, check=True, capture_output=True)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This repository's HEAD as a teammate's clone has it: no .venv, its origin a git URL."""
    clone = tmp_path_factory.mktemp("template") / "wsgi-asgi"
    git(ROOT, "clone", "-q", str(ROOT), str(clone))
    git(clone, "remote", "set-url", "origin", TEMPLATE_URL)
    return clone


def make_starter(template: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    """`make starter` as documented, with uv on PATH (so copier comes from uvx) and the answers given."""
    data = f"COPIER_ARGS=--defaults --data project_name={PROJECT} --data package={PACKAGE}"
    return run(template, "make", "-s", "starter", f"DEST={dest}", data)


def test_make_starter_records_a_template_a_teammate_can_reach(template: Path, tmp_path: Path) -> None:
    dest = tmp_path / PROJECT
    began = time.monotonic()
    result = make_starter(template, dest)
    took = time.monotonic() - began
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (template / ".venv").exists()  # copier came from uvx, not the lab's environment
    answers_text = (dest / ".copier-answers.yml").read_text()
    assert yaml.safe_load(answers_text)["_src_path"] == TEMPLATE_URL
    assert str(tmp_path) not in answers_text and str(template) not in answers_text
    assert "git init" in result.stdout and "make update" in result.stdout  # the next steps
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {}
    record.update(make_starter_s=round(took, 1))
    RECORD.parent.mkdir(exist_ok=True)
    RECORD.write_text(json.dumps(record, indent=2) + "\n")


def test_make_starter_without_uv_takes_copier_from_the_labs_environment(tmp_path: Path) -> None:
    """No uv on PATH: `make starter` builds the lab's .venv from its hash-pinned files, then runs copier."""
    clone = tmp_path / "wsgi-asgi"
    git(ROOT, "clone", "-q", str(ROOT), str(clone))
    git(clone, "remote", "set-url", "origin", TEMPLATE_URL)
    path = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "uvx").exists())
    dest = tmp_path / PROJECT
    data = f"COPIER_ARGS=--defaults --data project_name={PROJECT} --data package={PACKAGE}"
    result = subprocess.run(["make", "-s", "starter", f"DEST={dest}", data], cwd=clone, capture_output=True,
                            text=True, timeout=900, env={**os.environ, "PATH": path})  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert (clone / ".venv" / "bin" / "copier").exists()  # the fallback, not uvx
    assert (dest / PACKAGE / "main.py").exists() and "git init" in result.stdout
    assert yaml.safe_load((dest / ".copier-answers.yml").read_text())["_src_path"] == TEMPLATE_URL


def test_make_starter_records_a_url_with_seds_special_characters_as_it_is(tmp_path: Path) -> None:
    clone = tmp_path / "wsgi-asgi"
    git(ROOT, "clone", "-q", str(ROOT), str(clone))
    url = r"https://git.example.com/a|b&c\d/wsgi-asgi.git"  # |, & and \ mean something to sed
    git(clone, "remote", "set-url", "origin", url)
    result = make_starter(clone, tmp_path / PROJECT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert yaml.safe_load((tmp_path / PROJECT / ".copier-answers.yml").read_text())["_src_path"] == url


def test_make_starter_says_a_refused_answer_in_one_line(template: Path, tmp_path: Path) -> None:
    """copier ends a --data value its validator refuses in a traceback; make starter keeps the message."""
    dest = tmp_path / "bad"
    data = "COPIER_ARGS=--defaults --data project_name=Orders_API"
    result = run(template, "make", "-s", "starter", f"DEST={dest}", data)
    assert result.returncode != 0
    assert said_alone(result.stderr) == (
        "make starter: Validation error for question 'project_name': lowercase letters, digits and hyphens,"
        " starting with a letter (a DNS label)"
    )
    assert "Next:" not in result.stdout and not (dest / "pyproject.toml").exists()


def test_make_starter_shows_a_traceback_with_no_message_whole(tmp_path: Path) -> None:
    """The filter that keeps a traceback's last line must not swallow one that says nothing there."""
    fake = tmp_path / "copier.py"
    fake.write_text("def fail():\n    raise RuntimeError\n\n\nfail()\n")
    dest = tmp_path / "out"
    result = run(ROOT, "make", "-s", "starter", f"DEST={dest}", f"COPIER={sys.executable} {fake}")
    assert result.returncode != 0 and "Next:" not in result.stdout
    assert "Traceback (most recent call last):" in result.stderr and "raise RuntimeError" in result.stderr
    assert "RuntimeError" in result.stderr.splitlines()  # its last line, whole


def test_make_update_brings_template_changes_and_keeps_the_teams_lock(template: Path, tmp_path: Path) -> None:
    dest = tmp_path / PROJECT
    assert make_starter(template, dest).returncode == 0
    # The local-path case: a template with no URL is named by its path (as the note says).
    answers = dest / ".copier-answers.yml"
    answers.write_text(answers.read_text().replace(TEMPLATE_URL, str(template)))
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "generated")
    lock = (dest / "uv.lock").read_text()
    # The template moves on: a change to pyproject.toml, and one to its own lock.
    pyproject = template / "starter" / "pyproject.toml.jinja"
    template_lock = template / "starter" / "uv.lock.jinja"
    pyproject.write_text(pyproject.read_text().replace("[tool.uv]", "# a template change\n[tool.uv]", 1))
    template_lock.write_text(template_lock.read_text() + "# the template's lock moved on\n")
    git(template, "commit", "-q", "-am", "a later fix")
    try:
        result = run(dest, "make", "update")
    finally:
        git(template, "reset", "-q", "--hard", "HEAD~1")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "# a template change" in (dest / "pyproject.toml").read_text()
    assert (dest / "uv.lock").read_text() == lock  # the team's lock, untouched: nothing to merge
    ours = [p for p in dest.rglob("*") if p.is_file() and not {".venv", ".git"} & set(p.parts)]
    conflicted = [p for p in ours if re.search(r"^<{7} ", p.read_text(errors="replace"), re.MULTILINE)]
    assert conflicted == []
    assert run(dest, "make", "lock").returncode == 0  # as the README says, after an update
