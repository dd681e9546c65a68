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
    scenario: str
    users: int
    slots: int | None  # requests served at once; None: unbounded, only the CPU limits it
    slots_why: str  # derived from the command the stack ran
    binding: str  # what sets the requests in flight: "users", or the smallest limit in the chain
    processes: int  # processes serving requests
    bound_rps: float  # Little's law (slow scenarios); nan for hello, which has no such bound
    measured_rps: float  # successful completions per second over the steady-state window
    steady: bool  # the rate held over the window; if not, measured_rps is the plain average
    efficiency: float  # measured / bound
    p50_ms: float  # of successful requests, and of any still waiting that outlived them all (at their age)
    p95_ms: float
    p99_ms: float
    latency_lower_bounds: list[str]  # which percentiles still-waiting requests may have pulled down
    requests: int  # recorded over the whole run, every outcome
    ok: int  # successful, in the window
    failures: int  # failed, in the window: never in throughput or latency
    failure_rps: float
    failure_reasons: list[str]
    censored: int  # still waiting when the run stopped
    generator_bound: bool  # the load generator, not the server, limited the result
    server_cpu_us_per_request: float  # server CPU over an interval / requests finished in that interval
    capacity_rps: float  # hello: what the server could serve if the generator were free
    capacity_basis: str  # how capacity_rps was derived
    utilisation: float  # share of its usable cores the server kept busy
    server_cpu_cores: float  # cores the server tree kept busy during the window
    locust_cpu_peak: float  # the busiest locust process, in cores (1.0 = saturated)
    window_s: float
    explanation: str
    proxy: str | None = None  # what stood in front of the server (--proxy), if anything
    proxy_cpu_us_per_request: float = float("nan")  # its CPU over the interval / requests through it


def nulls(value: Any) -> Any:
    """JSON has no NaN: "not measured" is written as null, however deep it sits."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: nulls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [nulls(v) for v in value]
    return value


def write_json(path: Path, results: Sequence[Any], environment: dict[str, Any], **extra: Any) -> None:
    """The run's environment, any other sections, and one object per result."""
    summary = {"environment": environment, **extra, "results": [asdict(r) for r in results]}
    path.write_text(json.dumps(nulls(summary), indent=2, allow_nan=False) + "\n")


def write(
    out: Path, results: list[Result], title: str, notes: list[str], environment: dict[str, Any]
) -> None:
    write_json(out / "summary.json", results, environment)
    (out / "summary.md").write_text(markdown(results, title, notes))
    if results:
        chart(results, title, out / "chart.png")


def fmt(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0%}"


def table(results: list[Result]) -> list[list[str]]:
    """Slow scenarios: each stack beside its Little's-law bound. hello: capacity and utilisation instead."""
    hello = any(r.scenario == "hello" for r in results)
    theory = ["capacity rps", "util."] if hello else ["bound rps", "eff."]
    rows = [["stack", "iface", "slots", "users", "limit", theory[0], "measured rps", theory[1], "p50 ms",
             "p95 ms", "p99 ms", "CPU us/req", "fail", "waiting", "note"]]  # fmt: skip
    for r in results:
        bounded = r.latency_lower_bounds
        p50, p95, p99 = (
            (">=" if q in bounded else "") + fmt(value, 0)
            for q, value in (("p50", r.p50_ms), ("p95", r.p95_ms), ("p99", r.p99_ms))
        )
        rows.append(
            [r.stack, r.interface, "inf" if r.slots is None else str(r.slots), str(r.users),
             "-" if hello else r.binding,
             fmt(r.capacity_rps, 0) if hello else fmt(r.bound_rps),
             fmt(r.measured_rps), pct(r.utilisation) if hello else pct(r.efficiency),
             p50, p95, p99,
             fmt(r.server_cpu_us_per_request, 0), str(r.failures), str(r.censored),
             "GENERATOR-BOUND" if r.generator_bound else ""]
        )  # fmt: skip
    return rows


def numeric(cell: str) -> bool:
    return cell.lstrip(">=").replace(",", "").replace(".", "").rstrip("%").isdigit() or cell in ("-", "inf")


