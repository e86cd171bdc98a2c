"""Headless runs: the same session with no TUI, a line per turn, a table, a snapshot.

``run_headless`` folds every event into a ``SessionModel``, prints one line per turn as it
completes (index, speech_id, user text, e2e latency, EOU delay, LLM TTFT, TTS TTFB in seconds,
then ``tools: NAME, NAME (error)`` when it made tool calls), and at the end a per-turn table with
p50/p95 (``SessionModel.summary``, from ``statistics.quantiles``), then writes the snapshot.
SIGINT and SIGTERM end the session gracefully: the snapshot is still written and the process exits
within about 5 s.

No textual import here.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import TextIO

from lkmon.agent.host.runner import RunOptions, SessionRunner
from lkmon.model.events import ErrorRaised, Event, LoadProgress, SessionClosed, SessionStarted
from lkmon.model.state import Area, SessionModel
from lkmon.model.turns import Turn
from lkmon.model.usage import PriceTable
from lkmon.store.snapshot import write_snapshot

logger = logging.getLogger("lkmon.headless")


def fmt_s(value: float | None) -> str:
    """Seconds with 3 decimals, or ``-`` when unknown."""
    return "-" if value is None else f"{value:.3f}"


def _short(text: str | None, width: int, turn: Turn | None = None) -> str:
    if text is None:
        if turn is not None and turn.greeting:
            return "(greeting)"
        return "(agent-initiated)" if turn is not None else "(no user turn)"
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def turn_flags(turn: Turn) -> str:
    """The turn's marks for a headless line, e.g. `` interrupted FAILED no-text``."""
    flags = " interrupted" if turn.interrupted else ""
    flags += " FAILED" if turn.failed else ""
    flags += " no-text" if turn.empty_reply else ""
    flags += " preemptive" if turn.preemptive else ""
    if turn.discarded:
        flags += f" discarded:{len(turn.discarded)}"
    if turn.handoffs:
        flags += " handoff:" + ",".join(h.new_agent for h in turn.handoffs)
    return flags


def tool_list(turn: Turn) -> str:
    """The turn's tool calls in order, ``(error)`` after a failed one: ``get_weather, get_time
    (error)``; empty when it made none."""
    return ", ".join(
        call.name + (" (error)" if call.is_error else "") for call in turn.tool_calls
    )


def turn_line(turn: Turn) -> str:
    """One line for a completed turn (its tool calls at the end: ``tools: a, b (error)``)."""
    m = turn.metrics
    if turn.kind == "transcript":
        return (
            f"turn {turn.index:>3}  transcript  user: {_short(turn.user_text, 60)}"
            f"  transcription {fmt_s(m.transcription_delay)}"
        )
    flags = turn_flags(turn)
    tools = tool_list(turn)
    return (
        f"turn {turn.index:>3}  {turn.speech_id or '-'}  user: "
        f"{_short(turn.user_text, 60, turn)!s}"
        f"  e2e {fmt_s(m.e2e_latency)}  eou {fmt_s(m.eou_delay)}"
        f"  ttft {fmt_s(m.llm_ttft)}  ttfb {fmt_s(m.tts_ttfb)}{flags}"
        + (f"  tools: {tools}" if tools else "")
    )


def turn_table(model: SessionModel) -> str:
    """The per-turn table with p50 and p95 rows (seconds)."""
    head = f"{'turn':>4}  {'speech_id':<20}  {'eou':>7}  {'ttft':>7}  {'ttfb':>7}  {'e2e':>7}  user"
    lines = [head, "-" * len(head)]
    for t in model.turns:
        m = t.metrics
        lines.append(
            f"{t.index:>4}  {(t.speech_id or '-'):<20}  {fmt_s(m.eou_delay):>7}  "
            f"{fmt_s(m.llm_ttft):>7}  {fmt_s(m.tts_ttfb):>7}  {fmt_s(m.e2e_latency):>7}  "
            f"{_short(t.user_text, 50, t)}"
        )
    summary = model.summary()
    lines.append("-" * len(head))
    for label in ("p50", "p95"):
        cells = [fmt_s(getattr(summary[s], label)) for s in ("eou", "llm_ttft", "tts_ttfb", "e2e")]
        lines.append(
            f"{label:>4}  {'':<20}  {cells[0]:>7}  {cells[1]:>7}  {cells[2]:>7}  {cells[3]:>7}"
        )
    return "\n".join(lines)


