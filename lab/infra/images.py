"""Build and run the images with whichever container tool this machine has.

On a machine that cannot pull base images (no registry), it builds local
stand-ins from Debian 13 packages with debootstrap:

- `localhost/lab-standin-builder:trixie`: Debian 13 minbase with python3-venv, like
  debian:trixie-slim, plus this machine's CA bundle (so pip works behind a TLS proxy);
- `localhost/lab-standin-distroless:nonroot`: the same Python 3.13 with every shell,
  apt and dpkg removed and a `nonroot` user 65532, like gcr.io/distroless/python3-debian13.

`python -m lab images` builds them (cached: run again, nothing happens) and prints the bases the
Dockerfiles get, real or stand-in; `--help` says so and does nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from lab import ROOT, cli
from lab.errors import LabError

REAL_BASES = {
    "BUILDER_IMAGE": "debian:trixie-slim",
    "RUNTIME_IMAGE": "gcr.io/distroless/python3-debian13:nonroot",
}
STANDIN_BASES = {
    "BUILDER_IMAGE": "localhost/lab-standin-builder:trixie",
    "RUNTIME_IMAGE": "localhost/lab-standin-distroless:nonroot",
}
# This workplace's sandbox forbids the resource limits podman sets by default.
PODMAN_CONF = ROOT / "lab" / "infra" / "podman-containers.conf"


def tool() -> list[str] | None:
    """The container command to use: docker with a running engine, else podman, else None."""
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    ):
        return ["docker"]
    if shutil.which("podman"):
        # crun fails in hybrid-cgroup sandboxes ("cgroups in hybrid mode not supported"); runc works.
        return ["podman", "--runtime", "runc"] if shutil.which("runc") else ["podman"]
    return None


def env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(PODMAN_CONF)}


def run(
    cmd: list[str], *args: str, check: bool = True, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*cmd, *args], capture_output=True, text=True, env=env(), timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise LabError(
            f"{' '.join([*cmd, *args][:4])} ... failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    return result


def exists(cmd: list[str], image: str) -> bool:
    return run(cmd, "image", "inspect", image, check=False).returncode == 0


def pulled(cmd: list[str], image: str) -> bool:
    """True if the image is here or can be pulled; a registry that hangs counts as unreachable."""
    try:
        return exists(cmd, image) or run(cmd, "pull", image, check=False, timeout=120).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def bases(cmd: list[str]) -> dict[str, str]:
    """The real base images when they can be pulled, else the local stand-ins (built once)."""
    if all(pulled(cmd, image) for image in REAL_BASES.values()):
        return REAL_BASES
    if not all(exists(cmd, image) for image in STANDIN_BASES.values()):
        build_standins(cmd)
    return STANDIN_BASES


def debian_mirror() -> str:
    """The Debian mirror this machine's own apt uses (deb.debian.org if none is found)."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        text = path.read_text(errors="replace") if path.is_file() else ""
        if match := re.search(r"(?:URIs:|deb)\s+(https?://\S+/debian)\b(?!-security)", text):
            return match.group(1)
    return "http://deb.debian.org/debian"


def build_standins(cmd: list[str]) -> None:
    if not shutil.which("debootstrap"):
        raise LabError("no base images can be pulled and debootstrap is missing: apt-get install debootstrap")
    with tempfile.TemporaryDirectory(prefix="lab-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "trixie",
                str(rootfs),
                debian_mirror(),
            ],
            check=True,
            capture_output=True,
        )
        # The builder trusts what this machine trusts (a TLS-intercepting proxy's CA included).
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", rootfs / "etc/ssl/certs/ca-certificates.crt")
        import_rootfs(cmd, rootfs, STANDIN_BASES["BUILDER_IMAGE"], [])
        # Distroless: no shell, no package manager, the nonroot user; Python stays at /usr/bin/python3.13.
        for pattern in (
            "usr/bin/sh",
            "usr/bin/dash",
            "usr/bin/bash",
            "usr/bin/rbash",
            "usr/bin/apt*",
            "usr/bin/dpkg*",
            "usr/lib/apt",
            "etc/apt",
        ):
            for path in rootfs.glob(pattern):
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        with (rootfs / "etc/passwd").open("a") as passwd:
            passwd.write("nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
        with (rootfs / "etc/group").open("a") as group:
            group.write("nonroot:x:65532:\n")
        (rootfs / "home/nonroot").mkdir(parents=True, exist_ok=True)
        os.chown(rootfs / "home/nonroot", 65532, 65532)
        changes = ['ENTRYPOINT ["/usr/bin/python3.13"]', "USER 65532:65532", "WORKDIR /home/nonroot"]
        import_rootfs(cmd, rootfs, STANDIN_BASES["RUNTIME_IMAGE"], changes)


def import_rootfs(cmd: list[str], rootfs: Path, tag: str, changes: list[str]) -> None:
    args = [arg for change in changes for arg in ("--change", change)]
    with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:
        subprocess.run(
            [*cmd, "import", *args, "-", tag], stdin=tar.stdout, env=env(), check=True, capture_output=True
        )
    if tar.returncode != 0:
        raise LabError(f"tar of {rootfs} failed with code {tar.returncode}")


def build(cmd: list[str], dockerfile: Path, tag: str, base: dict[str, str], context: Path = ROOT) -> None:
    args = [arg for name, image in base.items() for arg in ("--build-arg", f"{name}={image}")]
    extra = ["--format", "docker", "--network", "host"] if cmd[0] == "podman" else ["--network", "host"]
    # --format docker keeps the HEALTHCHECK (the OCI image format has no field for it).
    run(cmd, "build", *extra, *args, "-f", str(dockerfile), "-t", tag, str(context))


def healthcheck(cmd: list[str], image: str) -> list[str]:
    """The HEALTHCHECK command baked into the image, in exec form."""
    config = json.loads(run(cmd, "image", "inspect", image).stdout)[0]
    test = (config.get("Config") or {}).get("Healthcheck", {}).get("Test") or config.get(
        "Healthcheck", {}
    ).get("Test")
    if not test or test[0] != "CMD":
        raise LabError(f"{image} has no exec-form HEALTHCHECK: {test}")
    return list(test[1:])


def main(args: argparse.Namespace) -> int:
    container = tool()
    if container is None:
        raise LabError("no container tool: install docker, or podman with runc (apt-get install podman runc)")
    print(bases(container))
    return 0


COMMAND = cli.Command(
    "images",
    "the base images the Dockerfiles get here: real, or stand-ins built once",
    lambda parser: None,
    main,
    about=__doc__ or "",
)
