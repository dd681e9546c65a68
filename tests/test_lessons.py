"""Every lesson in docs/lessons/, run as a student runs it: each command, then each stated outcome.

A lesson is markdown. Its ```sh blocks are the commands, run in order from the repository
root with this environment's tools first on PATH. A command that starts a server (gunicorn,
uvicorn) keeps running on a free port, as it would in a second terminal, until the next
server command replaces it (the student's Ctrl-C) or the lesson ends. Its ```text blocks
are what the student should see: each line must appear among the lines printed since the
previous check (commands and servers alike), every number within the tolerance the
paragraph above the block states ("within 20%") when it is marked `~` (measured), exactly
when it is not (a count, a theory). `...` stands for any text, a lone `*` for any one word
(a column whose value does not matter). Where the paragraph above a block says "nothing
else:", the block is the whole output, and a line it does not show fails too. So a command
that breaks, a number that drifts, or output that changes shape fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab import ROOT
from lab.infra.processes import Server, free_port, stop_all
from tests.processes import launch

LESSONS = sorted((ROOT / "docs" / "lessons").glob("[0-9][0-9]-*.md"))
SECTIONS = ["## Predict", "## Run", "## Check", "## Why", "## Try"]
SERVER = re.compile(r"^(\w+=\S+ +)*(gunicorn|uvicorn)\b")
NUMBER = re.compile(r"~?-?\d[\d,]*(?:\.\d+)?")  # ~: measured, held to the tolerance; else exact


@dataclass
class Block:
    kind: str  # "sh" or "text"
    body: str
    tolerance: float  # for text: the "within N%" of the paragraph above, else exact
    whole: bool = False  # for text: the paragraph above says "nothing else:", so no other line may appear


def blocks(markdown: str) -> list[Block]:
    found = []
    for match in re.finditer(r"(?ms)^```(sh|text)\n(.*?)^```$", markdown):
        before = markdown[: match.start()].rstrip().rsplit("\n\n", 1)[-1]
        within = re.search(r"within (\d+)%", before, re.IGNORECASE)
        whole = "nothing else:" in before
        found.append(Block(match[1], match[2], int(within[1]) / 100 if within else 0.0, whole))
    return found


def number(text: str) -> float:
    return float(text.replace(",", ""))


def close(got: str, want: str, tolerance: float) -> bool:
    """A measured number (~) within the tolerance and its rounding (~1.0: 0.95 to 1.05); others exact."""
    if not want.startswith("~"):
        return number(got) == number(want)
    want = want[1:]
    decimals = len(want.partition(".")[2])
    slack = tolerance * abs(number(want)) + 0.5 * 10.0**-decimals
    return abs(number(got) - number(want)) <= slack


def line_pattern(line: str) -> tuple[re.Pattern[str], list[str]]:
    """A regex for an expected line: its words exact, its numbers captured, `...` any text, `*` any word."""
    parts, wanted = [], []
    for piece in re.split(r"(\.\.\.|(?<!\S)\*(?!\S)|~?-?\d[\d,]*(?:\.\d+)?)", " ".join(line.split())):
        if piece == "...":
            parts.append(".*?")
        elif piece == "*":
            parts.append(r"\S+")
        elif NUMBER.fullmatch(piece):
            parts.append(r"(-?\d[\d,]*(?:\.\d+)?)")  # the output's number, without the ~
            wanted.append(piece)
        else:
            parts.append(r"\s+".join(re.escape(word) for word in piece.split(" ")))
    return re.compile("".join(parts)), wanted


def unmatched(expected: str, output: str, tolerance: float, whole: bool = False) -> list[str]:
    """The expected lines that no distinct output line matches; with `whole`, any line left over too."""
    lines = [" ".join(line.split()) for line in output.splitlines() if line.strip()]
    missing = []
    for want in expected.splitlines():
        pattern, numbers = line_pattern(want)
        for i, line in enumerate(lines):
            match = pattern.fullmatch(line)
            pairs = zip(match.groups(), numbers, strict=True) if match else []
            if match and all(close(got, want, tolerance) for got, want in pairs):
                del lines[i]
                break
        else:
            missing.append(want)
    return missing + ([f"(not shown in the lesson) {line}" for line in lines] if whole else [])


def test_the_matcher_holds_numbers_to_their_tolerance() -> None:
    took = "8 requests of 0.5 s took 1.04 s = 2.08 sleeps; theory 2 (4 workers)"
    output = "\n".join(["real\t0m2.071s", "user\t0m0.120s", took])
    assert unmatched("real 0m~2.0s", output, 0.1) == []
    assert unmatched("real 0m~1.5s", output, 0.1) == ["real 0m~1.5s"]
    assert unmatched("... took ~1.0 s ...; theory 2 (4 workers)", output, 0.1) == []
    assert unmatched("... took ~1.0 s ...; theory 3 (4 workers)", output, 0.1) != []  # a theory is exact
    assert unmatched("... took 1.0 s ...; theory 2 (4 workers)", output, 0.5) != []  # unmarked: exact
    assert unmatched("real 0m~2.0s\nreal 0m~2.0s", output, 0.1) == ["real 0m~2.0s"]  # one line, one match
    assert unmatched("~1,200 rps", "1,180 rps", 0.05) == []
    assert unmatched("a ~20 * * 60,004 *", "a 21.5 0.2 0.29 60,004 0.8", 0.1) == []  # `*`: one column each
    assert unmatched("chart.png", "chart.png\nlogs\n", 0.0) == []
    assert unmatched("chart.png", "chart.png\nlogs\n", 0.0, whole=True) == ["(not shown in the lesson) logs"]


@pytest.mark.parametrize("lesson", LESSONS, ids=[path.stem for path in LESSONS])
def test_lesson_has_its_shape(lesson: Path) -> None:
    text = lesson.read_text()
    positions = [text.find(section) for section in SECTIONS]
    assert all(p > 0 for p in positions) and positions == sorted(positions), f"sections {SECTIONS} in order"
    found = blocks(text)
    assert any(b.kind == "sh" for b in found) and any(b.kind == "text" for b in found)
    assert f"]({lesson.name})" in (lesson.parent / "README.md").read_text(), "the lesson index links it"


@pytest.mark.parametrize("lesson", LESSONS, ids=[path.stem for path in LESSONS])
def test_lesson_runs_as_written(lesson: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOST": "127.0.0.1",  # gunicorn.conf.py binds HOST:PORT; uvicorn gets --port
        "PORT": str(port),
    }
    servers: list[Server] = []
    printed: list[str] = []  # output of the commands since the last check
    seen: dict[int, int] = {}  # how much of each server's log the checks have read
    try:
        for n, block in enumerate(blocks(lesson.read_text())):
            body = block.body.replace("8000", str(port))
            if block.kind == "sh" and SERVER.match(body):
                stop_all(servers)  # one server at a time, on one port: the student pressed Ctrl-C
                if SERVER.match(body)[2] == "uvicorn":  # type: ignore[index]  # it matched just above
                    body = body.rstrip() + f" --port {port}"
                server = launch(f"{lesson.stem} block {n}", ["bash", "-c", body], port, tmp_path / f"{n}.log",
                                env=env)  # fmt: skip
                server.wait_listening()
                servers.append(server)
            elif block.kind == "sh":
                done = subprocess.run(
                    ["bash", "-c", body], cwd=ROOT, env={**os.environ, **env}, capture_output=True,
                    text=True, timeout=240,
                )  # fmt: skip
                assert done.returncode == 0, f"{body}\nexited {done.returncode}:\n{done.stdout}{done.stderr}"
                printed.append(done.stdout + done.stderr)
            else:
                expected = block.body.replace("8000", str(port))
                # A server logs a request just after answering it: give its log a moment to catch up.
                deadline = time.monotonic() + 10
                while True:
                    logs = [server.log_path.read_text(errors="replace") for server in servers]
                    output = "\n".join(printed + [log[seen.get(i, 0) :] for i, log in enumerate(logs)])
                    missing = unmatched(expected, output, block.tolerance, block.whole)
                    if not missing or not servers or time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
                seen = {i: len(log) for i, log in enumerate(logs)}  # each check reads what is new
                assert not missing, f"expected {missing} within {block.tolerance:.0%} in:\n{output}"
                printed.clear()
    finally:
        stop_all(servers)
