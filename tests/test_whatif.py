"""The endpointing what-if (lkmon.model.whatif) on constructed sessions with known pauses, and
the same table through the snapshot (both load paths) and the journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from lkmon.model.events import ChatMessageAdded, Event, SpeechCreated, UserTranscribed, VadActivity
from lkmon.model.state import SessionModel
from lkmon.model.whatif import DELAYS, Gap, of_session, what_if
from lkmon.store.convert import to_snapshot
from lkmon.store.journal import JournalWriter
from lkmon.store.restore import load_session, model_from_snapshot

T0 = 1_767_225_600.0


def _segment(start: float, stop: float) -> list[Event]:
    """The VAD's view of speech from ``start`` to ``stop`` (seconds after T0): start confirmed
    0.05 s late, end after its 0.55 s silence window; the final transcript 0.75 s after."""
    return [
        VadActivity(ts=T0 + start + 0.05, event="start_of_speech", speaking=True,
                    speech_duration=0.05),
        VadActivity(ts=T0 + stop + 0.55, event="end_of_speech", speech_duration=stop - start,
                    silence_duration=0.55),
        UserTranscribed(ts=T0 + stop + 0.75, text="words", is_final=True),
    ]


def _reply(n: int, stop: float, played: float) -> list[Event]:
    return [
        SpeechCreated(ts=T0 + stop + 0.8, speech_id=f"s{n}", scheduled=True),
        ChatMessageAdded(ts=T0 + stop + 0.81, item_id=f"u{n}", role="user", text="q",
                         metrics={"stopped_speaking_at": T0 + stop}),
        ChatMessageAdded(ts=T0 + played + 2.0, item_id=f"a{n}", role="assistant", text="a",
                         metrics={"started_speaking_at": T0 + played,
                                  "stopped_speaking_at": T0 + played + 2.0}, speech_id=f"s{n}"),
    ]


def _session() -> list[Event]:
    """Pauses of 0.85 s and 1.35 s inside the first utterance (no reply played in them), then
    two ends of turn: a reply played 1.2 s after each, the user spoke 4 s after."""
    events = [*_segment(0.5, 2.0), *_segment(2.85, 4.0), *_segment(5.35, 6.0),
              *_reply(1, 6.0, 7.2), *_segment(10.0, 11.0), *_reply(2, 11.0, 12.2),
              *_segment(15.0, 16.0)]
    return sorted(events, key=lambda e: e.ts)


def _table(model: SessionModel) -> dict[float, tuple[int, float | None]]:
    w = of_session(model.interruptions, model.turns)
    return {r.min_delay: (r.early_cuts, r.added_eou) for r in w.rows}


def test_the_table_on_known_pauses() -> None:
    model = SessionModel()
    model.apply_many(_session())
    w = of_session(model.interruptions, model.turns)
    assert (w.pauses, w.turn_ends, w.min_delay, w.assumed) == (2, 2, 0.5, True)
    assert [r.min_delay for r in w.rows] == list(DELAYS) == [
        0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8,
        1.9, 2.0]
    table = _table(model)
    # each pause is committed once its transcript is in (0.75 s after the speech) or the min
    # delay has passed, whichever is later: both pauses are cut up to 0.8 s; from 0.9 s the
    # first is not (0.85 s), and the second no more from 1.4 s
    for d in (0.2, 0.5, 0.7, 0.8):
        assert table[d][0] == 2, d
    assert table[0.9][0] == table[1.3][0] == 1
    assert table[1.4][0] == table[2.0][0] == 0
    # the ends of turn wait max(d, 0.75 s transcript) against 0.75 s at the session's 0.5 s
    assert table[0.5][1] == table[0.6][1] == 0.0 and table[0.8][1] == pytest.approx(0.05)
    assert table[1.0][1] == pytest.approx(0.25) and table[2.0][1] == pytest.approx(1.25)
    assert w.recommended == 1.4


def test_the_session_s_own_setting_from_the_spans_and_the_window_floor() -> None:
    """Against a session that ran at 1.0 s: shorter delays save, down to the VAD's window."""
    found = [Gap(T0, 0.9, 0.55, True, T0 + 0.3), Gap(T0 + 5, 3.0, 0.55, False, T0 + 5.3)]
    w = what_if(found, [T0 + 0.3, T0 + 5.3], 1.0)
    rows = {r.min_delay: r for r in w.rows}
    assert not w.assumed and w.min_delay == 1.0
    assert rows[0.2].added_eou == pytest.approx(-0.45)  # the window: 0.55 s, not 0.2 s
    assert rows[0.8].added_eou == pytest.approx(-0.2) and rows[0.8].early_cuts == 1
    assert rows[0.9].early_cuts == 0 and w.recommended == 0.9
    assert what_if([Gap(T0, 2.5, 0.55, True)], [T0 + 0.3], None).recommended is None
    # no transcript at all: LiveKit commits nothing, so nothing is cut
    assert what_if([Gap(T0, 2.5, 0.55, True)], [], None).recommended == 0.2
    empty = what_if([], [], None)
    assert empty.recommended is None and all(r.added_eou is None for r in empty.rows)


