"""The charts the lab writes: bars beside their bounds (closed loop), latency against offered load.

matplotlib is imported inside each function: only the charts need it, and it is slow to import.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from lab.report.format import pct

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lab.measure.slots import Queue
    from lab.report.closed import Result
    from lab.report.held import Held
    from lab.report.openloop import Row, StackSummary


T = TypeVar("T")
COLOURS = {"WSGI": "#1565c0", "ASGI": "#e65100"}  # the split the lesson is about: one hue each, everywhere
GREY = "#b0bec5"
SIZE = (19.2, 10.8)  # inches at 100 dpi: 1920x1080, a projector's picture
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
FONT = 16  # points at that size: readable from the back of a room (14 at the least)
OTHER = "#424242"  # a stack of neither interface (a proxy's row)


def wsgi_on_top(names: Sequence[str], interfaces: Mapping[str, str]) -> list[str]:
    """Bottom-up order for a horizontal chart: the WSGI rows on top, each group in the order given."""
    return sorted(names, key=lambda name: interfaces.get(name) != "WSGI")[::-1]


def label_rows(ax: Axes, names: Sequence[str], interfaces: Mapping[str, str], y: Sequence[float]) -> None:
    """Each row named in its interface's colour, with a rule between the WSGI rows and the others."""
    ax.set_yticks(list(y), list(names))
    for label, name in zip(ax.get_yticklabels(), names, strict=True):
        label.set_color(COLOURS.get(interfaces.get(name, ""), OTHER))
    wsgi = [i for i, name in zip(y, names, strict=True) if interfaces.get(name) == "WSGI"]
    if wsgi and len(wsgi) < len(names):
        ax.axhline(min(wsgi) - 0.5, color="black", lw=1.5)


def bars(results: Sequence[Result], title: str, path: Path) -> None:
    """Closed loop: measured throughput beside its bound, and the latency percentiles, per stack.

    WSGI rows on top, then ASGI, each group in its colour with a rule between them. Latency is on
    a linear axis from 0, so a 1 s bar and a 12 s bar look as different as they are.
    """
    import matplotlib  # imported here: only the chart needs it, and it is slow to import

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    data = sorted(results, key=lambda r: r.interface != "WSGI")[::-1]  # drawn bottom up: WSGI on top
    with plt.rc_context({"font.size": FONT}):
        fig, (left, right) = plt.subplots(1, 2, figsize=SIZE, sharey=True)
        throughput(left, data)
        latency(right, data)
        if len({r.interface for r in data}) > 1:  # a rule between the WSGI rows and the ASGI ones
            split = sum(1 for r in data if r.interface != "WSGI") - 0.5
            for ax in (left, right):
                ax.axhline(split, color="black", lw=1.5)
        handles = legend_handles(data)
        fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=FONT - 2, frameon=False)
        fig.suptitle(title, fontsize=FONT + 2)
        fig.tight_layout(rect=(0, 0.05 * math.ceil(len(handles) / 5), 1, 1))  # the legend's strip kept free
        fig.savefig(path, dpi=100)
        plt.close(fig)


def colour(r: Result) -> str:
    return COLOURS.get(r.interface, OTHER)


def throughput(ax: Axes, data: Sequence[Result]) -> None:
    """Left: each stack's bound (grey; hello: its peak under wrk) and what it measured (its colour)."""
    y = range(len(data))
    hello = any(r.scenario == "hello" for r in data)
    # hello: the server's peak under wrk, its median run, the others as an error bar.
    runs = [r.peak_runs_rps or [math.nan] for r in data]
    reference = [
        statistics.median(each) if hello else r.bound_rps for each, r in zip(runs, data, strict=True)
    ]
    spread = [
        [m - min(each) for m, each in zip(reference, runs, strict=True)],
        [max(each) - m for m, each in zip(reference, runs, strict=True)],
    ]
    ax.barh([i + 0.2 for i in y], reference, height=0.4, color=GREY, xerr=spread if hello else None)
    measured = [r.measured_rps for r in data]
    hatches = ["xx" if r.generator_bound else "" for r in data]
    ax.barh([i - 0.2 for i in y], measured, height=0.4, color=[colour(r) for r in data], hatch=hatches)
    for i, r in zip(y, data, strict=True):
        share = pct(r.utilisation if hello else r.efficiency)
        flag = "  generator-bound" if r.generator_bound else ""
        ax.text(
            r.measured_rps, i - 0.2, f" {r.measured_rps:,.1f} ({share}){flag}", va="center", fontsize=FONT - 2
        )
    ax.set_yticks(list(y), [r.stack for r in data])
    for label, r in zip(ax.get_yticklabels(), data, strict=True):
        label.set_color(colour(r))
    top = max((v for v in [*reference, *measured] if math.isfinite(v)), default=1.0)
    ax.set_xlim(0, 1.4 * top or 1.0)  # room for the labels
    ax.set_xlabel("requests per second")
    ax.set_title("throughput: " + ("one locust process vs the peak" if hello else "measured vs bound"))


