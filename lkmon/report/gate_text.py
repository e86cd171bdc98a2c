"""Text views of a comparison (``lkmon compare``) and of gate checks (``--budget``, ``lkmon
check``): a Rich table for the terminal and GitHub-flavoured Markdown (for a pull request or
``$GITHUB_STEP_SUMMARY``). Seconds and costs in the vocabulary's formats; a p95 or an interval
from too few turns prints as "too few turns", never as a figure. No textual or livekit import.
"""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.table import Table

from lkmon.model import vocab
from lkmon.report.compare import (
    GROUP_LABELS,
    MIN_CI_TURNS,
    MIN_P95_TURNS,
    Comparison,
    Ratio,
    Side,
)
from lkmon.report.gate import Check

TOO_FEW = "too few turns"
_VERDICT_STYLE = {"faster": "bold green", "slower": "bold red", "no clear difference": "",
                  "too few turns": "dim"}
_STATUS_STYLE = {"pass": "green", "fail": "bold red", "skip": "dim"}
_STATUS_TEXT = {"pass": "pass", "fail": "FAIL", "skip": "skipped"}


def fmt_ratio(r: Ratio) -> str:
    """``1.23 [1.10, 1.37]``; the ratio alone when its interval is from too few turns."""
    if r.value is None:
        return vocab.MISSING
    if r.low is None or r.high is None:
        return f"{r.value:.2f} ({TOO_FEW})"
    return f"{r.value:.2f} [{r.low:.2f}, {r.high:.2f}]"


def _p95(side: Side) -> str:
    if side.n == 0:
        return vocab.MISSING
    return TOO_FEW if side.p95 is None else vocab.fmt_s(side.p95)


def compare_cells(comp: Comparison) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The header and ``(verdict, cells)`` per stage row, shared by the terminal and Markdown."""
    head = ["stage", "A n", "A p50", "A p95", "B n", "B p50", "B p95", "B/A p50 [95 % CI]",
            "verdict"]
    rows: list[tuple[str, list[str]]] = []
    for r in comp.rows:
        stage = r.stage.label if r.group == "plain" else f"{r.stage.label} (tool-call turns)"
        rows.append((r.p50.verdict, [
            stage, str(r.a.n), vocab.fmt_s(r.a.stats.p50), _p95(r.a),
            str(r.b.n), vocab.fmt_s(r.b.stats.p50), _p95(r.b), fmt_ratio(r.p50), r.p50.verdict,
        ]))
    return head, rows


def _sides(comp: Comparison) -> list[str]:
    def one(name: str, s: object) -> str:
        from lkmon.report.compare import Sample

        assert isinstance(s, Sample)
        cost = s.cost
        money = f", cost {vocab.fmt_cost(cost)} {s.currency}/session" if s.costs else ""
        return (f"{name}: {s.label} ({len(s.sessions)} session"
                f"{'s' if len(s.sessions) != 1 else ''}, {len(s.turns)} turns{money})")

    return [one("A", comp.a), one("B", comp.b)]


def _note() -> str:
    return (f"B/A: ratio of the medians with a 95 % bootstrap interval; p95 from "
            f"{MIN_P95_TURNS} turns, an interval from {MIN_CI_TURNS} turns per side; "
            f"{GROUP_LABELS['tools']} apart.")


def _console(out: TextIO) -> Console:
    tty = bool(getattr(out, "isatty", lambda: False)())
    return Console(file=out, width=None if tty else 160, highlight=False,
                   no_color=not tty, soft_wrap=False)


def print_compare(comp: Comparison, out: TextIO) -> None:
    """The comparison as a Rich table on ``out``, the two sides named above it."""
    console = _console(out)
    for line in _sides(comp):
        console.print(line, markup=False)
    head, rows = compare_cells(comp)
    table = Table(*head, show_edge=False, pad_edge=False)
    for col in table.columns[1:-2]:
        col.justify = "right"
    for verdict, cells in rows:
        table.add_row(*cells[:-1], f"[{_VERDICT_STYLE[verdict]}]{cells[-1]}[/]"
                      if _VERDICT_STYLE[verdict] else cells[-1])
    console.print(table)
    console.print(_note(), markup=False, style="dim")


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def compare_markdown(comp: Comparison) -> str:
    """The comparison as Markdown: the sides, one table, the method in a line."""
    head, rows = compare_cells(comp)
    lines = ["### lkmon compare", ""]
    lines += [f"- {s}" for s in _sides(comp)]
    lines += ["", _md_row(head), "|" + "|".join(["---"] + ["---:"] * 7 + ["---"]) + "|"]
    for verdict, cells in rows:
        shown = f"**{verdict}**" if verdict in ("faster", "slower") else verdict
        lines.append(_md_row([*cells[:-1], shown]))
    lines += ["", _note(), ""]
    return "\n".join(lines)


CHECK_HEAD = ["check", "limit", "measured", "margin", "result"]


def print_checks(checks: list[Check], out: TextIO, *, title: str = "") -> None:
    """The checks as a Rich table (budget, limit, measured, margin, pass/FAIL/skipped), each
    failure's reason below it."""
    console = _console(out)
    table = Table(*CHECK_HEAD, show_edge=False, pad_edge=False, title=title or None)
    for col in table.columns[2:4]:
        col.justify = "right"
    for c in checks:
        table.add_row(c.name, c.limit, c.measured, c.margin,
                      f"[{_STATUS_STYLE[c.status]}]{_STATUS_TEXT[c.status]}[/]")
    console.print(table)
    for c in checks:
        if c.status != "pass" and c.message:
            console.print(f"lkmon: {_STATUS_TEXT[c.status]}: {c.name}: {c.message}",
                          markup=False)


def checks_markdown(checks: list[Check], *, title: str = "lkmon check") -> str:
    """The checks as Markdown: a table, then the verdict line."""
    lines = [f"### {title}", "", _md_row(CHECK_HEAD), "|---|---|---:|---:|---|"]
    for c in checks:
        result = {"pass": "pass", "fail": "**FAIL**", "skip": "skipped"}[c.status]
        lines.append(_md_row([f"`{c.name}`" if c.kind == "budget" else c.name, c.limit,
                              c.measured, c.margin, result]))
    n_fail = sum(c.status == "fail" for c in checks)
    lines += ["", f"**{n_fail} failed**" if n_fail else "All checks hold.", ""]
    return "\n".join(lines)
