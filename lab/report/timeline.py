"""timeline.png: a few seconds of each stack's steady window, every request drawn on the slot that served it.

One lane per slot the app named (a process, or a process and one of its threads); requests that one
event loop held at once stack in sub-lanes. Each request is a dark bar while the app had it; under
the lanes, pale rows count the requests waiting in the queue at each instant (a count, not lanes:
a request's wait and its slot are drawn apart). WSGI stacks on the left, ASGI on the right, each in
its own colour.
Sized for a projector: 1920x1080 pixels, no text under 14 pt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lab.measure.requests import Request, read_requests
from lab.measure.slots import lanes
from lab.report.charts import COLOURS, FONT, OTHER, side_by_side
from lab.report.closed import served_by
from lab.report.format import plural

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from lab.report.closed import Result

SLICE = 3.0  # seconds drawn: three rounds of the default 1 s wait
BIN = 0.002  # seconds per pixel column of the picture
GAP = 0.004  # of the slice: about 8 pixels between two bars on one lane
CAPTION = (
    "Dark: each request while the app had it, on the lane of the process or thread that served it."
    " Pale: the requests waiting in the queue, a row each.\nLook at the dark share of each panel:"
    " a WSGI worker or thread holds one request at a time; an event loop holds them all."
)


def stretch(requests: Sequence[Request]) -> tuple[float, float] | None:
    """The last SLICE seconds in which every request the app held had answered before the stop."""
    named = [r for r in requests if r.slot]
    if not named:
        return None
    finish = max(r.end for r in requests) - max(r.end - r.app_start for r in named)
    return finish - SLICE, finish


def draw(results: Sequence[Result], folder: Path, title: str, path: Path) -> bool:
    """timeline.png for the stacks whose app named its slots; False (and no file) when none did."""
    requests: dict[str, list[Request]] = {}
    for run in sorted(p for p in folder.iterdir() if p.is_dir()):
        requests |= read_requests(run)
    shown = [(r, requests[r.stack]) for r in results if stretch(requests.get(r.stack, []))]
    if not shown:
        return False
    import matplotlib  # imported here: only the picture needs it, and it is slow to import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.size": FONT}):
        fig, panels = side_by_side([(result.interface, (result, mine)) for result, mine in shown])
        for ax, (result, mine), last in panels:
            panel(ax, result, mine, last)
        fig.suptitle(title, fontsize=FONT + 4)
        fig.text(0.5, 0.01, CAPTION, ha="center", va="bottom", fontsize=FONT - 2)
        fig.tight_layout(rect=(0, 0.07, 1, 0.97))
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return True


def panel(ax: Axes, result: Result, requests: list[Request], last: bool) -> None:
    """One stack: the slots' lanes over the slice, dark, and under them the queue, pale.

    Height is requests: a closed loop's users split between the two, so the dark area is the
    requests in the app and the pale area those queued, as Little's law counts them.
    """
    import numpy as np  # matplotlib's own dependency, imported with it
    from matplotlib.colors import ListedColormap, to_rgba

    begin, finish = stretch(requests) or (0.0, 0.0)
    colour = COLOURS.get(result.interface, OTHER)
    by_slot = lanes(requests, begin, finish)
    # Each bar ends a hair early, so two requests back to back on one lane read as two.
    gap = GAP * (finish - begin)
    held = [
        [(r.app_start - begin, max(r.app_end - r.app_start - gap, gap)) for r in lane]
        for sub in by_slot.values()
        for lane in sub
    ]
    waits = [
        (max(r.start, begin) - begin, min(r.app_start if r.slot else finish, finish) - begin)
        for r in requests
        if (r.slot or r.censored) and r.start < finish and (not r.slot or r.app_start > begin)
    ]
    columns = max(int((finish - begin) / BIN), 1)
    # The queue is a count, not lanes: at each instant, as many pale rows as requests waiting.
    change = np.zeros(columns + 1, dtype=int)
    for a, b in waits:
        if b > a:
            change[min(int(a / BIN), columns)] += 1
            change[min(int(b / BIN), columns)] -= 1
    queued = np.cumsum(change)[:columns]
    rows = max(len(held) + int(queued.max(initial=0)), 1)
    # Drawn as an image, a pixel column per BIN: a row thinner than a pixel still adds up.
    picture = np.zeros((rows, columns))
    for y, bars in enumerate(held):
        for x, width in bars:
            first = max(int(x / BIN), 0)  # a bar begun before the slice shows from its edge
            picture[y, first : max(int((x + width) / BIN), first + 1)] = 2
    for x, count in enumerate(queued):
        picture[len(held) : len(held) + count, x] = 1
    shades = ListedColormap([to_rgba("white"), to_rgba(colour, 0.3), to_rgba(colour)])
    ax.imshow(picture, cmap=shades, vmin=0, vmax=2, aspect="auto", interpolation="antialiased",
              extent=(0, finish - begin, rows, 0))  # fmt: skip
    ticks = [(len(held) / 2, "app")] + ([((len(held) + rows) / 2, "queue")] if rows > len(held) else [])
    ax.set_yticks([t for t, _ in ticks], [w for _, w in ticks])
    if last:
        ax.set_xlabel("seconds")
    else:
        ax.set_xticklabels([])
    words = served_by(result.slots_seen or 0, result.processes_seen or 0).removeprefix("served by ")
    if not math.isnan(result.in_server):  # nan: the window was too short to average over
        limit = "no limit" if result.slots is None else plural(result.slots, "slot")
        words = f"{result.in_server:.0f} in app / {limit}, {result.queued:.0f} queued; {words}"
    ax.set_title(f"{result.stack}: {words}", loc="left", fontsize=FONT - 2, color=colour)
