"""How every number and table the lab prints or writes is formatted: one place, one style."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def fmt(value: float, digits: int = 1) -> str:
    """A number with thousands separators; "-" for one that was not measured (nan), never 0."""
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def pct(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.0%}"


def ms(value: float, lower: bool = False) -> str:
    """Milliseconds, marked >= when requests still waiting at the stop make it a lower bound."""
    return "-" if math.isnan(value) else f"{'>=' if lower else ''}{value:,.0f}"


def secs(value: float) -> str:
    """Seconds as a reader wants them: 12.5, 8.25, 0.00504 (a computed request), never 0.00503824."""
    return f"{round(value, 2):g}" if value >= 1 else f"{value:.3g}"


def busy(cores: float) -> str:
    """What a run says when processes it did not start took this many cores while it measured."""
    return (
        f"The machine was busy: {cores:.0%} of a core went to other processes while it measured;"
        " rerun on a quiet machine"
    )


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def listed(names: Sequence[str]) -> str:
    """a, b and c."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def nulls(value: Any) -> Any:
    """JSON has no NaN: "not measured" is written as null, however deep it sits."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: nulls(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nulls(v) for v in value]
    return value


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
