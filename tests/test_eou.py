"""The EOU decision decomposed (lkmon.model.eou), on constructed events with known answers."""

from __future__ import annotations

import json

import pytest

from lkmon.model.eou import EouParts
from lkmon.model.events import ChatMessageAdded, Event, SpeechCreated, TraceSpan, VadActivity
from lkmon.model.state import SessionModel
from lkmon.store.events import decode_json, encode

T0 = 1_767_225_600.0
STOP = T0 + 2.0  # the user's last speech


def _turn_events(*, user_first: bool) -> list[Event]:
    """One spoken turn: the VAD waits 0.55 s of silence, the final transcript comes 0.70 s after
    the speech, the detector scores 0.127 < 0.56 and the turn waits to 1.10 s; the hook 0.02 s.
    A first wait was cut short by the user speaking again (its prediction is not committed)."""
    wait = TraceSpan(
        ts=STOP + 1.1, name="eou_wait", start=STOP, span_id="w2", parent_id="u1",
        attributes={"lk.eou.outcome": "committed", "lk.eou.endpointing_delay": 1.0,
                    "lk.eou.rearm_count": 1},
    )
    spans: list[Event] = [
        TraceSpan(ts=T0 + 0.9, name="eou_detection", start=T0 + 0.8, span_id="d1",
                  parent_id="w1", attributes={"lk.eou.probability": 0.9,
                                              "lk.eou.unlikely_threshold": 0.56}),
        TraceSpan(ts=T0 + 1.0, name="eou_wait", start=T0 + 0.5, span_id="w1", parent_id="u1",
                  attributes={"lk.eou.outcome": "user_resumed"}),
        VadActivity(ts=STOP + 0.55, event="end_of_speech", silence_duration=0.55),
        TraceSpan(ts=STOP + 0.71, name="eou_detection", start=STOP + 0.70, span_id="d2",
                  parent_id="w2", attributes={"lk.eou.probability": 0.127,
                                              "lk.eou.unlikely_threshold": 0.56,
                                              "lk.eou.endpointing_delay": 1.0,
                                              "lk.eou.source": "stt"}),
        wait,
        TraceSpan(ts=STOP + 1.12, name="on_user_turn_completed", start=STOP + 1.1,
                  span_id="h1", parent_id="u1"),
    ]
    user_turn = TraceSpan(
        ts=STOP + 1.13, name="user_turn", start=T0, span_id="u1", parent_id="root",
        attributes={"lk.transcription_delay": 0.7, "lk.end_of_turn_delay": 1.1,
                    "lk.pii.user_transcript": "never kept"},
    )
    reply: list[Event] = [
        SpeechCreated(ts=STOP + 1.12, speech_id="speech_1", source="generate_reply"),
        ChatMessageAdded(
            ts=STOP + 1.121, item_id="item_1", role="user", text="Yeah.",
            created_at=STOP + 1.12,
            metrics={"started_speaking_at": T0, "stopped_speaking_at": STOP,
                     "transcription_delay": 0.7, "end_of_turn_delay": 1.1,
                     "on_user_turn_completed_delay": 0.02},
        ),
    ]
    return [*spans, *reply, user_turn] if user_first else [*spans, user_turn, *reply]


@pytest.mark.parametrize("user_first", [True, False], ids=["message-first", "span-first"])
def test_parts_of_a_constructed_turn(user_first: bool) -> None:
    model = SessionModel()
    model.apply_many(_turn_events(user_first=user_first))
    (turn,) = model.turns
    parts = turn.eou_parts
    assert isinstance(parts, EouParts)
    seg = parts.segments()
    assert seg == pytest.approx(
        {"silence": 0.55, "transcript": 0.15, "decision": 0.40, "hook": 0.02}, abs=1e-6)
    assert parts.wait == pytest.approx(1.1) and parts.end_of_turn_delay == 1.1
    assert parts.endpointing_delay == 1.0 and parts.vad_silence == 0.55
    assert parts.resumes == 1 and parts.rearms == 1
    assert [(p.probability, p.committed) for p in parts.predictions] == [
        (0.9, False), (0.127, True)]
    assert parts.predictions[1].threshold == 0.56 and parts.predictions[1].trigger == "stt"
    assert not model.eou.pending


