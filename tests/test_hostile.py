"""Hostile requests over raw sockets against every stack: no wrong 2xx, no smuggling, no lost worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lab import ROOT
from lab.probes.hostile.engine import Case, Outcome, differences, load_cases, run, violation
from lab.stacks import BY_NAME, STACKS


def test_every_stack_survives_the_corpus(tmp_path: Path) -> None:
    cases = load_cases()
    assert len(cases) >= 30
    reports = run(STACKS, cases, tmp_path)
    for report in reports:
        assert report.violations == {}, report.stack
        assert report.lost_workers == 0, report.stack
        assert report.healthy_after, report.stack
        # A known deviation that no longer happens must leave the case file: the list stays true.
        expected = {case.name for case in cases if report.stack in case.deviates}
        assert set(report.deviations) == expected, report.stack
    assert differences(reports, cases).count("\n") >= 2  # the stacks differ: docs/hostile.md's table


def test_a_second_answer_behind_ambiguous_framing_is_a_violation() -> None:
    case = Case("t", "either", "", "", b"", requests=1)
    assert violation(case, Outcome((200, 200), closed=False)) is not None
    assert violation(case, Outcome((200, 400), closed=True)) is None
    assert violation(Case("t", "reject", "", "", b""), Outcome((200,), closed=True)) is not None
    assert violation(Case("t", "reject", "", "", b""), Outcome((), closed=True)) is None


def test_the_command_keeps_every_answer_and_draws_the_cases_that_differ(tmp_path: Path) -> None:
    out = tmp_path / "hostile"
    result = subprocess.run(
        [sys.executable, "-m", "lab", "hostile", "--stacks", "gunicorn-sync,uvicorn",
         "--cases", "baseline-get,host-duplicated", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    sync, loop = json.loads((out / "summary.json").read_text())["results"]
    # host-duplicated: gunicorn's parser refuses two Host headers; uvicorn's httptools serves them.
    assert sync["outcomes"]["host-duplicated"]["statuses"] == [400]
    assert (
        loop["outcomes"]["host-duplicated"]["statuses"] == [200] and "host-duplicated" in loop["deviations"]
    )
    assert (out / "chart.png").stat().st_size > 10_000 and f"report in {out}" in result.stdout


def test_unknown_case_or_stack_is_one_line() -> None:
    for args, message in (
        (["--cases", "nope"], "unknown case 'nope'"),
        (["--stacks", "nginx"], "unknown stack"),
    ):
        result = subprocess.run([sys.executable, "-m", "lab", "hostile", *args], cwd=ROOT,
                                capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert result.returncode == 1
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_nginx_in_front_keeps_the_host_musts_and_answers_for_the_chain(tmp_path: Path) -> None:
    """Two Host MUSTs no stack keeps alone are kept through nginx; its own deviations are listed."""
    cases = load_cases()
    chosen = (BY_NAME["gunicorn-sync"], BY_NAME["uvicorn"])
    reports = run(chosen, cases, tmp_path, proxy="nginx")
    for report in reports:
        assert report.stack.endswith(" via nginx")
        assert report.violations == {}, report.stack
        assert set(report.deviations) == {case.name for case in cases if "nginx" in case.deviates}
        for host_case in ("host-missing-http11", "host-duplicated"):
            assert report.outcomes[host_case].statuses[:1] == (400,), (report.stack, host_case)
        assert report.lost_workers == 0 and report.healthy_after
