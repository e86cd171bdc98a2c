"""Interruptions, classified (lkmon.model.interruptions), on constructed sessions with known
answers: each class, the cases that are none, the counts, and the same result through the
snapshot (both load paths), the journal and the session protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from lkmon.model.events import (
    ChatMessageAdded,
    Event,
    FalseInterruption,
    OverlappingSpeech,
    SessionStarted,
    SpeechCreated,
    SpeechDone,
    UserStateChanged,
    VadActivity,
)
from lkmon.model.state import SessionModel
from lkmon.store.convert import to_snapshot
from lkmon.store.format import SNAPSHOT_VERSION
from lkmon.store.journal import JournalWriter
from lkmon.store.restore import load_session, model_from_snapshot
from lkmon.store.snapshot import write_snapshot

T0 = 1_767_225_600.0


def _speaks(start: float, stop: float, *, vad: bool = False) -> list[Event]:
    """The user speaks from ``start`` to ``stop`` (LiveKit's user state, back-dated as LiveKit
    does; with ``vad`` the VAD's own events instead: start confirmed 0.05 s late, end after its
    0.55 s silence window)."""
    if vad:
        return [
            VadActivity(ts=start + 0.05, event="start_of_speech", speaking=True,
                        speech_duration=0.05),
            VadActivity(ts=stop + 0.55, event="end_of_speech", speech_duration=stop - start,
                        silence_duration=0.55),
        ]
    return [
        UserStateChanged(ts=start, old_state="listening", new_state="speaking"),
        UserStateChanged(ts=stop, old_state="speaking", new_state="listening"),
    ]


def _turn(n: int, stop: float | None, played: float | None, ended: float, *,
          interrupted: bool, start: float | None = None) -> list[Event]:
    """Reply ``n`` to the user speech that stopped at ``stop`` (``None``: a greeting), played
    from ``played`` (``None``: never) to ``ended``."""
    sid = f"speech_{n}"
    out: list[Event] = []
    created = (stop if stop is not None else T0) + 0.6
    out.append(SpeechCreated(ts=created, speech_id=sid, scheduled=True))
    if stop is not None:
        out.append(ChatMessageAdded(
            ts=created + 0.01, item_id=f"user_{n}", role="user", text=f"question {n}",
            metrics={"started_speaking_at": start if start is not None else stop - 1.5,
                     "stopped_speaking_at": stop}))
    figures = {"stopped_speaking_at": ended}
    if played is not None:
        figures["started_speaking_at"] = played
    out.append(ChatMessageAdded(
        ts=ended + 0.01, item_id=f"agent_{n}", role="assistant", text=f"answer {n}",
        interrupted=interrupted, metrics=figures, speech_id=sid))
    out.append(SpeechDone(ts=ended + 0.02, speech_id=sid, interrupted=interrupted,
                          item_ids=[f"agent_{n}"], scheduled=True))
    return out


def _ordered(events: list[Event]) -> list[Event]:
    return sorted(events, key=lambda e: e.ts)


def _session() -> list[Event]:
    """Five turns, one of each case (timings in seconds after T0):

    1. cut in early: the user pauses 1.4 s; the reply starts 1.2 s into the pause; the user
       goes on 0.2 s after it started.
    2. barge-in: the reply plays from 1.0 s after the user's stop; the user speaks 3.0 s later.
    3. false interruption: the user coughs over the reply at 2.5 s into it; LiveKit resumes.
    4. not interrupted.
    5. interrupted before any audio played (the user resumed 0.5 s after stopping).
    """
    s1, s2, s3, s4, s5 = T0 + 2.0, T0 + 10.0, T0 + 20.0, T0 + 30.0, T0 + 40.0
    events: list[Event] = [SessionStarted(ts=T0, agent_file="agent_entry.py")]
    events += _speaks(T0 + 0.5, s1)
    events += _turn(1, s1, played=s1 + 1.2, ended=s1 + 1.9, interrupted=True)
    events += _speaks(s1 + 1.4, T0 + 8.5)
    events += _turn(2, T0 + 8.5, played=T0 + 9.5, ended=T0 + 13.1, interrupted=True)
    events += _speaks(T0 + 12.5, s2)  # barge-in 3.0 s into the reply (ends at s2: turn 3's)
    events += _turn(3, s2 + 5.0, played=s2 + 6.0, ended=s2 + 12.0, interrupted=False,
                    start=s2 + 4.0)
    events += _speaks(s2 + 4.0, s2 + 5.0)
    events += _speaks(s2 + 8.5, s2 + 8.8)  # the cough
    events.append(FalseInterruption(ts=s2 + 10.8, resumed=True, speech_id="speech_3"))
    events += _speaks(s3 - 1.5, s3)
    events += _turn(4, s3, played=s3 + 1.0, ended=s3 + 4.0, interrupted=False)
    events += _speaks(s4 - 1.5, s4)
    events += _turn(5, s4, played=None, ended=s4 + 1.1, interrupted=True)
    events += _speaks(s4 + 0.5, s5)
    events.append(OverlappingSpeech(ts=s2 + 8.9, is_interruption=False))
    return _ordered(events)


EXPECTED = ["cut_in_early", "barge_in", "false_interruption", None, None]


def _classes(model: SessionModel) -> list[str | None]:
    return [t.interruption for t in model.turns]


def test_each_class_from_livekit_timestamps() -> None:
    model = SessionModel()
    model.apply_many(_session())
    assert [t.interrupted for t in model.turns] == [True, True, False, False, True]
    assert _classes(model) == EXPECTED
    info = model.session
    assert (info.false_interruptions, info.false_resumed) == (1, 1)
    assert (info.overlapping_speech, info.overlapping_interruptions) == (1, 0)


@pytest.mark.parametrize(
    ("resume_after", "played_after", "expected"),
    [
        (0.8, 1.1, "cut_in_early"),  # the user went on before the reply was heard at all
        (1.4, 1.2, "cut_in_early"),  # 0.2 s after it started: within CUT_IN_WINDOW
        (1.75, 1.2, "barge_in"),  # 0.55 s after it started: the reply had been heard
        (2.3, 2.2, "barge_in"),  # a pause longer than MAX_PAUSE: a new utterance
    ],
)
def test_cut_in_early_thresholds(resume_after: float, played_after: float,
                                 expected: str) -> None:
    stop = T0 + 2.0
    events = [*_speaks(T0 + 0.5, stop), *_speaks(stop + resume_after, stop + 4.0),
              *_turn(1, stop, played=stop + played_after, ended=stop + 3.0, interrupted=True)]
    model = SessionModel()
    model.apply_many(_ordered(events))
    assert _classes(model) == [expected]


def test_the_vad_onsets_alone_classify_the_same() -> None:
    """A session whose user state events are missing: the VAD's start of speech (its time
    minus the speech it had confirmed) gives the same onsets."""
    stop = T0 + 2.0
    events = [*_speaks(T0 + 0.5, stop, vad=True), *_speaks(stop + 1.4, stop + 4.0, vad=True),
              *_turn(1, stop, played=stop + 1.2, ended=stop + 3.0, interrupted=True)]
    model = SessionModel()
    model.apply_many(_ordered(events))
    assert _classes(model) == ["cut_in_early"]


def test_none_without_user_speech_over_the_reply() -> None:
    """Interrupted from the agent's code (no user speech after the turn): no class."""
    stop = T0 + 2.0
    events = [*_speaks(T0 + 0.5, stop),
              *_turn(1, stop, played=stop + 1.0, ended=stop + 2.0, interrupted=True)]
    model = SessionModel()
    model.apply_many(_ordered(events))
    assert _classes(model) == [None]


