"""Headless runs: the same session with no TUI, a line per turn, a table, a snapshot.

``run_headless`` takes a ``SessionSource`` (``lkmon.sources``), folds every event it delivers
into the ``SessionModel`` it opened, prints one line per turn as it
completes (index, speech_id, user text, e2e latency, EOU delay, LLM TTFT, TTS TTFB in seconds,
then ``tools: NAME, NAME (error)`` when it made tool calls), and at the end a per-turn table with
p50/p95 (``SessionModel.summary``, from ``statistics.quantiles``), then writes the snapshot. The
lines and tables are ``lkmon.report.text``'s.
SIGINT, SIGTERM and SIGHUP (the terminal closed) end the session gracefully: the snapshot is
still written and the process exits within about 5 s; a signal while the snapshot is written
waits for it. A snapshot that cannot be written raises ``SaveFailed`` (exit 3).

No textual import here.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from lkmon.errors import SaveFailed
from lkmon.model.areas import Area
from lkmon.model.events import ErrorRaised, Event, LoadProgress, SessionClosed, SessionStarted
from lkmon.model.state import SessionModel
from lkmon.model.usage import PriceTable
from lkmon.model.vocab import printable
from lkmon.report.bundle import write_snapshot_file
from lkmon.report.text import cost_line, turn_line, turn_table
from lkmon.sources.base import SessionSource
from lkmon.store.convert import to_snapshot
from lkmon.store.files import QUIT_SIGNALS, deferred_signals
from lkmon.store.format import Snapshot

logger = logging.getLogger("lkmon.headless")

__all__ = ["HeadlessPrinter", "cost_line", "run_headless", "turn_line", "turn_table"]


class HeadlessPrinter:
    """Folds events into the model and prints progress lines."""

    def __init__(self, model: SessionModel, out: TextIO,
                 watch: Callable[[SessionModel, set[Area]], None] | None = None) -> None:
        self.model = model
        self.out = out
        self.printed: set[int] = set()
        self.watch = watch
        """Called with (model, changed areas) after each event (the live store writer)."""

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
        if self.watch is not None and changed:
            self.watch(self.model, changed)

    def _print(self, line: str) -> None:
        print(printable(line), file=self.out, flush=True)


async def _run(source: SessionSource, printer: HeadlessPrinter) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    signals = 0

    def on_signal(signame: str) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            print(f"lkmon: {signame}: ending the session", file=sys.stderr, flush=True)
            source.stop(f"{signame.lower()}")
        elif task is not None:
            task.cancel()

    for sig in QUIT_SIGNALS:  # SIGHUP (the terminal closed) as SIGTERM
        loop.add_signal_handler(sig, on_signal, signal.Signals(sig).name)
    try:
        await source.run(printer)
    except asyncio.CancelledError:
        logger.warning("session cancelled by a second signal")
    finally:
        for sig in QUIT_SIGNALS:
            loop.remove_signal_handler(sig)


def run_headless(
    source: SessionSource,
    export: Path,
    *,
    prices: PriceTable | None = None,
    redact: bool = False,
    out: TextIO | None = None,
    on_end: Callable[[SessionModel], None] | None = None,
    watch: Callable[[SessionModel, set[Area]], None] | None = None,
) -> Path | None:
    """Run the session with no TUI and write its snapshot.

    Args:
        source: where the session comes from (its ``journal`` is printed at start when set).
        export: the snapshot path (already checked writable, never an existing file).
        prices: price table for cost estimates, or None for the shipped one.
        redact: replace transcript text with placeholders in the snapshot.
        out: where progress lines go (stdout by default).
        on_end: called with the model after the snapshot is written, once the event loop has
            ended (e.g. to store the session: ``lkmon.cli_store.finish_run``).
        watch: called on the event loop with (model, changed areas) after each event
            (``lkmon.store.db.live.LiveWriter.observe``: store turns as they complete).

    Returns:
        the snapshot written (``export``, or ``export-N`` when a file appeared there meanwhile:
        never replaced), or None when no session started.

    Raises:
        SaveFailed: the snapshot could not be written (the message names the journal).
        UsageError: bad input, or the models failed before the first reply (``SessionFailed``,
            raised after the snapshot is written).
    """
    out = out or sys.stdout
    model = source.open(prices)
    printer = HeadlessPrinter(model, out, watch)
    if source.journal is not None:
        print(f"lkmon: journal {source.journal}", file=out, flush=True)
    written: Path | None = None
    failed: SaveFailed | None = None
    try:
        asyncio.run(_run(source, printer))
    finally:
        # from here on a signal (a second Ctrl+C, SIGTERM, the terminal closing) waits until
        # the snapshot is written and the session stored: it cannot cut them short
        with deferred_signals() as held:
            if model.session.started_at is not None:
                snapshot = to_snapshot(model)  # once: the tables and (unless --redact) the file
                try:
                    written = write_snapshot_file(model if redact else snapshot, export,
                                                  redact_text=redact, overwrite=False)
                except OSError as e:
                    failed = SaveFailed(export, e.strerror or str(e), source.journal)
                _print_end(out, snapshot, written)
            if on_end is not None:
                on_end(model)
            if held:
                names = ", ".join(signal.Signals(s).name for s in held)
                print(f"lkmon: {names} while saving: saved first", file=sys.stderr, flush=True)
    if failed is not None:
        raise failed
    return written


def _print_end(out: TextIO, snapshot: Snapshot, written: Path | None) -> None:
    """The table, the cost and the snapshot's path; a closed terminal (SIGHUP) is no error."""
    try:
        print(file=out)
        print(printable(turn_table(snapshot)), file=out)
        print(printable(cost_line(snapshot)), file=out)
        if written is not None:
            print(f"lkmon: snapshot {written}", file=out, flush=True)
    except OSError as e:
        logger.warning("could not print the tables: %s", e)