def test_spans_round_trip_through_the_journal_codec() -> None:
    events = _turn_events(user_first=False)
    replayed = [decode_json(json.dumps(encode(e))) for e in events]
    assert replayed == events
    model = SessionModel()
    model.apply_many(replayed)
    assert model.turns[0].eou_parts is not None


def test_segments_clamp_and_add_up() -> None:
    """A transcript before the VAD's end, a VAD end after the decision: no part is negative,
    and the three add up to the wait."""
    p = EouParts(stopped_at=10.0, decided_at=10.5, transcription_delay=0.1, vad_end_at=10.6)
    seg = p.segments()
    assert seg == {"silence": 0.5, "transcript": 0.0, "decision": 0.0, "hook": None}
    p = EouParts(stopped_at=10.0, decided_at=10.5)  # no VAD event, no transcript timing
    assert p.segments()["decision"] == 0.5


def test_a_turn_without_a_decision_gets_no_parts() -> None:
    model = SessionModel()
    model.apply_many([
        TraceSpan(ts=T0 + 1, name="eou_wait", start=T0, span_id="w", parent_id="u",
                  attributes={"lk.eou.outcome": "dropped"}),
        TraceSpan(ts=T0 + 1, name="user_turn", start=T0, span_id="u"),
    ])
    assert not model.eou.pending


def test_parts_in_the_snapshot_and_the_summary_table() -> None:
    from lkmon.report.text import turn_table
    from lkmon.store.convert import to_snapshot
    from lkmon.store.format import Snapshot

    model = SessionModel()
    model.apply_many(_turn_events(user_first=False))
    snap = to_snapshot(model)
    loaded = Snapshot.model_validate_json(snap.model_dump_json())
    parts = loaded.turns[0].eou_parts
    assert parts is not None and parts == model.turns[0].eou_parts
    assert parts.predictions[1].probability == 0.127
    table = turn_table(loaded)
    assert "EOU delay in parts, 1 turns" in table
    rows = {line.split()[0]: line.split() for line in table.splitlines()[-4:-1]}
    assert rows["p95"][1:] == ["0.550", "s", "0.150", "s", "0.400", "s", "0.020", "s"]
    assert "p95 EOU 1.100 s: VAD silence p95 0.550 s" in table


def test_timeline_in_the_turn_detail() -> None:
    from rich.console import Console

    from lkmon.tui.widgets.eou_timeline import eou_timeline

    model = SessionModel()
    model.apply_many(_turn_events(user_first=False))
    parts = model.turns[0].eou_parts
    assert parts is not None
    console = Console(width=160, record=True)
    console.print(eou_timeline(parts, width=44))
    text = console.export_text()
    bar = text.splitlines()[0]
    assert bar.count("█") == 44 and "EOU 1.100 s" in bar
    for shown in ("VAD silence 0.550 s (VAD window 0.550 s)", "transcript 0.150 s",
                  "turn decision 0.400 s (endpointing delay 1.000 s)",
                  "on_user_turn_completed 0.020 s", "the user resumed 1x",
                  "+0.710 s  P(end of turn) 0.127 < threshold 0.560  -> delay 1.000 s  (stt)",
                  "P(end of turn) 0.900 >= threshold 0.560", "wait cut short by the user"):
        assert shown in text, (shown, text)