def test_a_greeting_spoken_over_is_a_barge_in() -> None:
    events = [SpeechCreated(ts=T0, speech_id="speech_1", scheduled=True),
              *_turn(1, None, played=T0 + 1.0, ended=T0 + 3.0, interrupted=True)[1:],
              *_speaks(T0 + 2.0, T0 + 4.0)]
    model = SessionModel()
    model.apply_many(_ordered(events))
    assert _classes(model) == ["barge_in"]


def test_a_false_interruption_without_speech_id_is_the_reply_playing() -> None:
    """Over the session protocol (and in journals of other recorders) the event names no
    speech: the reply under way at its time takes it."""
    stop = T0 + 2.0
    events = [*_speaks(T0 + 0.5, stop),
              *_turn(1, stop, played=stop + 1.0, ended=stop + 6.0, interrupted=False),
              FalseInterruption(ts=stop + 4.0, resumed=False)]
    model = SessionModel()
    model.apply_many(_ordered(events))
    assert _classes(model) == ["false_interruption"]
    assert (model.session.false_interruptions, model.session.false_resumed) == (1, 0)


def _check(model: SessionModel) -> None:
    assert _classes(model) == EXPECTED
    info = model.session
    assert (info.false_interruptions, info.false_resumed, info.overlapping_speech) == (1, 1, 1)


