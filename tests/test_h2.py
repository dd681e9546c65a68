"""HTTP/2 beside HTTP/1.1: h2load (Debian's nghttp2-client) against real servers, over loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab import ROOT
from lab.errors import LabError
from lab.infra.processes import running
from lab.probes.h2 import measure, parse, speakers, speaking, ways
from lab.stacks import BY_NAME, STACKS

SLOW = 0.2

# h2load 1.52's summary, as printed for 400 requests of 0.5 s over 2 connections x 50 streams.
SAMPLE = """\
starting benchmark...
spawning thread #0: 2 total client(s). 400 total requests
Application protocol: h2c
progress: 10% done
finished in 2.01s, 199.00 req/s, 9.58KB/s
requests: 400 total, 400 started, 400 done, 398 succeeded, 2 failed, 0 errored, 0 timeout
status codes: 398 2xx, 0 3xx, 0 4xx, 2 5xx
traffic: 19.27KB (19732) total, 4.28KB (4380) headers (space savings 78.38%), 5.47KB (5600) data
                     min         max         mean         sd        +/- sd
time for request:   500.51ms    503.39ms    501.41ms      0.64ms    67.00%
time for connect:      120us       207us       163us        43us   100.00%
"""


def test_parse_reads_the_summary() -> None:
    assert parse(SAMPLE) == ("h2c", 2.01, 398, 2, 501.41)
    fast = SAMPLE.replace("finished in 2.01s", "finished in 501.20ms").replace("501.41ms", "950us")
    assert parse(fast) == pytest.approx(("h2c", 0.5012, 398, 2, 0.95))


def test_parse_counts_http11_answers_whose_status_h2load_did_not_record() -> None:
    """An empty reason phrase ("HTTP/1.1 200 ", h11's, so Hypercorn's) leaves h2load's status counts at 0."""
    unseen = (
        SAMPLE.replace("398 succeeded, 2 failed", "0 succeeded, 400 failed")
        .replace("398 2xx, 0 3xx, 0 4xx, 2 5xx", "0 2xx, 0 3xx, 0 4xx, 0 5xx")
        .replace("0 errored, 0 timeout", "3 errored, 1 timeout")
    )
    assert parse(unseen.replace("h2c", "http/1.1")) == ("http/1.1", 2.01, 396, 4, 501.41)


def test_parse_refuses_output_without_a_summary() -> None:
    with pytest.raises(LabError, match="h2load printed no summary"):
        parse("starting benchmark...\nNo protocol negotiated. Aborted.\n")


def test_ways_keep_the_connections_and_then_the_streams_in_flight() -> None:
    h2, h1, many = ways(2, 50)
    assert (h2.in_flight, h1.in_flight, many.in_flight) == (100, 2, 100)
    assert h2.argv(400, "http://x/") == ["h2load", "-n", "400", "-c", "2", "-m", "50", "http://x/"]
    assert many.argv(400, "http://x/") == ["h2load", "-n", "400", "-c", "100", "--h1", "http://x/"]


@pytest.mark.parametrize("name", [s.name for s in speakers()])
def test_streams_multiply_what_few_connections_carry(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 connections: HTTP/1.1 serves 2 at once, HTTP/2 2 x 10 streams, as 20 HTTP/1.1 connections do."""
    monkeypatch.setenv("SLOW_SECONDS", str(SLOW))
    h2, h1, many = measure(BY_NAME[name], ways(2, 10), rounds=3, log_dir=tmp_path)
    assert (h2.protocol, h1.protocol, many.protocol) == ("h2c", "http/1.1", "http/1.1")
    for row in (h2, h1, many):
        assert row.failed == 0, row
        assert row.measured_rps <= 1.1 * row.predicted_rps, row  # no more than Little's law allows
    assert h2.measured_rps >= 0.6 * h2.predicted_rps, h2
    stack = BY_NAME[name]
    if not stack.server.streams_overlap(stack.reading()):  # gthread: a connection's streams take turns
        assert h2.predicted_rps == h1.predicted_rps == 2 / SLOW
        assert h2.measured_rps <= 1.5 * h1.measured_rps, (h2, h1)
    else:  # the streams overlap; slots cap granian-wsgi at 16 of the 20
        slots = BY_NAME[name].slots(BY_NAME[name].slow).count or 20
        assert h2.predicted_rps == pytest.approx(min(20, slots) / SLOW)
        assert h2.measured_rps >= 3 * h1.measured_rps, (h2, h1)


@pytest.mark.parametrize("name", [s.name for s in STACKS if not s.pitfall and s not in speakers()])
def test_the_servers_left_out_refuse_cleartext_http2(name: str, tmp_path: Path) -> None:
    """The stated reason holds: h2load's prior-knowledge connection gets no HTTP/2 answer."""
    with running([BY_NAME[name]], "hello", tmp_path) as (server,):
        done = subprocess.run(["h2load", "-n", "1", "-c", "1", server.url + "/"], capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip
    assert "1 succeeded" not in done.stdout, done.stdout
    with pytest.raises(LabError, match=f"^{name}: "):
        speaking(BY_NAME[name])


def test_the_command_keeps_its_rows_in_summary_json_and_draws_them(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lab", "h2", "--stacks", "hypercorn", "-c", "1", "-m", "4", "--rounds", "1",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "SLOW_SECONDS": str(SLOW)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["environment"]["versions"]["hypercorn"] == "0.18.0"
    h2, h1, many = summary["results"]
    assert [r["protocol"] for r in (h2, h1, many)] == ["h2c", "http/1.1", "http/1.1"]
    assert (h2["in_flight"], h1["in_flight"], many["in_flight"]) == (4, 1, 4)
    assert h2["predicted_rps"] == pytest.approx(4 / SLOW) and h1["predicted_rps"] == pytest.approx(1 / SLOW)
    assert h2["of_bound"] == pytest.approx(h2["measured_rps"] / h2["predicted_rps"], abs=0.001)
    assert (tmp_path / "chart.png").stat().st_size > 10_000  # the three ways beside their predictions


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--stacks", "daphne"], 1, "daphne: Daphne speaks HTTP/2 only over TLS"),
        (["--stacks", "gunicorn-sync"], 1, "gunicorn-sync: gunicorn's sync worker speaks no HTTP/2"),
        (["--stacks", "nope"], 1, "unknown stack 'nope'"),
        (["-m", "0"], 2, "'0' must be positive"),
        (["-m", "200"], 1, "-m 200: these servers allow 100 streams per connection at once"),
    ],
)
def test_bad_input_is_one_line(args: list[str], code: int, message: str) -> None:
    done = subprocess.run([sys.executable, "-m", "lab", "h2", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == code
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