PERCENTILES = (("p50", "p50_ms", 1.0), ("p95", "p95_ms", 0.6), ("p99", "p99_ms", 0.3))  # darkest first


def latency(ax: Axes, data: Sequence[Result]) -> None:
    """Right: p50, p95, p99 per stack, in its colour, darkest first, on a linear axis from 0."""
    import matplotlib.ticker

    for offset, (label, attr, alpha) in zip((0.27, 0, -0.27), PERCENTILES, strict=True):
        for i, r in enumerate(data):
            # A hatched bar is a lower bound: requests still waiting at the stop were counted as they stood.
            lower = "//" if label in r.latency_lower_bounds else ""
            ax.barh(i + offset, getattr(r, attr), height=0.27, color=colour(r), alpha=alpha, hatch=lower)
    # Little's law read the other way: time in system = users in flight / throughput.
    if not any(r.scenario == "hello" for r in data):
        theory = [r.users / r.bound_rps * 1000 for r in data]
        ax.scatter(theory, list(range(len(data))), marker="|", s=900, linewidths=3, color="black", zorder=3)
    ax.set_xlim(left=0)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_xlabel("latency, ms")
    ax.set_title("latency: p50, p95, p99")


def legend_handles(data: Sequence[Result]) -> list[Artist]:
    """What every colour, shade and hatch of the chart means; only those it shows."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    hello = any(r.scenario == "hello" for r in data)
    groups = [g for g in COLOURS if any(r.interface == g for r in data)]
    handles: list[Artist] = [
        Patch(color=GREY, label="peak under wrk (median, min-max)" if hello else "bound")
    ]
    handles += [
        Patch(color=COLOURS[g], label=f"{g}, {'one locust process' if hello else 'measured'}") for g in groups
    ]
    handles += [Patch(facecolor="#616161", alpha=alpha, label=q) for q, _, alpha in PERCENTILES]
    if not hello:
        theory = Line2D([], [], color="black", marker="|", ls="", markersize=20, mew=3, label="users / bound")
        handles.append(theory)
    if any(r.latency_lower_bounds for r in data):
        handles.append(
            Patch(facecolor="white", edgecolor="black", hatch="//", label="at least (some still waiting)")
        )
    if any(r.generator_bound for r in data):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="xx", label="generator-bound"))
    return handles


def latency_vs_offered(
    rows: Sequence[Row], summaries: Sequence[StackSummary], title: str, path: Path
) -> None:
    """Open loop: latency against offered load, p50 and p99 per stack, each bound marked."""
    import matplotlib  # only the chart needs it, and it is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    if not summaries:
        return
    with plt.rc_context({"font.size": FONT}):
        fig, ax = plt.subplots(figsize=SIZE)
        for i, s in enumerate(summaries):
            # WSGI in blues, ASGI in oranges; stacks whose lines coincide (gthread and granian-wsgi
            # have the same bound) still show both: a marker shape and a size of their own.
            same = [t.stack for t in summaries if t.interface == s.interface]
            shade = 0.45 + 0.5 * same.index(s.stack) / max(len(same) - 1, 1)
            color = plt.get_cmap("Oranges" if s.interface == "ASGI" else "Blues")(shade)
            climb = [r for r in rows if r.stack == s.stack and r.phase == "climb"]
            offered = [r.offered_rps for r in climb]
            marker, size = MARKERS[i % len(MARKERS)], 14 - i % 4 * 2
            label = f"{s.stack} ({s.interface})" if s.interface else s.stack
            ax.plot(
                offered,
                [r.p99_ms for r in climb],
                marker=marker,
                markersize=size,
                lw=3,
                color=color,
                label=label,
            )
            ax.plot(offered, [r.p50_ms for r in climb], ls=":", lw=2, color=color)
            if math.isfinite(s.bound_rps):
                ax.axvline(s.bound_rps, color=color, ls="--", lw=1.5)
                ax.text(s.bound_rps, 0.02, f" bound {s.bound_rps:.0f} rps", color=color, rotation=90,
                        va="bottom", fontsize=FONT - 2, transform=ax.get_xaxis_transform())  # fmt: skip
        ax.set_yscale("log")  # past the bound latency grows by multiples, step after step
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))  # 10, 20, 50, 100...
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("offered load, requests per second (arrivals on a clock)")
        ax.set_ylabel("latency, ms (log scale): p99 solid, p50 dotted")
        ax.set_title(title, fontsize=FONT)
        ax.legend(
            loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=FONT - 2
        )  # beside the lines, not on them
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


def side_by_side(items: Sequence[tuple[str, T]]) -> tuple[Figure, list[tuple[Axes, T, bool]]]:
    """A 1920x1080 figure of one panel per item, WSGI's in the left column and ASGI's in the right.

    Returns each item's axes, and whether it is the last of its column (the one to label time).
    """
    import matplotlib.pyplot as plt

    columns = [[item for side, item in items if side == interface] for interface in COLOURS]
    columns = [c for c in columns if c] or [[item for _, item in items]]
    rows = max(len(c) for c in columns)
    fig, axes = plt.subplots(rows, len(columns), figsize=SIZE, squeeze=False)
    panels = []
    for col, stacks in enumerate(columns):
        for row in range(rows):
            if row < len(stacks):
                panels.append((axes[row][col], stacks[row], row == len(stacks) - 1))
            else:
                axes[row][col].set_visible(False)
    return fig, panels


def queue_over_time(queues: Sequence[Queue], title: str, path: Path) -> None:
    """Open loop: each stack's requests in the app (dark) and queued (pale) through its steps.

    Below the bound the queue stays near empty; past it the pale area grows for as long as the
    step lasts, and after the drop it drains. The dashed line is the slots: the dark area cannot
    rise above it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.size": FONT}):
        fig, panels = side_by_side([(q.interface, q) for q in queues])
        for ax, q, last in panels:
            hue = COLOURS.get(q.interface, OTHER)
            t = [s[0] for s in q.series]
            ax.stackplot(t, [s[1] for s in q.series], [s[2] for s in q.series], colors=[hue, hue],
                         alpha=0.9, labels=["in the app", "queued"])  # fmt: skip
            ax.collections[-1].set_alpha(0.3)  # the queue pale, as in timeline.png
            if q.slots is not None:
                ax.axhline(q.slots, color="black", ls="--", lw=1.5)
            for begin, _, rate in q.schedule:  # each step's start, and its arrivals a second
                ax.axvline(begin, color="#757575", lw=0.8)
                ax.text(begin, 1.0, f" {rate:g}/s", transform=ax.get_xaxis_transform(), va="top",
                        fontsize=FONT - 2)  # fmt: skip
            slots = "no slot limit" if q.slots is None else f"{q.slots} slots (dashed)"
            ax.set_title(f"{q.stack}: {slots}", loc="left", color=hue, fontsize=FONT)
            ax.set_ylabel("requests")
            ax.set_xlim(0, max(t, default=1.0))
            if last:
                ax.set_xlabel("seconds since the first arrival")
        handles, labels = panels[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False)
        caption = "requests in the app (dark) and queued (pale); each step's arrivals a second above it"
        fig.suptitle(f"{title}\n{caption}", fontsize=FONT)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        fig.savefig(path, dpi=100)
        plt.close(fig)


