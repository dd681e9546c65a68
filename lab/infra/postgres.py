"""A throwaway PostgreSQL on a free loopback port: started in a temporary folder, stopped and removed after.

`python -m lab postgres` runs one until Ctrl-C and prints its DATABASE_URL, for
the db apps by hand. PostgreSQL refuses to run as root: as root, the server runs
as the `postgres` user that Debian's package creates.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from lab import cli
from lab.errors import LabError
from lab.infra.processes import HOST, check_port_free, free_port

INSTALL = (
    "brew install postgresql@17, or Postgres.app (macOS)"
    if sys.platform == "darwin"
    else "apt-get install postgresql (Debian, Ubuntu)"
)
# Where packages put each major version's binaries, off PATH (the newest major wins):
PLACES = (
    (Path("/usr/lib/postgresql"), "*/bin"),  # Debian and Ubuntu's postgresql-<major>
    (Path("/opt/homebrew/opt"), "postgresql@*/bin"),  # Homebrew on Apple Silicon (keg-only: off PATH)
    (Path("/usr/local/opt"), "postgresql@*/bin"),  # Homebrew on an Intel Mac
    (Path("/Applications/Postgres.app/Contents/Versions"), "*/bin"),  # Postgres.app
)


@dataclass(frozen=True)
class Database:
    url: str  # what the apps read as DATABASE_URL
    port: int
    folder: Path
    bin: Path

    def stop(self) -> None:
        """Stop the server now (a test of what the apps do when their database dies)."""
        _run(self, "pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")


def server_binaries(places: tuple[tuple[Path, str], ...] = PLACES) -> Path:
    """Where initdb and pg_ctl are: on PATH, else in the newest major version under one of the places."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = {
        int(major[0]): folder
        for root, pattern in places
        for folder in root.glob(pattern)
        if (major := re.findall(r"(\d+)(?:\.\d+)?$", folder.parent.name)) and (folder / "pg_ctl").exists()
    }  # "16", "postgresql@16", Postgres.app's "9.6"; not its "latest", a link to one of the others
    if not versions:
        raise LabError(f"PostgreSQL's server (initdb, pg_ctl) is not installed: {INSTALL}")
    return versions[max(versions)]


def _run(db: Database, tool: str, *args: str) -> None:
    argv = [str(db.bin / tool), *args]
    if os.geteuid() == 0:  # PostgreSQL refuses root
        if not shutil.which("runuser"):  # util-linux's; a Mac has none
            raise LabError("PostgreSQL refuses to run as root: run the lab as an ordinary user")
        argv = ["runuser", "-u", "postgres", "--", *argv]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    except subprocess.TimeoutExpired:
        raise LabError(f"PostgreSQL {tool} did not finish within 60 s") from None
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise LabError(f"PostgreSQL {tool} failed: {last[0]}")


@contextmanager
def postgres(port: int | None = None) -> Iterator[Database]:
    """A fresh server, trusting local connections as user `lab`; gone with everything in it afterwards."""
    binaries = server_binaries()
    port = port or free_port()
    check_port_free(port)
    folder = Path(tempfile.mkdtemp(prefix="lab-postgres-"))
    db = Database(f"postgresql://lab@{HOST}:{port}/postgres", port, folder, binaries)
    try:
        if os.geteuid() == 0:
            try:
                shutil.chown(folder, "postgres", "postgres")
            except LookupError:
                raise LabError(
                    f"no 'postgres' user to run PostgreSQL as (root is refused): {INSTALL}"
                ) from None
        # Loopback only, no fsync (a throwaway), room for every stack's pools at once (--pool 50 on
        # the six default stacks holds 600 connections).
        _run(db, "initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "lab", "--no-sync")
        options = f"-p {port} -k {folder} -c listen_addresses={HOST} -c max_connections=1000 -c fsync=off"
        _run(
            db, "pg_ctl", "-D", str(folder / "data"), "-o", options, "-l", str(folder / "log"), "-w", "start"
        )
        yield db
    finally:
        if (folder / "data" / "postmaster.pid").exists():
            with suppress(LabError):  # already stopped: nothing left to do but remove it
                _run(db, "pg_ctl", "-D", str(folder / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=cli.positive_int, help="default: a free one")


def main(args: argparse.Namespace) -> int:
    with postgres(args.port) as db:
        print(f"DATABASE_URL={db.url}   (Ctrl-C stops it and removes its data)", flush=True)
        while True:
            time.sleep(3600)


COMMAND = cli.Command(
    "postgres", "a throwaway PostgreSQL until Ctrl-C: prints its DATABASE_URL", add_arguments, main
)