def test_per_part_percentiles_in_the_html_report() -> None:
    import html.parser

    from lkmon.report.html import build_html_report

    model = SessionModel()
    model.apply_many(_turn_events(user_first=False))
    page = build_html_report(model)

    class Cells(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.inside, self.rows = False, []

        def handle_starttag(self, tag: str, attrs: list) -> None:
            if tag == "table" and ("class", "eou-parts") in attrs:
                self.inside = True
            elif self.inside and tag == "tr":
                self.rows.append([])

        def handle_endtag(self, tag: str) -> None:
            if tag == "table":
                self.inside = False

        def handle_data(self, data: str) -> None:
            if self.inside and self.rows and data.strip():
                self.rows[-1].append(data.strip())

    cells = Cells()
    cells.feed(page)
    rows = {r[0]: r[1:] for r in cells.rows[1:]}
    assert rows["VAD silence"] == ["1", "0.550 s", "0.550 s", "0.550 s"]
    assert len(rows) == 4


def test_the_html_turn_bar_splits_the_eou_delay_into_its_parts() -> None:
    import re

    from lkmon.model import vocab
    from lkmon.report.html import build_html_report

    model = SessionModel()
    model.apply_many(_turn_events(user_first=False))
    page = build_html_report(model)
    segs = re.findall(r'width:([0-9.]+)%;background:(#[0-9a-f]{6})" title="([^"]+)"', page)
    assert not [t for _, _, t in segs if t.startswith(vocab.EOU.label)]  # no one EOU block
    eou = [(float(w), title) for w, c, title in segs
           if c in vocab.EOU_PART_COLOURS.values()]
    assert [title.split(" ")[1] for _, title in eou] == ["VAD", "transcript", "turn"]
    assert eou[0][1] == "EOU: VAD silence 0.550 s"


def test_the_turns_pane_bar_splits_the_eou_segment_into_its_parts() -> None:
    from lkmon.model import vocab
    from lkmon.tui.widgets.bars import bar_segments, render_bar, split_bar_segments

    model = SessionModel()
    model.apply_many(_turn_events(user_first=False))
    turn = model.turns[0]
    split = split_bar_segments(turn)
    assert [k for k, _ in split][:3] == ["eou.silence", "eou.transcript", "eou.decision"]
    eou = dict(bar_segments(turn))[vocab.EOU.key]
    assert abs(sum(v for k, v in split if k.startswith("eou.")) - eou) < 1e-9
    bar = render_bar(split, 40, 2.0)
    styles = {str(s.style) for s in bar.spans}
    assert {vocab.EOU_PART_COLOURS[p] for p in ("silence", "transcript", "decision")} <= styles
    assert bar.cell_len == 40
    turn.eou_parts = None  # no parts: one EOU block
    assert split_bar_segments(turn) == bar_segments(turn)


async def test_the_turns_pane_summary_has_the_p95_of_each_eou_part() -> None:
    from rich.text import Text

    from lkmon.model import vocab
    from lkmon.tui.app import LkmonApp

    model = SessionModel()
    model.apply_many(_turn_events(user_first=False))
    app = LkmonApp(model, export_dir="/tmp")
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.pause()
        lines = app.turns_pane.summary_table().plain.splitlines()
        assert lines[-1].rstrip() == "EOU parts   p95 ■VAD 0.550 s  ■STT 0.150 s  ■turn 0.400 s"
        legend = str(app.turns_pane.border_subtitle)  # the bars draw EOU split: so does the key
        assert Text.from_markup(legend).plain.startswith("EOU ■VAD ■STT ■turn  ■ LLM TTFT")
        assert all(colour in legend for colour in vocab.EOU_PART_COLOURS.values()
                   if colour != vocab.EOU_PART_COLOURS["hook"])
        assert max(len(line.rstrip()) for line in lines) <= 64  # fits the 66-cell pane


def test_the_session_protocols_eot_predictions_make_a_turns_eou_parts() -> None:
    """Over LiveKit's session protocol there are no spans: the turn detector's ``eot_prediction``
    events and the user message's metrics (real protobuf messages through lkmon's converter,
    then the journal's codec) give the turn its parts and predictions; the protocol carries no
    VAD end of speech, so the silence part is unknown (``None``), not 0."""
    from google.protobuf.timestamp_pb2 import Timestamp
    from livekit.protocol.agent_pb import agent_session as pb

    from lkmon.sources.protocol_events import EventConverter

    t0 = 1_767_225_600.0
    out: list[Event] = []
    convert = EventConverter(out.append)

    def stamp(at: float) -> Timestamp:
        ts = Timestamp()
        ts.FromNanoseconds(int(at * 1e9))
        return ts

    eot = pb.AgentSessionEvent.EotPrediction(probability=0.127, threshold=0.56)
    eot.delay.FromNanoseconds(2_500_000_000)
    eot.inference_duration.FromNanoseconds(21_000_000)
    convert.event(pb.AgentSessionEvent(created_at=stamp(t0 + 0.4), eot_prediction=eot))
    message = pb.ChatMessage(id="item_u1", role=pb.ChatRole.USER,
                             content=[pb.ChatMessage.ChatContent(text="Yeah.")])
    message.metrics.stopped_speaking_at.CopyFrom(stamp(t0))
    message.metrics.started_speaking_at.CopyFrom(stamp(t0 - 0.6))
    message.metrics.transcription_delay = 0.3
    message.metrics.end_of_turn_delay = 2.9
    convert.event(pb.AgentSessionEvent(
        created_at=stamp(t0 + 2.9), conversation_item_added=(
            pb.AgentSessionEvent.ConversationItemAdded(item=pb.ChatContext.ChatItem(
                message=message)))))
    assert any(type(e).__name__ == "EotPrediction" for e in out), out
    model = SessionModel()
    model.apply_many([decode_json(json.dumps(encode(e))) for e in out])  # the journal line
    (turn,) = model.turns
    parts = turn.eou_parts
    assert parts is not None and parts.end_of_turn_delay == pytest.approx(2.9)
    (p,) = parts.predictions
    assert (p.probability, p.threshold) == (pytest.approx(0.127), pytest.approx(0.56))
    assert p.delay == pytest.approx(2.5) and parts.endpointing_delay == pytest.approx(2.5)
    seg = parts.segments()
    assert seg["silence"] is None  # not carried: unknown, not zero
    assert seg["transcript"] == pytest.approx(0.3) and seg["decision"] == pytest.approx(2.6)


def test_protocol_predictions_of_waits_cut_short_and_stale_ones_are_used_up() -> None:
    """A prediction made while the user was still speaking (a pause, a wait the user cut short)
    is the turn's, not committed; one from before the user started belongs to no turn; both are
    used up at the decision, so nothing is left to match a later turn."""
    from lkmon.model.spans import EotPrediction

    t0 = 1_767_225_600.0
    model = SessionModel()
    model.apply_many([
        EotPrediction(ts=t0 - 9.0, probability=0.9, threshold=0.36, delay=0.3),  # stale
        EotPrediction(ts=t0 - 1.0, probability=0.2, threshold=0.36, delay=1.5),  # a pause
        EotPrediction(ts=t0 + 0.3, probability=0.8, threshold=0.36, delay=0.3),  # the end
        SpeechCreated(ts=t0 + 0.6, speech_id="protocol_1", source="generate_reply",
                      user_initiated=True),  # as lkmon's protocol converter emits a user turn
        ChatMessageAdded(ts=t0 + 0.6, item_id="u1", role="user", text="Go forward.",
                         metrics={"started_speaking_at": t0 - 2.0, "stopped_speaking_at": t0,
                                  "transcription_delay": 0.25, "end_of_turn_delay": 0.6}),
    ])
    (turn,) = model.turns
    parts = turn.eou_parts
    assert parts is not None
    assert [(p.probability, p.committed) for p in parts.predictions] == [
        (pytest.approx(0.2), False), (pytest.approx(0.8), True)]
    assert parts.endpointing_delay == pytest.approx(0.3)
    assert not model.eou.waiting  # every prediction up to the decision is used up