def held_connections(results: Sequence[Held], interfaces: Mapping[str, str], title: str, path: Path) -> None:
    """Connections scenario: of the streams (and WebSockets) asked for, how many each stack held at once.

    A sync worker holds one stream for its whole length, so gunicorn -w 4 holds 4 of 500 while an
    event loop holds all 500: the grey bar is what was asked, the coloured one what was held.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    kinds = [kind for kind in ("stream", "websocket") if any(r.kind == kind for r in results)]
    with plt.rc_context({"font.size": FONT}):
        fig, axes = plt.subplots(1, len(kinds), figsize=SIZE, squeeze=False)
        for ax, kind in zip(axes[0], kinds, strict=True):
            by_name = {r.stack: r for r in results if r.kind == kind}
            mine = [by_name[name] for name in wsgi_on_top(list(by_name), interfaces)]
            y = range(len(mine))
            hues = [COLOURS.get(interfaces.get(r.stack, ""), OTHER) for r in mine]
            ax.barh([i + 0.2 for i in y], [r.asked for r in mine], height=0.4, color=GREY)
            ax.barh([i - 0.2 for i in y], [r.held for r in mine], height=0.4, color=hues)
            for i, r in zip(y, mine, strict=True):
                cost = "" if math.isnan(r.kb_per_connection) else f", {r.kb_per_connection:,.0f} KB each"
                ax.text(r.held, i - 0.2, f" {r.held} of {r.asked}{cost}", va="center", fontsize=FONT)
            label_rows(ax, [r.stack for r in mine], interfaces, list(y))
            ax.set_xlim(0, 1.6 * max((r.asked for r in mine), default=1))  # room for the labels
            ax.set_xlabel("connections")
            ax.set_title("streams: each one busy for its whole length" if kind == "stream" else "WebSockets")
        groups = [g for g in COLOURS if g in {interfaces.get(r.stack) for r in results}]
        held = [Patch(color=COLOURS[g], label=f"{g}, held at once") for g in groups]
        fig.legend(handles=[Patch(color=GREY, label="asked"), *held], loc="lower center", ncol=3,
                   fontsize=FONT - 2, frameon=False)  # fmt: skip
        fig.suptitle(title, fontsize=FONT + 2)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        fig.savefig(path, dpi=100)
        plt.close(fig)
