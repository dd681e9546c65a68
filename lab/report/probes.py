"""The probes' pictures: wrk's peaks, HTTP/2 beside HTTP/1.1, and the hostile answers that differ.

Drawn like every chart of the lab (lab/report/charts.py): 1920x1080, type of 14 pt or more, WSGI
in blue on top, ASGI in orange under it. matplotlib is imported inside each function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lab.report.charts import COLOURS, FONT, OTHER, SIZE, label_rows, wsgi_on_top

if TYPE_CHECKING:
    from matplotlib.artist import Artist

    from lab.probes.h2 import Row as H2Row
    from lab.probes.h2 import Way
    from lab.probes.hostile.engine import Case, StackReport
    from lab.probes.wrk import Row as WrkRow


def peaks(rows: Sequence[WrkRow], title: str, path: Path) -> None:
    """wrk: each stack's peak on the hello app per server CPU, its median run, the others as a whisker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    from matplotlib.patches import Patch

    by_name = {r.stack: r for r in rows}
    interfaces = {r.stack: r.interface for r in rows}
    names = wsgi_on_top(list(by_name), interfaces)
    data = [by_name[n] for n in names]
    with plt.rc_context({"font.size": FONT}):
        fig, ax = plt.subplots(figsize=SIZE)
        y = range(len(data))
        hues = [COLOURS.get(r.interface, OTHER) for r in data]
        whisker = [
            [r.per_cpu - min(r.runs_per_cpu) for r in data],
            [max(r.runs_per_cpu) - r.per_cpu for r in data],
        ]
        ax.barh(list(y), [r.per_cpu for r in data], height=0.6, color=hues, xerr=whisker, capsize=6,
                hatch=["xx" if r.generator_bound else "" for r in data])  # fmt: skip
        for i, r in zip(y, data, strict=True):
            at_least = ">= " if r.generator_bound else ""
            words = f"  {at_least}{r.per_cpu:,.0f} rps per CPU, {r.cpu_us:,.0f} µs of CPU a request"
            ax.text(max(r.runs_per_cpu), i, words, va="center", fontsize=FONT - 2)
        label_rows(ax, names, interfaces, list(y))
        ax.set_xlim(0, 1.6 * max((max(r.runs_per_cpu) for r in data), default=1.0))  # room for the words
        ax.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        ax.set_xlabel("requests per second per server CPU (bar: the median run; whisker: the others)")
        handles = [Patch(color=COLOURS[g], label=g) for g in COLOURS if g in interfaces.values()]
        if any(r.generator_bound for r in data):
            ceiling = Patch(facecolor="white", edgecolor="black", hatch="xx", label="wrk's ceiling: at least")
            handles.append(ceiling)
        ax.legend(handles=handles, loc="lower right", fontsize=FONT - 2)
        ax.set_title(title, fontsize=FONT + 2)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)


SHADES = (1.0, 0.55, 0.25)  # h2, then h1.1 on as many connections, then on as many as there were streams