def cost_line(model: SessionModel) -> str:
    """One line: the estimated total and each usage row's cost (``?`` = no price, never 0).

    E.g. ``lkmon: estimated cost 0.0043 USD (openai/gpt-4.1 0.0031; openai/gpt-4o-mini-tts via
    127.0.0.1:8000 ?)``.
    """
    costs = model.costs()
    if not costs:
        return "lkmon: estimated cost: no usage reported"
    total = model.total_cost()
    currency = model.prices.currency
    rows = "; ".join(
        f"{c.name} " + ("?" if c.cost is None else f"{c.cost:.4f}" + (" local" if c.local else ""))
        for c in costs
    )
    shown = "?" if total is None else f"{total:.4f}"
    return f"lkmon: estimated cost {shown} {currency} ({rows})"


class HeadlessPrinter:
    """Folds events into the model and prints progress lines."""

    def __init__(self, model: SessionModel, out: TextIO) -> None:
        self.model = model
        self.out = out
        self.printed: set[int] = set()

    def __call__(self, event: Event) -> None:
        changed = self.model.apply(event)
        if isinstance(event, LoadProgress) and event.seconds is not None:
            self._print(f"lkmon: loaded {event.stage} ({event.seconds:.2f} s)")
        elif isinstance(event, SessionStarted):
            models = ", ".join(f"{k} {v}" for k, v in event.models.items())
            self._print(f"lkmon: session started: {event.agent_file} [{models}]")
        elif isinstance(event, ErrorRaised):
            self._print(f"lkmon: ! {event.source} error: {event.message}")
        elif isinstance(event, SessionClosed):
            why = f"{event.reason}" + (f": {event.error}" if event.error else "")
            self._print(f"lkmon: session closed ({why})")
        if Area.TURNS in changed:
            for turn in self.model.turns:
                if turn.complete and turn.index not in self.printed:
                    self.printed.add(turn.index)
                    self._print(turn_line(turn))

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)


async def _run(runner: SessionRunner) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    signals = 0

    def on_signal(signame: str) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            print(f"lkmon: {signame}: ending the session", file=sys.stderr, flush=True)
            runner.stop(f"{signame.lower()}")
        elif task is not None:
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        await runner.run()
    except asyncio.CancelledError:
        logger.warning("session cancelled by a second signal")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run_headless(
    options: RunOptions,
    export: Path,
    *,
    prices: PriceTable | None = None,
    redact: bool = False,
    out: TextIO | None = None,
) -> Path | None:
    """Run the session with no TUI and write its snapshot.

    Args:
        options: the run (``options.journal`` is printed at start when set).
        export: the snapshot path (already checked writable, never an existing file).
        prices: price table for cost estimates, or None for the shipped one.
        redact: replace transcript text with placeholders in the snapshot.
        out: where progress lines go (stdout by default).

    Returns:
        the snapshot path, or None when no session started.

    Raises:
        UsageError: bad input, or the models failed before the first reply (``SessionFailed``,
            raised after the snapshot is written).
    """
    out = out or sys.stdout
    model = SessionModel(prices)
    printer = HeadlessPrinter(model, out)
    runner = SessionRunner(options, printer)
    runner.prepare()
    if options.journal is not None:
        print(f"lkmon: journal {options.journal}", file=out, flush=True)
    try:
        asyncio.run(_run(runner))
    finally:
        if model.session.started_at is not None:
            print(file=out)
            print(turn_table(model), file=out)
            print(cost_line(model), file=out)
            path = write_snapshot(model, export, redact_text=redact)
            print(f"lkmon: snapshot {path}", file=out, flush=True)
    return export if model.session.started_at is not None else None