def test_snapshot_format_4_and_both_load_paths(tmp_path: Path) -> None:
    model = SessionModel()
    model.apply_many(_session())
    snap = to_snapshot(model)
    assert snap.lkmon_snapshot == SNAPSHOT_VERSION == 5
    assert [t.interruption for t in snap.turns] == EXPECTED
    assert snap.summary.interruptions == {
        "false_interruption": 1, "cut_in_early": 1, "barge_in": 1}
    assert (snap.session.false_interruptions, snap.session.overlapping_speech) == (1, 1)
    _check(model_from_snapshot(snap))  # events complete: replayed
    sections = to_snapshot(model).model_dump(mode="json")
    sections["events_complete"] = False
    sections["session"]["events_complete"] = False
    sections["events"] = []
    restored = model_from_snapshot(sections)  # rebuilt from the turns and session sections
    _check(restored)
    assert to_snapshot(restored).summary.interruptions == snap.summary.interruptions
    path = write_snapshot(model, tmp_path / "s.json")
    _check(load_session(path))


def test_journal_replay_gives_the_same(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    journal = JournalWriter(path)
    for ev in _session():
        journal.write(ev)
    journal.close()
    _check(load_session(path))


def test_the_bridge_converts_livekits_events() -> None:
    from livekit.agents.inference.interruption import OverlappingSpeechEvent
    from livekit.agents.voice.events import AgentFalseInterruptionEvent

    from lkmon.agent.observe.convert import false_interruption, overlapping_speech

    fi = false_interruption(AgentFalseInterruptionEvent(resumed=True, created_at=T0), "s1")
    assert fi == FalseInterruption(ts=T0, resumed=True, speech_id="s1")
    ov = overlapping_speech(OverlappingSpeechEvent(
        created_at=T0, is_interruption=True, detection_delay=0.25,
        overlap_started_at=T0 - 0.4), None)
    assert ov == OverlappingSpeech(ts=T0, is_interruption=True, detection_delay=0.25,
                                   overlap_started_at=T0 - 0.4)


def test_the_session_protocol_carries_them() -> None:
    from livekit.protocol.agent_pb import agent_session as pb

    from lkmon.sources.protocol_events import EventConverter

    out: list[Event] = []
    conv = EventConverter(out.append)
    ev = pb.AgentSessionEvent(agent_false_interruption=pb.AgentSessionEvent.AgentFalseInterruption(
        resumed=True))
    ev.created_at.FromNanoseconds(int(T0 * 1e9))
    conv.event(ev)
    ov = pb.AgentSessionEvent(overlapping_speech=pb.AgentSessionEvent.OverlappingSpeech(
        is_interruption=True, detection_delay=0.3))
    ov.created_at.FromNanoseconds(int(T0 * 1e9))
    conv.event(ov)
    assert out == [FalseInterruption(ts=T0, resumed=True),
                   OverlappingSpeech(ts=T0, is_interruption=True, detection_delay=0.3)]


def test_the_turns_pane_html_report_and_turn_detail_show_them() -> None:
    from lkmon.report.html import build_html_report
    from lkmon.tui.widgets.bars import turn_flag
    from lkmon.tui.widgets.interrupts import detail_words, head_flag
    from lkmon.tui.widgets.turns import TurnsPane

    model = SessionModel()
    model.apply_many(_session())
    lines = TurnsPane(model, thresholds=(1.0, 2.0)).summary_table().plain.splitlines()
    assert lines[-1] == "interrupts  1 early  1 barge-in  1 false  1 other  1 overlaps"
    assert max(len(line) for line in lines) <= 64  # fits the pane at 80 columns
    turns = model.turns
    assert [turn_flag(t)[0] for t in turns] == [
        "⚡ early", "⚡ barge", "⚡ false", "", "⚡ intr"]
    assert [detail_words(t) for t in turns] == [
        "yes: cut in early", "yes: barge-in", "paused: a false interruption (LiveKit's)", "no",
        "yes, before playback"]
    assert head_flag(turns[2]) == "paused: false interruption"
    page = build_html_report(model)
    assert "interrupted replies <b>3</b> · cut in early <b>1</b> · barge-in <b>1</b>" in page
    assert "LiveKit false interruptions <b>1</b>" in page
    assert '<span class="tag int">interrupted: cut in early</span>' in page
    assert '<span class="tag int">paused: false interruption</span>' in page


def test_the_turns_pane_says_nothing_of_interruptions_before_any() -> None:
    from lkmon.tui.widgets.turns import TurnsPane

    model = SessionModel()
    stop = T0 + 2.0
    model.apply_many(_ordered([*_speaks(T0 + 0.5, stop),
                               *_turn(1, stop, played=stop + 1.0, ended=stop + 3.0,
                                      interrupted=False)]))
    assert "interrupts" not in TurnsPane(model, thresholds=(1.0, 2.0)).summary_table().plain


def test_a_reply_interrupted_by_the_rest_of_the_utterance_cut_in_early() -> None:
    """As on the real session: the caller paused 1 s and went on; LiveKit committed the turn
    0.5 s after the whole speech with the first part's transcript only, the reply started,
    and the second part's late final transcript interrupted it (a turn of its own with the
    same end of speech). No one spoke over the reply, yet it answered half an utterance."""
    stop = T0 + 13.07
    events = [*_speaks(T0 + 6.7, T0 + 9.3), *_speaks(T0 + 10.3, stop),
              *_turn(1, stop, played=stop + 0.56, ended=stop + 1.88, interrupted=True),
              *_turn(2, stop, played=stop + 2.7, ended=stop + 7.0, interrupted=True),
              *_speaks(stop + 4.77, stop + 6.5)]
    model = SessionModel()
    model.apply_many(_ordered(events))
    assert _classes(model) == ["cut_in_early", "barge_in"]


def test_the_headless_line_names_the_class() -> None:
    from lkmon.report.text import turn_flags

    model = SessionModel()
    model.apply_many(_session())
    assert [turn_flags(t) for t in model.turns] == [
        " interrupted:early", " interrupted:barge", " paused:false", "", " interrupted"]


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_the_turn_detail_title_never_breaks_a_flag(width: int) -> None:
    from dataclasses import replace

    from rich.console import Console

    from lkmon.tui.widgets.detail import TurnDetailScreen

    model = SessionModel()
    model.apply_many(_session())
    turn = replace(model.turns[2], preemptive=True, restored=False)  # paused: false interruption
    console = Console(width=width, record=True, color_system=None)
    console.print(TurnDetailScreen(model, 3).build(turn))
    text = console.export_text()
    for flag in ("[paused: false interruption]", "[preemptive, kept]"):
        assert flag in text, (width, text[:400])
    assert text.splitlines()[0].startswith("Turn 3")
