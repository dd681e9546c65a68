"""A student's Mac: the lab runs, and writes its whole report, on an OS without Linux's extras.

macOS has no CPU affinity (`os.sched_getaffinity`, `os.sched_setaffinity`) and no /proc. The
simulation takes exactly those away, in this process or, through a sitecustomize.py, in every
Python the lab starts (the lab, its servers, locust), and then runs real commands.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lab import ROOT
from lab.errors import LabError
from lab.infra import postgres
from lab.measure import machine, peak
from lab.measure.peak import cpu_list
from lab.scenarios import SCENARIOS
from lab.scenarios.command import parser

# What macOS lacks that the lab's own code reads; test_the_lab_reads_no_other_proc_file keeps it whole.
PROC_FILES = ("/proc/cpuinfo", "/proc/net/tcp", "/proc/net/tcp6")
MAC = f"""
import io, os
for name in ("sched_getaffinity", "sched_setaffinity", "process_cpu_count"):
    if hasattr(os, name):
        delattr(os, name)
import builtins, pathlib, psutil
_open, _exists = io.open, pathlib.Path.exists
def _open_without_proc(file, *args, **kwargs):
    if str(file) in {PROC_FILES!r}:
        raise FileNotFoundError(2, "No such file or directory (a Mac has no /proc)", str(file))
    return _open(file, *args, **kwargs)
io.open = builtins.open = _open_without_proc  # pathlib's read_text opens through io.open
pathlib.Path.exists = lambda self, *args, **kw: str(self) not in {PROC_FILES!r} and _exists(self, *args, **kw)
# psutil reports no reaped children's CPU on macOS: a count that relies on them is wrong there.
_times = psutil._pslinux.Process.cpu_times
psutil._pslinux.Process.cpu_times = lambda self: _times(self)._replace(children_user=0.0, children_system=0.0)
"""


def quota_cpus() -> float:
    """This machine's cgroup CPU quota, in CPUs rounded up (inf: none)."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except OSError:
        return math.inf
    return math.inf if quota == "max" else math.ceil(int(quota) / int(period))


def on_a_mac(tmp_path: Path, *argv: str, timeout: float) -> subprocess.CompletedProcess[str]:
    site = tmp_path / "mac"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(MAC)  # first on PYTHONPATH: before Debian's own
    return subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": str(site)},
    )


def test_the_simulation_takes_away_what_macos_lacks(tmp_path: Path) -> None:
    probe = (
        "import os, pathlib; print(hasattr(os, 'sched_getaffinity')); pathlib.Path('/proc/cpuinfo').open()"
    )
    result = on_a_mac(tmp_path, "-c", probe, timeout=30)
    assert result.stdout == "False\n" and "FileNotFoundError" in result.stderr


def test_the_lab_reads_no_other_proc_file() -> None:
    """A new /proc reader in lab/ must be added to the simulation, and degrade without it."""
    quoted = r"[\"'](/proc/[^\"']*)[\"']"
    read = {m for path in ROOT.glob("lab/**/*.py") for m in re.findall(quoted, path.read_text())}
    assert read <= set(PROC_FILES)


def cgroup_quota(monkeypatch: pytest.MonkeyPatch, text: str | None) -> None:
    """What /sys/fs/cgroup/cpu.max holds (None: no such file, as on a Mac or a host with no limit)."""
    read_text = Path.read_text

    def read(path: Path, *args: Any, **kwargs: Any) -> str:
        if path != Path("/sys/fs/cgroup/cpu.max"):
            return read_text(path, *args, **kwargs)
        if text is None:
            raise FileNotFoundError(path)
        return text

    monkeypatch.setattr(Path, "read_text", read)


def test_the_lab_counts_cpus_by_gunicorn_conf_rule_without_affinity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr("os.sched_getaffinity")
    monkeypatch.delattr("os.process_cpu_count", raising=False)  # 3.13 has it; a Mac's is cpu_count
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    cgroup_quota(monkeypatch, None)
    assert machine.usable_cpus() == 16
    cgroup_quota(monkeypatch, "max 100000\n")  # a cgroup with no limit
    assert machine.usable_cpus() == 16
    cgroup_quota(monkeypatch, "150000 100000\n")  # docker run --cpus 1.5 on that host: rounded up
    assert machine.usable_cpus() == 2