def test_a_cut_in_early_turn_is_a_pause_the_session_s_setting_cut() -> None:
    """The user paused 1.45 s, the reply started 1.2 s in and the user went on 0.25 s later:
    that pause is inside the utterance, cut at 0.5 s and not from 1.5 s."""
    events = sorted([*_segment(0.5, 2.0), *_reply(1, 2.0, 3.2), *_segment(3.45, 5.0)],
                    key=lambda e: e.ts)
    model = SessionModel()
    model.apply_many(events)
    table = _table(model)
    assert table[0.5][0] == table[1.4][0] == 1 and table[1.5][0] == 0
    assert of_session(model.interruptions, model.turns).recommended == 1.5
    assert [t.interruption for t in model.turns] == [None]  # not interrupted: no class


def test_snapshot_journal_and_sections_give_the_same_table(tmp_path: Path) -> None:
    model = SessionModel()
    model.apply_many(_session())
    snap = to_snapshot(model)
    s = snap.summary
    assert s.endpointing_recommended == 1.4 and len(s.endpointing_whatif) == 19
    assert s.endpointing_basis is not None and s.endpointing_basis.pauses == 2
    rows = [r.model_dump() for r in s.endpointing_whatif]
    assert rows[3] == {"min_delay": 0.5, "early_cuts": 2, "added_eou": 0.0}
    again = to_snapshot(model_from_snapshot(snap)).summary  # replayed from the events
    assert [r.model_dump() for r in again.endpointing_whatif] == rows
    sections = snap.model_dump(mode="json")
    sections["events_complete"] = sections["session"]["events_complete"] = False
    sections["events"] = []
    restored = to_snapshot(model_from_snapshot(sections)).summary
    assert [r.model_dump() for r in restored.endpointing_whatif] == rows
    assert restored.endpointing_recommended == 1.4 and restored.endpointing_basis == (
        s.endpointing_basis)
    path = tmp_path / "s.jsonl"
    journal = JournalWriter(path)
    for ev in _session():
        journal.write(ev)
    journal.close()
    replayed = to_snapshot(load_session(path)).summary
    assert [r.model_dump() for r in replayed.endpointing_whatif] == rows


async def test_the_w_key_opens_the_table_in_the_tui() -> None:
    from lkmon.tui.app import LkmonApp
    from lkmon.tui.widgets.whatif import WhatIfScreen

    model = SessionModel()
    model.apply_many(_session())
    app = LkmonApp(model, export_dir=".", clock=lambda: T0 + 60.0)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        assert "What-if" in str(app.query_one("Footer").render()) or any(
            b.action == "endpointing_whatif" and b.show for b in app.BINDINGS)
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, WhatIfScreen)
        widget = app.screen.query_one("#whatif-content")
        text = str(widget.render()) if not widget.size.height else "\n".join(
            strip.text for strip in widget.render_lines(widget.region.reset_offset))
        assert "Computed from this session's own pauses: 2 pause(s) inside utterances" in text
        assert "LiveKit's default" in text and "Recommended: min delay 1.400 s" in text
        rows = {line.split()[0]: line for line in text.splitlines() if line.strip()[:1].isdigit()}
        assert "smallest with no early cut" in rows["1.4"] and "this session" in rows["0.5"]
        await pilot.press("escape")
        assert not isinstance(app.screen, WhatIfScreen)


def test_the_html_report_has_the_table() -> None:
    from lkmon.report.html import build_html_report

    model = SessionModel()
    model.apply_many(_session())
    page = build_html_report(model)
    assert "Computed from this session's own pauses: <b>2</b> pause(s)" in page
    assert '<tr><td class=n>1.4 s</td><td class=n>0</td>\n<td class=n>+0.650 s</td>' in page
    assert "smallest with no early cut" in page
    assert "Recommended: min delay <b>1.400 s</b>" in page
    assert "Endpointing what-if" not in build_html_report(SessionModel())


def test_the_headless_table_shows_where_the_cuts_change_and_the_recommendation() -> None:
    from lkmon.report.text import turn_table, whatif_table

    model = SessionModel()
    model.apply_many(_session())
    snap = to_snapshot(model)
    table = whatif_table(snap)
    lines = table.splitlines()
    assert lines[0] == "Endpointing what-if over this session's 2 pauses inside utterances and 2" \
        " ends of turn"
    rows = {float(line.split()[0]): line for line in lines[3:-1]}
    cuts = {d: r.early_cuts for d, r in ((r.min_delay, r) for r in snap.summary.endpointing_whatif)}
    assert 0.5 in rows and rows[0.5].endswith("this session")
    assert rows[1.4].endswith("smallest with no early cut") and cuts[1.4] == 0
    # every change of the early cuts is shown, and no row repeats the one above it
    changes = [d for prev, d in zip(sorted(cuts), sorted(cuts)[1:], strict=False)
               if cuts[d] != cuts[prev]]
    assert set(changes) <= set(rows) and min(cuts) in rows
    assert lines[-1] == ("Recommended: min delay 1.400 s (the smallest that cuts none of these"
                         " pauses).")
    assert table in turn_table(snap)
    assert whatif_table(to_snapshot(SessionModel())) == ""
