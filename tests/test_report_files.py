"""A run's report folder is its own: two runs started in the same second never share one."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.errors import LabError
from lab.probes.hostile.engine import Case, Outcome, StackReport, differences
from lab.report.files import folder, release


def test_two_runs_in_the_same_second_get_two_folders(tmp_path: Path) -> None:
    default = tmp_path / "reports" / "20261206-140519-slow"
    first, second = folder(None, default), folder(None, default)
    assert (first.name, second.name) == ("20261206-140519-slow", "20261206-140519-slow-2")
    assert first.is_dir() and second.is_dir()


def test_an_out_folder_another_run_holds_is_refused(tmp_path: Path) -> None:
    out = folder(tmp_path / "report", tmp_path / "unused")
    with pytest.raises(LabError, match=r"another run .* is writing there"):
        folder(out, tmp_path / "unused")
    release(out)
    assert folder(out, tmp_path / "unused") == out  # free again once the first run is done


def test_an_earlier_report_is_replaced_and_anything_else_is_kept(tmp_path: Path) -> None:
    report = tmp_path / "report"
    report.mkdir()
    (report / "summary.json").write_text("{}")
    (report / "locust_stats.csv").write_text("old")
    assert folder(report, tmp_path / "unused") == report
    assert sorted(p.name for p in report.iterdir()) == [".running"]  # this run's mark, nothing old
    release(report)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(LabError, match="holds files that are not a report"):
        folder(tmp_path, tmp_path / "unused")
    assert (tmp_path / "notes.txt").read_text() == "mine"  # nothing lost


def test_when_no_stack_differs_the_table_says_so_and_shows_the_common_answer() -> None:
    case = Case("host-missing-http11", "reject", "RFC 9112 3.2", "", b"GET / HTTP/1.1\r\n\r\n")
    reports = [
        StackReport(name, {case.name: Outcome((400,), True)})
        for name in ("sync via nginx", "uvicorn via nginx")
    ]
    text = differences(reports, [case])
    assert text.startswith("No case was answered differently by the stacks.")
    assert "host-missing-http11 (expect reject): 400, closed" in text
