"""The benchmark commands, run small: what they print must hold its shape and its direction."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_deflate_shrinks_a_large_message_on_the_wire() -> None:
    """wsproto with deflate on and off: the 60 KB JSON message crosses compressed only with it on."""
    result = run("lab", "websockets", "-n", "20", "--messages", "5", "--ws", "wsproto", "--no-gunicorn")
    assert result.returncode == 0, result.stderr
    # stack, kind, --ws, deflate, asked, held, KB/conn, echo p50, echo p95, bytes of the 60 KB message, open s
    table = [line.split() for line in result.stdout.splitlines() if line.startswith("uvicorn ")]
    rows = {row[3]: row for row in table if row[1:3] == ["websocket", "wsproto"]}
    assert set(rows) == {"on", "off"}
    assert all(row[5] == "20" for row in rows.values())  # every connection held, and active
    on_wire = {deflate: int(row[9].replace(",", "")) for deflate, row in rows.items()}
    assert on_wire["on"] < 15_000 < 60_000 <= on_wire["off"]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_wrk_measures_the_peak_per_server_cpu_and_the_cpu_per_request(tmp_path: Path) -> None:
    out = tmp_path / "wrk"
    result = run(
        "lab", "wrk", "--stacks", "uvicorn", "--duration", "1", "--runs", "2", "-c", "10", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "2 runs of 1 s" in result.stdout  # what it says it runs is what it ran
    # stack, access log, peak rps/CPU, min-max, CPU us/req, CPUs, busy, wrk CPU; the legend; the report
    name, log, per_cpu, spread, us, cpus, busy, wrk = result.stdout.splitlines()[-3].split()
    assert (name, log, cpus) == ("uvicorn", "on", "1")
    low, high = (float(x.replace(",", "")) for x in spread.split("-"))
    assert 100 < low <= float(per_cpu.lstrip(">=").replace(",", "")) <= high
    assert float(us.replace(",", "")) > 0
    assert 0 < int(busy.rstrip("%")) <= 110 and 0 < int(wrk.rstrip("%")) <= 110
    summary = json.loads((out / "summary.json").read_text())
    assert summary["machine_busy"] == ("WARNING: The machine was busy" in result.stdout)
    (kept,) = summary["results"]  # the table's row, and its runs
    assert kept["stack"] == "uvicorn" and f"{kept['per_cpu']:,.0f}" == per_cpu.lstrip(">=")
    assert len(kept["runs_per_cpu"]) == 2 and (out / "chart.png").stat().st_size > 10_000