def test_a_quota_below_the_affinity_pins_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """docker run --cpus 1 on a 2-CPU host: a server and wrk on "their own" CPUs would share one quota."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    cgroup_quota(monkeypatch, None)
    assert machine.cpu_ids() == [0, 1]
    cgroup_quota(monkeypatch, "100000 100000\n")
    assert machine.cpu_ids() == [] and peak.split(machine.cpu_ids()) == peak.SHARED


def test_the_rule_is_written_once_for_the_lab_gunicorn_and_the_starter() -> None:
    """The lab runs gunicorn.conf.py's function; the starter's template (Jinja, not Python) keeps its text."""

    def rule(path: Path) -> str:
        found = re.search(
            r"^def usable_cpus\(\).*?^    return max\(cpus, 1\)$", path.read_text(), re.S | re.M
        )
        assert found, path
        return found[0]

    assert rule(ROOT / "gunicorn.conf.py") == rule(ROOT / "starter" / "gunicorn.conf.py.jinja")


def test_postgres_is_found_where_mac_packages_put_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no pg_ctl on PATH: Homebrew's are keg-only
    for folder in ("opt/postgresql@15/bin", "opt/postgresql@17/bin", "Versions/16/bin"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "pg_ctl").touch()
    (tmp_path / "Versions" / "latest").symlink_to(tmp_path / "Versions" / "16")
    places = ((tmp_path / "opt", "postgresql@*/bin"), (tmp_path / "Versions", "*/bin"))
    assert postgres.server_binaries(places) == tmp_path / "opt/postgresql@17/bin"  # the newest major
    with pytest.raises(LabError, match=re.escape(f"is not installed: {postgres.INSTALL}")):
        postgres.server_binaries(((tmp_path / "nowhere", "*/bin"),))


@pytest.mark.parametrize(
    "argv",
    [
        ["compare.py", "--plan"],  # the demo
        ["compare.py", "--scenario", "overload-cpu", "--stacks", "gunicorn-gevent", "--plan"],  # lesson 9
        ["-m", "lab", "wrk", "--stacks", "uvicorn", "--plan"],  # lesson 11
    ],
)
def test_plans_on_a_mac(tmp_path: Path, argv: list[str]) -> None:
    result = on_a_mac(tmp_path, *argv, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "plan (nothing started)" in result.stdout


def test_a_fault_that_needs_proc_says_so_on_a_mac_before_starting_anything(tmp_path: Path) -> None:
    result = on_a_mac(tmp_path, "-m", "lab", "fault", "shutdown", "gunicorn-sync", timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: this fault reads which requests a server has taken from Linux's /proc/net/tcp, which this"
        " system lacks: run it on Linux, in WSL or in the dev container"
    ]


def test_a_cpu_burst_on_a_mac(tmp_path: Path) -> None:
    """Lessons 4 and 10: the theory counts the CPUs, and the server's CPU is measured, without affinity."""
    result = on_a_mac(tmp_path, "-m", "lab", "burst", "gunicorn-sync", "-n", "4", "--kind", "cpu", timeout=90)
    assert result.returncode == 0, result.stderr
    assert "computations; theory" in result.stdout


def test_a_comparison_on_a_mac_writes_the_whole_report(tmp_path: Path) -> None:
    """The hello scenario: locust, then wrk's peak unpinned (no affinity to pin with), then the report."""
    out = tmp_path / "report"
    result = on_a_mac(tmp_path, "compare.py", "--scenario", "hello", "--stacks", "uvicorn,gunicorn-sync",
                      "--users", "10", "--duration", "8", "--out", str(out), timeout=180)  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    assert (
        "the server shares the CPUs with wrk (one CPU, a CPU quota, or no CPU affinity on this OS)"
        in result.stdout
    )
    for name in (
        "summary.json",
        "summary.md",
        "chart.png",
        "locust-uvicorn.html",
        "locust-gunicorn-sync.html",
    ):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["environment"]["usable_cpus"] == min(os.cpu_count() or 1, quota_cpus())  # no affinity
    assert summary["environment"]["cpu_model"]  # platform.processor() where /proc/cpuinfo is not
    rows = {row["stack"]: row for row in summary["results"]}
    assert rows.keys() == {"uvicorn", "gunicorn-sync"}
    for row in rows.values():
        assert row["measured_rps"] > 100 and row["failures"] == 0
        assert row["peak_pinned"] is False and len(row["peak_runs_rps"]) == 3
        # wrk is the lab's child, reaped: its CPU is the lab's, though psutil counts no reaped children here.
        assert not row["machine_busy"], row["other_cpu_cores"]


@pytest.mark.parametrize("cpus", [1, 4, 8, 16])
def test_every_scenario_keeps_its_point_on_1_4_8_and_16_cpus(
    monkeypatch: pytest.MonkeyPatch, cpus: int
) -> None:
    """A student's laptop is not this 2-core machine: each plan, made there, still shows what it is for."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    cgroup_quota(monkeypatch, None)  # this machine's own limit, if it has one, is not the student's
    assert machine.usable_cpus() == cpus
    plans = {
        name: SCENARIOS[name].plan(parser(name).parse_args(["--scenario", name, "--plan"]))
        for name in SCENARIOS
    }
    # Waiting, the CPUs change nothing: 50 users cross the workers' and threads' limits, not the loop's.
    for name in ("slow", "db", "upstream"):
        load = plans[name].detail
        sync, loop = load.slots["gunicorn-sync"], load.slots["uvicorn"]
        assert sync.count == 4 < load.users and (loop.count or math.inf) > sync.count, name
    assert plans["pitfalls"].detail.slots["blocking-async"].count == 1
    # Computing, a process computes one request at a time, and no more processes at once than CPUs.
    computing = {name: slots.count for name, slots in plans["cpu"].detail.slots.items()}
    assert computing["gunicorn-sync"] == min(4, cpus) and computing["uvicorn-workers"] == min(2, cpus)
    assert computing["gunicorn-gthread"] == computing["uvicorn"] == 1  # threads, coroutines: one GIL
    # The open loop steps from below each bound to above it, whatever sets the bound.
    for name in ("overload", "overload-cpu"):
        for climb in plans[name].detail:
            assert min(climb.rates) < climb.bound < max(climb.rates), (name, climb.stack.name)
    bounds = {climb.stack.name: climb.bound for climb in plans["overload-cpu"].detail}
    assert bounds["gunicorn-sync"] == pytest.approx(min(4, cpus) * bounds["uvicorn"])
    # The hello scenario's peak: the server on its own CPUs where there are two or more.
    where = (
        "the server shares the CPUs with wrk"
        if cpus == 1
        else f"the server on CPU {cpu_list(frozenset(range(cpus // 2)))}"
    )
    assert not peak.installed() or where in " ".join(plans["hello"].said)
