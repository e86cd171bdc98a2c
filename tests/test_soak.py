"""Soak: a synthetic one-hour session at real rates through the app, the model and the journal,
in accelerated time.

The session (tests/synthetic.py's ``Script``) has VAD activity at 2 events per second, mic and
agent levels at 10 per second, VADMetrics and usage once a second, and a turn every 10-20 s
(spoken turns with a tool call, an interruption, a failed turn or a log record now and then).
Each minute of it is posted to the app (``LkmonApp.post_event``, the runner's path) and to a
``JournalWriter``; then the app drains its queue and renders, as its timer would, with no
sleeping in between.

The model keeps at most ``MAX_EVENTS`` events and ``MAX_TRANSCRIPT`` transcript lines here
(20,000 and 2,000 by default, which an hour at this rate does not fill), so that every bounded
structure is full within the first half hour. Asserted: they stay at their bounds, Python memory
(tracemalloc) grows by less than ``MAX_SECOND_HALF_GROWTH`` bytes over the second half hour, the
feed dropped nothing, and the journal read back holds every turn the model has.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from synthetic import Script
from test_app import RecordingSource

from lkmon.model.events import Event, LogRecord, SpeechCreated
from lkmon.model.state import SessionModel
from lkmon.store.journal import JournalWriter, read_journal
from lkmon.tui.app import LkmonApp

SESSION_SECONDS = 3600.0
CHUNK_SECONDS = 60.0
"""Session seconds posted between two drains of the app."""
MAX_EVENTS = 1000
MAX_TRANSCRIPT = 200
MAX_SECOND_HALF_GROWTH = 1_500_000
"""Bytes the second half hour may add: the turns, which are kept for the whole session (about
115 turns of 2-3 kB with their rows on screen), and caches that fill up (Rich's cell widths).
Measured: about 0.7 MB. A buffer that kept the VAD or level events would add more (7,200 VAD
and 72,000 level events in that half hour)."""
MAX_GROWTH_PER_TURN = 4_000
"""Bytes per new turn that lkmon's own code and the events it keeps may add over the second
half hour (allocated in lkmon/ or in the event generator): a turn with its metrics, transcript
joins and the events it holds. Measured: about 2.5 kB. Keeping the VAD events of the half hour
as well would add about 5 kB per turn."""
pytestmark = pytest.mark.slow  # an hour of session, about 20 s: `pytest -m slow`

OURS = [tracemalloc.Filter(True, "*/lkmon/*"), tracemalloc.Filter(True, "*/tests/synthetic.py")]


def one_hour() -> Iterator[tuple[float, list[Event]]]:
    """(session seconds, events) for each stretch of the session, in order."""
    s = Script(vad_hz=2.0, level_hz=10.0).start()
    s.greeting()
    yield s.now, s.drain()
    i = 0
    while s.now < SESSION_SECONDS:
        i += 1
        s.idle(6.0 + (i * 7) % 9)  # with the turn itself: one turn every 10-20 s
        s.spoken_turn(
            f"Question number {i} about the weather?",
            "It is sunny today. Expect a light breeze this afternoon.",
            tool=("get_weather", '{"city": "Paris"}', "sunny") if i % 10 == 0 else None,
            interrupt_after=4 if i % 7 == 6 else None,
            llm_error="injected fault llm_raise" if i % 25 == 24 else None,
            eou=0.45 + 0.01 * (i % 20),
            ttft=0.25 + 0.005 * (i % 30),
        )
        if i % 5 == 0:
            s.emit(s.now, LogRecord, level="INFO", logger="livekit.agents", message=f"turn {i}")
            s.flush()
        yield s.now, s.drain()
    s.close()
    yield s.now, s.drain()


async def test_one_hour_in_accelerated_time(tmp_path: Path) -> None:
    started = time.monotonic()
    half: tracemalloc.Snapshot | None = None
    turns_at_half = 0
    model = SessionModel(max_events=MAX_EVENTS, max_transcript=MAX_TRANSCRIPT)
    clock = [0.0]
    app = LkmonApp(model, RecordingSource(), export_dir=tmp_path, clock=lambda: clock[0])
    journal = JournalWriter(tmp_path / "soak.journal.jsonl")
    posted = 0
    created = 0
    memory: dict[str, int] = {}
    pending: list[Event] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for now, events in one_hour():
            pending.extend(events)
            if events:
                clock[0] = events[-1].ts
            if now < SESSION_SECONDS and pending and pending[-1].ts - pending[0].ts < CHUNK_SECONDS:
                continue
            for event in pending:
                app.post_event(event)
                journal.write(event)
                created += type(event) is SpeechCreated
            posted += len(pending)
            pending.clear()
            while app.drain():  # as the 15 Hz timer would, until the queue is empty
                pass
            await pilot.pause()  # let the panes render
            if "half" not in memory and now >= SESSION_SECONDS / 2:
                gc.collect()
                memory["half"] = tracemalloc.get_traced_memory()[0]
                half = tracemalloc.take_snapshot().filter_traces(OURS)
                turns_at_half = len(model.turns)
            elif "start" not in memory and now >= 300:  # warmed up: caches and deques in use
                tracemalloc.start()
                memory["start"] = 0
        await pilot.pause()
        gc.collect()
        memory["end"] = tracemalloc.get_traced_memory()[0]
        ours = sum(d.size_diff for d in
                   tracemalloc.take_snapshot().filter_traces(OURS).compare_to(half, "filename"))
        tracemalloc.stop()
        rows = app.turns_pane.list.row_text(len(model.turns) - 1).plain
    journal.close()

    duration = model.session.duration or 0.0
    assert duration >= SESSION_SECONDS
    turns = len(model.turns)
    assert 180 <= turns <= 360 and turns == created, (turns, created)
    assert model.vad.inference_count > 0 and posted > 40_000
    assert app.feed.dropped_total == 0 and model.error_count > 0
    assert f"{turns:>5}" in rows  # the newest turn reached the screen
    assert len(model.events) == MAX_EVENTS and len(model.transcript) == MAX_TRANSCRIPT
    assert len(model.vad.trace) <= model.vad.trace.maxlen  # type: ignore[operator]

    growth = memory["end"] - memory["half"]
    per_turn = ours / (turns - turns_at_half)
    print(f"soak: {posted} events, {turns} turns, {duration / 60:.0f} min of session; "
          f"traced memory after 5 min +{memory['half'] / 1e6:.2f} MB at 30 min, "
          f"+{memory['end'] / 1e6:.2f} MB at 60 min (second half {growth / 1e6:+.2f} MB, "
          f"lkmon and events {ours / 1e6:+.2f} MB = {per_turn / 1e3:.1f} kB per new turn); "
          f"{time.monotonic() - started:.1f} s")
    assert growth < MAX_SECOND_HALF_GROWTH, memory
    assert per_turn < MAX_GROWTH_PER_TURN, per_turn

    # every turn reached the journal, in order
    events = read_journal(tmp_path / "soak.journal.jsonl")
    assert len(events) == posted
    journaled = [e.speech_id for e in events if type(e) is SpeechCreated]
    assert journaled == [t.speech_id for t in model.turns]
    replayed = SessionModel()
    replayed.apply_many(events)
    assert len(replayed.turns) == turns
    assert [t.metrics.e2e_latency for t in replayed.turns] == [
        t.metrics.e2e_latency for t in model.turns
    ]