def h2_rates(
    rows: Sequence[H2Row], ways: Sequence[Way], interfaces: Mapping[str, str], title: str, path: Path
) -> None:
    """h2: per stack, three bars (HTTP/2, then HTTP/1.1 on the same connections and on as many as
    streams), each what it measured, with Little's law's prediction as a black tick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    stacks = wsgi_on_top(list(dict.fromkeys(r.stack for r in rows)), interfaces)
    with plt.rc_context({"font.size": FONT}):
        fig, ax = plt.subplots(figsize=SIZE)
        top = max((max(r.measured_rps, r.predicted_rps) for r in rows), default=1.0)
        for i, stack in enumerate(stacks):
            hue = COLOURS.get(interfaces.get(stack, ""), OTHER)
            mine = [r for r in rows if r.stack == stack][: len(SHADES)]
            for k, (r, alpha) in enumerate(zip(mine, SHADES, strict=False)):
                at = i + 0.27 * (1 - k)  # HTTP/2 on top of its group
                ax.barh(at, r.measured_rps, height=0.27, color=hue, alpha=alpha, edgecolor=hue)
                ax.plot([r.predicted_rps] * 2, [at - 0.13, at + 0.13], color="black", lw=3)
                words = f" {r.measured_rps:,.0f} rps, {r.in_flight} in flight ({r.of_bound:.0%} of the law)"
                ax.text(max(r.measured_rps, r.predicted_rps), at, words, va="center", fontsize=FONT - 2)
        label_rows(ax, stacks, interfaces, list(range(len(stacks))))
        ax.set_xlim(0, 1.7 * top)  # room for the words
        ax.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        ax.set_xlabel("requests per second on the slow app")
        named = [
            f"{w.name}: {w.connections} connections" + (f" x {w.streams} streams" if w.streams > 1 else "")
            for w in ways
        ]
        handles: list[Artist] = [
            Patch(facecolor="#616161", alpha=a, label=w) for w, a in zip(named, SHADES, strict=False)
        ]
        law = "Little's law: what is served at once / SLOW_SECONDS"
        handles.append(Line2D([], [], color="black", lw=3, label=law))
        fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=FONT - 2, frameon=False)
        ax.set_title(title, fontsize=FONT + 2)
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        fig.savefig(path, dpi=100)
        plt.close(fig)


VERDICTS = {  # what a cell's colour says, palest for what the RFC asks
    "as the RFC asks": "#eceff1",
    "known deviation (in its case file)": "#ffb74d",
    "VIOLATION": "#e53935",
}


def verdict(report: StackReport, case: str) -> int:
    """0: as the RFC asks, 1: a known deviation, 2: a violation (the order of VERDICTS)."""
    return 2 if case in report.violations else 1 if case in report.deviations else 0


def contested(reports: Sequence[StackReport], cases: Sequence[Case]) -> list[Case]:
    """The cases worth a row: answered with different statuses, or not as the RFC asks, by some stack."""

    def differs(case: Case) -> bool:
        answers = {r.outcomes[case.name].statuses for r in reports}  # as the cells show them
        return len(answers) > 1 or any(verdict(r, case.name) for r in reports)

    return [c for c in cases if differs(c)]


def hostile_grid(
    reports: Sequence[StackReport], cases: Sequence[Case], interfaces: Mapping[str, str], path: Path
) -> None:
    """hostile: the cases the stacks answered differently (rows) by stack (columns), each cell the
    answer it got, coloured by what the case file says of it; the cases answered alike are counted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    shown = contested(reports, cases)
    alike = len(cases) - len(shown)
    names = [r.stack for r in reports]
    sides = [interfaces.get(name.split(" via ")[0], "") for name in names]  # "uvicorn via nginx": uvicorn's
    order = sorted(range(len(reports)), key=lambda i: sides[i] != "WSGI")  # WSGI's columns on the left
    with plt.rc_context({"font.size": FONT}):
        fig, ax = plt.subplots(figsize=SIZE)
        grid = [[verdict(reports[j], c.name) for j in order] for c in shown] or [[0] * len(order)]
        ax.imshow(grid, cmap=ListedColormap(list(VERDICTS.values())), vmin=0, vmax=2, aspect="auto")
        for row, case in enumerate(shown):
            for col, j in enumerate(order):
                statuses = reports[j].outcomes[case.name].statuses
                ax.text(col, row, "+".join(map(str, statuses)) or "-", ha="center", va="center",
                        fontsize=FONT - 2)  # fmt: skip
        ax.set_xticks(range(len(order)), [names[j] for j in order], rotation=30, ha="right")
        for label, j in zip(ax.get_xticklabels(), order, strict=True):
            label.set_color(COLOURS.get(sides[j], OTHER))
        wsgi = sum(side == "WSGI" for side in sides)
        if 0 < wsgi < len(sides):
            ax.axvline(wsgi - 0.5, color="black", lw=3)
        ax.set_yticks(range(len(shown)), [f"{c.name} ({c.expect})" for c in shown])
        ax.tick_params(length=0)
        ax.set_xticks([x - 0.5 for x in range(1, len(order))], minor=True)
        ax.set_yticks([y - 0.5 for y in range(1, len(shown))], minor=True)
        ax.grid(which="minor", color="white", lw=2)
        handles = [Patch(color=c, label=v) for v, c in VERDICTS.items()]
        fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=FONT - 2, frameon=False)
        same = f"; {alike} more answered alike by every stack" if alike else ""
        lost = [r.stack for r in reports if r.lost_workers or not r.healthy_after]
        health = f"; LOST a worker or stopped answering: {', '.join(lost)}" if lost else "; no worker lost"
        fig.suptitle(
            f"Hostile requests: where the stacks answer differently ({len(shown)} of {len(cases)} cases{same}"
            f"{health})\neach cell: the statuses answered on the one connection, in order (-: none)",
            fontsize=FONT,
        )
        fig.tight_layout(rect=(0, 0.05, 1, 1))
        fig.savefig(path, dpi=100)
        plt.close(fig)
