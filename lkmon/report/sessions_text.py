"""``lkmon sessions``' table: one row per stored session, fitted to the terminal's width.

The rows are ``lkmon.cli_store.session_summaries``' dicts (the ``--json`` keys). Every column
fits at its natural width when the width allows; on a narrower terminal the least needed
columns are left out: first an interruption column that is 0 in every row listed
(``ZERO_HIDDEN``), then in ``DROP_ORDER`` (the interruption counts first; the models are
shortened before they go), and a note under the table names them (``--json`` has every key).
Printed to a pipe (no terminal, no ``$COLUMNS``), or when the whole table fits, nothing is left
out. Seconds and costs in ``lkmon.model.vocab``'s formats; an
unknown figure is ``-``, never 0. No textual or livekit import here.
"""

from __future__ import annotations

import io
import os
import shutil
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lkmon.model.vocab import MISSING, fmt_cost, fmt_s, printable

__all__ = ["COLUMNS", "DROP_ORDER", "ZERO_HIDDEN", "Fit", "fit", "print_sessions", "table_width"]

TOO_FEW = "too few"
"""The e2e p95 cell of a session with fewer than 20 e2e figures (``lkmon compare``'s "too few
turns", short)."""
GAP = 2
"""Spaces between two columns."""
MODELS_MIN = 12
"""The narrowest the models column is shown (an ellipsis ends what does not fit)."""


def when_format(rows: list[dict[str, Any]], now: float | None = None) -> str:
    """``strftime`` format of the when column: month, day and time when every session started
    this year (local time), else the year too."""
    year = time.localtime(now).tm_year
    if all(r["started_at"] is None or time.localtime(r["started_at"]).tm_year == year
           for r in rows):
        return "%m-%d %H:%M"
    return "%Y-%m-%d %H:%M"


def _count(value: int | None) -> str:
    return MISSING if value is None else str(value)


def _p95(row: dict[str, Any]) -> str:
    """The e2e p95 cell: the figure, or ``too few`` (under 20 figures), ``-`` with none."""
    if row["e2e_p95"] is None:
        return TOO_FEW if row["e2e_count"] else MISSING
    return fmt_s(row["e2e_p95"])


def _models(row: dict[str, Any]) -> str:
    """The STT, LLM and TTS models' names (``--json`` has each ``provider/model``)."""
    return ", ".join(str(v).rpartition("/")[2] for k, v in row["models"].items()
                     if k in ("stt", "llm", "tts"))


