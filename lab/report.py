"""The comparison's outputs: summary.json, summary.md, the printed table and chart.png."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass
class Result:
    stack: str
    interface: str
    slots: int | None  # None: unbounded, only the CPU limits it
    users: int
    bound_rps: float  # what theory allows: Little's law (slow), or the server's CPU cost (hello)
    measured_rps: float  # over the steady-state window
    efficiency: float  # measured / bound
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int  # completed in the whole run
    failures: int
    generator_bound: bool  # the load generator, not the server, limited the result
    server_cpu_us_per_request: float
    projected_rps_per_core: float  # 1 s of one core / the server's CPU per request
    server_cpu_cores: float  # cores the server tree kept busy during the window
    locust_cpu_peak: float  # the busiest locust process, in cores (1.0 = saturated)
    window_s: float
    scenario: str
    explanation: str


def write_json(path: Path, results: Sequence[Any]) -> None:
    """One object per result; JSON has no NaN, so a number that could not be measured is null."""
    rows = [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(r).items()}
        for r in results
    ]
    path.write_text(json.dumps(rows, indent=2, allow_nan=False) + "\n")


def write(out: Path, results: list[Result], title: str, notes: list[str]) -> None:
    write_json(out / "summary.json", results)
    (out / "summary.md").write_text(markdown(results, title, notes))
    if results:
        chart(results, title, out / "chart.png")


def fmt(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def table(results: list[Result]) -> list[list[str]]:
    rows = [["stack", "iface", "slots", "users", "bound rps", "measured rps", "eff.", "p50 ms", "p95 ms",
             "CPU us/req", "fail", "note"]]  # fmt: skip
    for r in results:
        rows.append(
            [r.stack, r.interface, "inf" if r.slots is None else str(r.slots), str(r.users),
             fmt(r.bound_rps), fmt(r.measured_rps), f"{r.efficiency:.0%}", fmt(r.p50_ms, 0), fmt(r.p95_ms, 0),
             fmt(r.server_cpu_us_per_request, 0), str(r.failures),
             "GENERATOR-BOUND" if r.generator_bound else ""]
        )  # fmt: skip
    return rows


def text_table(results: list[Result]) -> str:
    rows = table(results)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.append("")
    lines += [f"{r.stack}: {r.explanation}" for r in results]
    return "\n".join(lines)


def markdown(results: list[Result], title: str, notes: list[str]) -> str:
    rows = table(results)
    lines = [f"# {title}", "", "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    lines += ["", *[f"- **{r.stack}**: {r.explanation}" for r in results]]
    if notes:
        lines += ["", *[f"> {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def chart(results: list[Result], title: str, path: Path) -> None:
    import matplotlib  # imported here: only the chart needs it, and it is slow to import

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    names = [r.stack for r in results][::-1]
    data = results[::-1]
    y = range(len(names))
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 1.2 + 0.55 * len(names)), sharey=True)
    left.barh(
        [i + 0.2 for i in y], [r.bound_rps for r in data], height=0.4, color="#cfd8dc", label="theory (bound)"
    )
    colors = ["#e57373" if r.generator_bound else "#1976d2" for r in data]
    left.barh(
        [i - 0.2 for i in y], [r.measured_rps for r in data], height=0.4, color=colors, label="measured"
    )
    for i, r in zip(y, data, strict=True):
        flag = "  generator-bound" if r.generator_bound else ""
        left.text(
            r.measured_rps,
            i - 0.2,
            f" {r.measured_rps:,.1f} ({r.efficiency:.0%}){flag}",
            va="center",
            fontsize=8,
        )
    left.set_yticks(list(y), names)
    top = max((v for r in data for v in (r.bound_rps, r.measured_rps) if math.isfinite(v)), default=1.0)
    left.set_xlim(0, 1.35 * top or 1.0)  # room for the labels
    left.set_xlabel("requests per second")
    left.set_title("throughput: measured vs bound")
    left.legend(loc="upper right", fontsize=8)
    percentiles = (("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"))
    for offset, (label, attr) in zip((0.25, 0, -0.25), percentiles, strict=True):
        right.barh([i + offset for i in y], [getattr(r, attr) for r in data], height=0.25, label=label)
    # Little's law read the other way: time in system = users in flight / throughput.
    theory = [r.users / r.bound_rps * 1000 if r.bound_rps else math.nan for r in data]
    right.scatter(theory, list(y), marker="|", s=400, color="black", zorder=3, label="theory: users / bound")
    right.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    right.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    right.xaxis.set_major_formatter(plain)
    right.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    right.set_xlabel("latency, ms (log scale)")
    right.set_title("latency percentiles")
    right.legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
