"""The charts the lab writes: bars beside their bounds (closed loop), latency against offered load.

matplotlib is imported inside each function: only the charts need it, and it is slow to import.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lab.report.format import pct

if TYPE_CHECKING:
    from lab.report.closed import Result
    from lab.report.openloop import Row, StackSummary


def bars(results: Sequence[Result], title: str, path: Path) -> None:
    """Closed loop: measured throughput beside its bound, and the latency percentiles, per stack."""
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
    # hello: the server's peak under wrk, its median run, the others as an error bar.
    runs = [r.peak_runs_rps or [math.nan] for r in data]
    reference = [
        statistics.median(each) if hello else r.bound_rps for each, r in zip(runs, data, strict=True)
    ]
    below = [m - min(each) for m, each in zip(reference, runs, strict=True)]
    above = [max(each) - m for m, each in zip(reference, runs, strict=True)]
    left.barh(
        [i + 0.2 for i in y],
        reference,
        height=0.4,
        color="#cfd8dc",
        xerr=[below, above] if hello else None,
        label="peak under wrk (median, min-max)" if hello else "theory (bound)",
    )
    colors = ["#e57373" if r.generator_bound else "#1976d2" for r in data]
    left.barh(
        [i - 0.2 for i in y],
        [r.measured_rps for r in data],
        height=0.4,
        color=colors,
        label="one locust process" if hello else "measured",
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
    left.set_title("throughput: " + ("one locust process vs the peak" if hello else "measured vs bound"))
    # Legends go in a strip under the axes, so they never cover a bar or its label.
    fig.legend(
        *left.get_legend_handles_labels(), loc="lower center", bbox_to_anchor=(0.27, 0), ncol=2, fontsize=8
    )
    percentiles = (("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"))
    for offset, (label, attr) in zip((0.25, 0, -0.25), percentiles, strict=True):
        # A hatched bar is a lower bound: requests still waiting at the stop were counted as they stood.
        hatches = ["//" if label in r.latency_lower_bounds else "" for r in data]
        right.barh(
            [i + offset for i in y], [getattr(r, attr) for r in data], height=0.25, label=label, hatch=hatches
        )
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
    fig.legend(
        *right.get_legend_handles_labels(), loc="lower center", bbox_to_anchor=(0.75, 0), ncol=4, fontsize=8
    )
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.45 / height, 1, 1))  # 0.45 inch kept free for the legends
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency_vs_offered(
    rows: Sequence[Row], summaries: Sequence[StackSummary], title: str, path: Path
) -> None:
    """Open loop: latency against offered load, p50 and p99 per stack, each bound marked."""
    import matplotlib  # only the chart needs it, and it is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(11, 5.5))
    palette = plt.get_cmap("tab10" if len(summaries) <= 10 else "tab20")  # a colour each, up to 20
    for i, s in enumerate(summaries):
        color = palette(i % palette.N)
        climb = [r for r in rows if r.stack == s.stack and r.phase == "climb"]
        offered = [r.offered_rps for r in climb]
        ax.plot(offered, [r.p99_ms for r in climb], marker="o", color=color, label=s.stack)
        ax.plot(offered, [r.p50_ms for r in climb], ls=":", color=color)
        if math.isfinite(s.bound_rps):
            ax.axvline(s.bound_rps, color=color, ls="--", lw=1)
            ax.text(
                s.bound_rps,
                0.02,
                f" bound {s.bound_rps:.0f} rps",
                color=color,
                rotation=90,
                va="bottom",
                fontsize=8,
                transform=ax.get_xaxis_transform(),
            )
    if not summaries:
        plt.close(fig)
        return
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("offered load, requests per second (arrivals on a clock)")
    ax.set_ylabel("latency, ms (log scale): p99 solid, p50 dotted")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the lines, not on them
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