def _interruption(kind: str) -> Callable[[dict[str, Any]], str]:
    return lambda row: _count((row["interruptions"] or {}).get(kind))


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the table: its header, how a row gives its cell, and its alignment."""

    key: str
    header: str
    cell: Callable[[dict[str, Any]], str]
    right: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("id", "id", lambda r: r["session_id"][:8]),
    Column("when", "when", lambda r: MISSING if r["started_at"] is None else time.strftime(
        r["when_format"], time.localtime(r["started_at"]))),
    Column("agent", "agent", lambda r: Path(r["agent_file"]).name),
    Column("models", "models", _models),
    Column("turns", "turns", lambda r: str(r["turns"]), right=True),
    Column("e2e_p50", "e2e p50", lambda r: fmt_s(r["e2e_p50"]), right=True),
    Column("e2e_p95", "e2e p95", _p95, right=True),
    Column("barge", "barge", _interruption("barge_in"), right=True),
    Column("early", "early", _interruption("cut_in_early"), right=True),
    Column("false", "false", _interruption("false_interruption"), right=True),
    Column("overlaps", "overlaps", lambda r: _count(r["overlapping_speech"]), right=True),
    Column("errors", "errors", lambda r: _count(r["error_count"]), right=True),
    Column("close", "close", lambda r: r["close_reason"] or MISSING),
    Column("cost", "cost", lambda r: f"{fmt_cost(r['cost'])} {r['currency']}", right=True),
)
"""The columns, left to right: the session, its turns and e2e latency (p95 from 20 figures),
the turns of each interruption class (``barge`` barge-in, ``early`` cut in early, ``false``
LiveKit's false interruption), LiveKit's ``overlapping_speech`` events, the session's errors,
its close reason and its estimated cost."""

DROP_ORDER: tuple[str, ...] = ("overlaps", "false", "early", "barge", "errors", "cost", "models",
                               "e2e_p95", "agent")
"""The columns a narrow terminal leaves out, first to last (then those that fit again come
back, last dropped first): the interruption counts before the session's errors, cost and models
(the issue's "when, agent, models, turns, e2e p50/p95, cost"); id, when, turns, e2e p50 and
close always stay."""

ZERO_HIDDEN: tuple[str, ...] = ("barge", "early", "false", "overlaps")
"""The interruption columns left out before any other when the table at its natural width does
not fit and the column is 0 in every row listed (nothing to read in it; a ``-``, unknown, is not
0). The note under the table names them apart."""


def table_width(out: TextIO) -> int | None:
    """The width to fit: ``$COLUMNS`` when set, else the terminal's when ``out`` is one, else
    ``None`` (a pipe: no limit)."""
    cols = os.environ.get("COLUMNS", "")
    if cols.isdigit() and int(cols) > 0:
        return int(cols)
    if getattr(out, "isatty", lambda: False)():
        return shutil.get_terminal_size().columns
    return None


@dataclass(frozen=True, slots=True)
class Fit:
    """The columns shown and why the others are not.

    Attributes:
        shown: the columns shown, left to right.
        widths: each column's width in terminal cells (the widest of its header and cells; the
            models' may be less, down to ``MODELS_MIN``).
        dropped: keys of the columns left out for the width (``DROP_ORDER``).
        zero: keys of the interruption columns left out as 0 in every row (``ZERO_HIDDEN``).
    """

    shown: list[Column]
    widths: dict[str, int]
    dropped: list[str]
    zero: list[str]


def fit(cells: list[dict[str, str]], width: int | None) -> Fit:
    """The columns shown within ``width`` characters (``None``: all), each one's width, and
    those left out: first the ``ZERO_HIDDEN`` columns that are ``0`` in every row of ``cells``
    (only when the table at its natural width is wider than ``width``), then in ``DROP_ORDER``
    while it is still too wide (the models counted at ``MODELS_MIN``), then back those dropped
    that fit beside the rest, last dropped first."""
    natural = {c.key: max([cell_len(c.header), *(cell_len(row[c.key]) for row in cells)])
               for c in COLUMNS}
    keys = {c.key for c in COLUMNS}

    def needed(ks: set[str], models_min: bool = True) -> int:
        return sum(MODELS_MIN if k == "models" and models_min else natural[k]
                   for k in ks) + GAP * (len(ks) - 1)

    if width is None or needed(keys, models_min=False) <= width:
        return Fit(list(COLUMNS), natural, [], [])
    zero = [k for k in ZERO_HIDDEN if cells and all(row[k] == "0" for row in cells)]
    keys -= set(zero)
    dropped: list[str] = []
    for key in (k for k in DROP_ORDER if k in keys):
        if needed(keys) <= width:
            break
        keys.discard(key)
        dropped.append(key)
    for key in reversed(dropped):  # one dropped early may fit beside the narrower set
        if needed(keys | {key}) <= width:
            keys.add(key)
    widths = dict(natural)
    if "models" in keys:
        widths["models"] = max(min(natural["models"], width - needed(keys) + MODELS_MIN),
                               MODELS_MIN)
    return Fit([c for c in COLUMNS if c.key in keys], widths,
               [k for k in dropped if k not in keys], zero)


def print_sessions(rows: list[dict[str, Any]], out: TextIO, width: int | None = None) -> None:
    """The sessions as a table on ``out`` within ``width`` characters (``None``: no limit), and
    under it a note naming the columns left out (for the width, then those 0 in every row), or
    ``(no sessions)``."""
    when = when_format(rows)
    cells = [{c.key: printable(c.cell({**r, "when_format": when})) for c in COLUMNS}
             for r in rows]
    fitted = fit(cells, width)
    shown, widths = fitted.shown, fitted.widths
    total = sum(widths[c.key] for c in shown) + GAP * (len(shown) - 1)
    tty = bool(getattr(out, "isatty", lambda: False)())
    console = Console(file=io.StringIO(), width=max(total, 20), no_color=not tty,
                      highlight=False, soft_wrap=False, force_terminal=tty)
    table = Table(box=None, pad_edge=False, padding=(0, GAP // 2), show_edge=False,
                  header_style="bold" if tty else "")
    for c in shown:
        table.add_column(c.header, justify="right" if c.right else "left", no_wrap=True,
                         overflow="ellipsis", width=widths[c.key])
    for row in cells:
        table.add_row(*(Text(row[c.key]) for c in shown))
    console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]  # the StringIO above
    out.write("".join(line.rstrip() + "\n" for line in text.splitlines()))
    if not rows:
        out.write("(no sessions)\n")
    header = {c.key: c.header for c in COLUMNS}
    parts = []
    if fitted.dropped:
        parts.append(", ".join(header[c.key] for c in COLUMNS if c.key in fitted.dropped))
    if fitted.zero:
        parts.append("0 in every row: " + ", ".join(header[k] for k in fitted.zero))
    if parts:
        note = f"(hidden at {width} columns: {'; '.join(parts)}; --json has every key)"
        out.write(textwrap.fill(note, width=max(width or 0, 40)) + "\n")
