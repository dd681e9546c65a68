"""Send every hostile request of lab/probes/hostile/ to every stack over a raw socket; check and compare."""

from __future__ import annotations

import codecs
import re
import socket
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from lab.errors import LabError
from lab.infra.processes import StackServer, http_get, running
from lab.infra.proxy import Endpoint, fronted
from lab.servers.base import Stack

CASES_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Case:
    name: str
    expect: str  # "reject" | "accept" | "either"
    rfc: str
    about: str
    raw: bytes
    requests: int = 1  # well-formed requests in `raw`: more 2xx answers than this is smuggling
    deviates: tuple[str, ...] = ()  # stacks known to break the expectation: reported, not failed


@dataclass(frozen=True)
class Outcome:
    statuses: tuple[int, ...]  # every response seen on the connection, in order
    closed: bool  # the server closed the connection

    def describe(self) -> str:
        answer = "+".join(map(str, self.statuses)) or "no answer"
        return answer + (", closed" if self.closed else "")


def load_cases(names: list[str] | None = None) -> list[Case]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text())
        text = data["raw"].replace("{fill}", data.get("fill", "") * data.get("fill_count", 0))
        # Escapes (\r\n, \x00, \xff) to the exact bytes; latin-1 maps each code point to one byte.
        raw = codecs.decode(text, "unicode_escape").encode("latin-1")
        cases.append(
            Case(
                path.stem,
                data["expect"],
                data["rfc"],
                data["about"],
                raw,
                data.get("requests", 1),
                tuple(data.get("deviates", ())),
            )
        )
    if names:
        known = {case.name for case in cases}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise LabError(f"unknown case {unknown[0]!r}; the cases are the files in {CASES_DIR}")
        cases = [case for case in cases if case.name in names]
    return cases


def send(host: str, port: int, raw: bytes, idle: float = 1.0) -> Outcome:
    """Send raw bytes, then read until the server closes or stays silent for `idle` seconds."""
    received = b""
    closed = False
    with socket.create_connection((host, port), timeout=5) as sock:
        try:
            sock.sendall(raw)
        except OSError:  # the server may slam the door mid-request (oversized input)
            closed = True
        sock.settimeout(idle)
        while not closed:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError:  # connection reset
                closed = True
                break
            if not chunk:
                closed = True
            received += chunk
    statuses = tuple(int(code) for code in re.findall(rb"(?:^|\r?\n)HTTP/1\.[01] (\d{3})", received))
    return Outcome(statuses, closed)


def violation(case: Case, outcome: Outcome) -> str | None:
    """What is wrong with this answer, or None."""
    if sum(200 <= status < 300 for status in outcome.statuses) > case.requests:
        return "answered a request hidden behind the first one's framing (smuggled)"
    first = outcome.statuses[0] if outcome.statuses else None
    if case.expect == "reject" and first is not None and 200 <= first < 300:
        return f"answered {first} to a request that must be rejected"
    if case.expect == "accept" and (first is None or not 200 <= first < 300):
        return f"did not answer a valid request with 2xx ({outcome.describe()})"
    return None


@dataclass
class StackReport:
    stack: str
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    violations: dict[str, str] = field(default_factory=dict)
    deviations: dict[str, str] = field(default_factory=dict)  # known ones, listed in the case file
    lost_workers: int = 0
    healthy_after: bool = False


def workers(server: StackServer) -> set[int]:
    return {child.pid for child in psutil.Process(server.process.pid).children(recursive=True)}


def attack(server: StackServer, cases: list[Case], entry: Endpoint, proxy: str | None = None) -> StackReport:
    """Every case sent to `entry`: the server itself, or the proxy in front of it."""
    report = StackReport(server.stack.name + (f" via {proxy}" if proxy else ""))
    before = workers(server)
    for case in cases:
        outcome = send(entry.host, entry.port, case.raw)
        report.outcomes[case.name] = outcome
        if problem := violation(case, outcome):
            known = (proxy or server.stack.name) in case.deviates  # a proxy in front answers for itself
            (report.deviations if known else report.violations)[case.name] = problem
    report.healthy_after = http_get(entry.host, entry.port, "/", timeout=10)[0] == 200
    report.lost_workers = len(before - workers(server))  # a worker that crashed was replaced by a new pid
    if server.process.poll() is not None:
        report.lost_workers += 1
    return report


def run(
    chosen: tuple[Stack, ...], cases: list[Case], log_dir: Path, proxy: str | None = None
) -> list[StackReport]:
    # Slow apps with a short sleep: every stack of the matrix, the pitfalls included, answers fast.
    with (
        running(chosen, "slow", log_dir, env={"SLOW_SECONDS": "0.05"}) as servers,
        fronted(proxy, servers, log_dir) as entries,
        ThreadPoolExecutor() as pool,
    ):
        pairs = zip(servers, entries, strict=True)
        return list(pool.map(lambda pair: attack(pair[0], cases, pair[1], proxy), pairs))


def differences(reports: list[StackReport], cases: list[Case]) -> str:
    """A markdown table of the cases where the stacks answered differently, then those where none did."""
    header = "| case | expect | " + " | ".join(r.stack for r in reports) + " |"
    lines = [header, "|" + "---|" * (len(reports) + 2)]
    same = []
    for case in cases:
        seen = [r.outcomes[case.name].describe() for r in reports]
        if len(set(seen)) > 1:
            lines.append(f"| {case.name} | {case.expect} | " + " | ".join(seen) + " |")
        elif seen:
            same.append(f"{case.name} (expect {case.expect}): {seen[0]}")
    table = "\n".join(lines) if len(lines) > 2 else "No case was answered differently by the stacks."
    everywhere = (
        f"Answered the same by {'every stack' if len(reports) > 1 else reports[0].stack if reports else '-'}:"
    )
    return "\n".join([table, *(["", everywhere, *same] if same else [])])