def aligned(rows: Sequence[Sequence[str]]) -> str:
    """Every table the lab prints: a header, a rule, numbers to the right, words to the left."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = [all(numeric(row[i]) for row in rows[1:]) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(row, widths, right, strict=True)
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def markdown_table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Every table the lab writes to a .md file."""
    return [
        "| " + " | ".join(rows[0]) + " |",
        "|" + "---|" * len(rows[0]),
        *["| " + " | ".join(row) + " |" for row in rows[1:]],
    ]


# The table's words, said once under it (docs/glossary.md has them at more length).
LEGEND = (
    "slots: requests the stack serves at once, read from its command; limit: what binds them "
    "(workers, threads, a pool, the GIL or the CPUs; users when the stack could take more); "
    "bound: Little's law, slots in flight / time per request; eff.: measured / bound; "
    "capacity (hello): the server's cores / its CPU per request; util.: the share of them it used; "
    "CPU us/req: server CPU per request; waiting: requests still open when the run stopped."
)


def text_table(results: list[Result]) -> str:
    rows = [aligned(table(results)), LEGEND, ""]
    return "\n".join([*rows, *[f"{r.stack}: {r.explanation}" for r in results]])


def markdown(results: list[Result], title: str, notes: list[str]) -> str:
    lines = [f"# {title}", "", *markdown_table(table(results)), "", LEGEND]
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
    height = 2.0 + 0.55 * len(names)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, height), sharey=True)
    hello = any(r.scenario == "hello" for r in data)
    reference = [r.capacity_rps if hello else r.bound_rps for r in data]
    left.barh(
        [i + 0.2 for i in y], reference, height=0.4, color="#cfd8dc",
        label="capacity from server CPU" if hello else "theory (bound)",
    )  # fmt: skip
    colors = ["#e57373" if r.generator_bound else "#1976d2" for r in data]
    left.barh(
        [i - 0.2 for i in y], [r.measured_rps for r in data], height=0.4, color=colors, label="measured"
    )
    for i, r in zip(y, data, strict=True):
        flag = "  generator-bound" if r.generator_bound else ""
        left.text(
            r.measured_rps,
            i - 0.2,
            f" {r.measured_rps:,.1f} ({pct(r.utilisation if hello else r.efficiency)}){flag}",
            va="center",
            fontsize=8,
        )
    left.set_yticks(list(y), names)
    top = max((v for v in [*reference, *(r.measured_rps for r in data)] if math.isfinite(v)), default=1.0)
    left.set_xlim(0, 1.35 * top or 1.0)  # room for the labels
    left.set_xlabel("requests per second")
    left.set_title("throughput: measured vs " + ("capacity" if hello else "bound"))
    # Legends go in a strip under the axes, so they never cover a bar or its label.
    fig.legend(*left.get_legend_handles_labels(), loc="lower center", bbox_to_anchor=(0.27, 0), ncol=2,
               fontsize=8)  # fmt: skip
    percentiles = (("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"))
    for offset, (label, attr) in zip((0.25, 0, -0.25), percentiles, strict=True):
        # A hatched bar is a lower bound: requests still waiting at the stop were counted as they stood.
        hatches = ["//" if label in r.latency_lower_bounds else "" for r in data]
        right.barh([i + offset for i in y], [getattr(r, attr) for r in data], height=0.25, label=label,
                   hatch=hatches)  # fmt: skip
    # Little's law read the other way: time in system = users in flight / throughput.
    if not hello:
        theory = [r.users / r.bound_rps * 1000 for r in data]
        right.scatter(
            theory, list(y), marker="|", s=400, color="black", zorder=3, label="theory: users / bound"
        )
    right.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    right.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    right.xaxis.set_major_formatter(plain)
    right.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    right.set_xlabel("latency, ms (log scale)")
    right.set_title("latency percentiles")
    fig.legend(*right.get_legend_handles_labels(), loc="lower center", bbox_to_anchor=(0.75, 0), ncol=4,
               fontsize=8)  # fmt: skip
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.45 / height, 1, 1))  # 0.45 inch kept free for the legends
    fig.savefig(path, dpi=110)
    plt.close(fig)
