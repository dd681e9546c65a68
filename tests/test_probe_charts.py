"""The probes' pictures: which hostile cases get a row, and every picture drawn at a projector's size."""

from __future__ import annotations

import struct
from pathlib import Path

from lab.probes.h2 import Row as H2Row
from lab.probes.h2 import ways
from lab.probes.hostile.engine import Case, Outcome, StackReport
from lab.probes.wrk import Row as WrkRow
from lab.report.probes import contested, h2_rates, hostile_grid, peaks


def size(png: Path) -> tuple[int, int]:
    """Width and height from the PNG's header (its IHDR chunk)."""
    width, height = struct.unpack(">II", png.read_bytes()[16:24])
    return width, height


CASES = [Case(name, "either", "", "", b"") for name in ("same", "statuses", "closed-only", "deviates")]


def report(
    stack: str, statuses: dict[str, tuple[int, ...]], closed: bool, deviations: dict[str, str]
) -> StackReport:
    outcomes = {name: Outcome(answer, closed) for name, answer in statuses.items()}
    return StackReport(stack, outcomes, deviations=deviations, healthy_after=True)


def reports() -> list[StackReport]:
    answers: dict[str, tuple[int, ...]] = {
        "same": (400,),
        "statuses": (200,),
        "closed-only": (400,),
        "deviates": (200,),
    }
    other = {**answers, "statuses": (200, 400)}
    return [
        report("gunicorn-sync", answers, closed=True, deviations={}),
        report("uvicorn", other, closed=False, deviations={"deviates": "answered 200"}),
    ]


def test_a_case_gets_a_row_when_the_statuses_differ_or_a_stack_deviates() -> None:
    # "closed-only" differs only in who closed the connection, which the cells do not show: no row.
    assert [c.name for c in contested(reports(), CASES)] == ["statuses", "deviates"]


def test_each_probe_draws_1920_by_1080(tmp_path: Path) -> None:
    interfaces = {"gunicorn-sync": "WSGI", "uvicorn": "ASGI"}
    hostile_grid(reports(), CASES, interfaces, tmp_path / "hostile.png")
    h2 = [H2Row("uvicorn", w.name, "h2c" if w.name == "h2" else "http/1.1", w.connections, w.in_flight,
                w.in_flight / 1.0, w.in_flight * 0.97, 40, 0, 1030.0, 0.97) for w in ways(2, 4)]  # fmt: skip
    h2_rates(h2, ways(2, 4), interfaces, "h2", tmp_path / "h2.png")
    loop = WrkRow(
        "uvicorn", "ASGI", True, 16_000.0, [15_800.0, 16_000.0, 16_200.0], 62.0, 1, True, 1.0, 0.4, False
    )
    ceiling = WrkRow("gunicorn-sync", "WSGI", True, 4_300.0, [4_300.0], 230.0, 1, True, 0.5, 0.98, True)
    wrk = [loop, ceiling]
    peaks(wrk, "wrk", tmp_path / "wrk.png")
    for name in ("hostile", "h2", "wrk"):
        assert size(tmp_path / f"{name}.png") == (1920, 1080), name
