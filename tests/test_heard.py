"""The silence the caller hears (``heard_gap``), on constructed audio with known offsets.

In-process and cheap: a WAV caller plays a 0.3 s recording to nobody, a null sink plays 0.1 s,
and the model folds events made from what they measured. The real session is in
``test_heard_session.py`` (slow lane).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from livekit import rtc

from lkmon.agent.audio.callers import WavCaller
from lkmon.agent.audio.heard import HeardMeter, first_voiced, last_voiced
from lkmon.agent.audio.sinks import NullSink, SpeakerSink
from lkmon.model.events import (
    AgentAudible,
    ChatMessageAdded,
    Event,
    PluginMetrics,
    SpeechCreated,
    SpeechDone,
)
from lkmon.model.heard import HeardDifference, differing, heard_missing_reason
from lkmon.model.state import SessionModel
from lkmon.store.events import decode, encode
from lkmon.store.snapshot import build_snapshot, load_session, write_snapshot

RATE = 16000
END = 3205
"""The recording's last voiced sample (not on a frame or window edge)."""


def tone(n: int, rate: int, dbfs: float = -12.0, hz: float = 300.0) -> np.ndarray:
    t = np.arange(n) / rate
    return (np.sin(2 * np.pi * hz * t) * 32767 * 10 ** (dbfs / 20)).astype(np.int16)


def recording(tmp_path: Path) -> Path:
    """0.3 s: a tone whose last sample above -40 dBFS is ``END``, then digital silence."""
    x = np.zeros(int(0.3 * RATE), dtype=np.int16)
    x[: END + 1] = tone(END + 1, RATE)
    x[END] = 3000  # a loud last sample, so the edge is exactly END whatever the tone's phase
    path = tmp_path / "speech.wav"
    sf.write(path, x, RATE, subtype="PCM_16")
    return path


def test_voiced_edges_are_found_to_the_sample() -> None:
    x = np.zeros(4000, dtype=np.int16)
    x[1000:2500] = tone(1500, RATE)
    x[1000] = x[2499] = 2000
    assert first_voiced(x, RATE) == 1000
    assert last_voiced(x, RATE) == 2499
    assert last_voiced(np.zeros(160, np.int16), RATE) is None
    # background noise at -60 dBFS is not voice; a lone click in a quiet window is not either
    noise = (np.random.default_rng(1).standard_normal(1600) * 32768 * 10 ** (-60 / 20))
    quiet = noise.astype(np.int16)
    assert last_voiced(quiet, RATE) is None
    quiet[800] = 400  # -38 dBFS on one sample; its 1 ms window's RMS is about -50 dBFS
    assert first_voiced(quiet, RATE) is None
    # a block of 241 samples (a device's odd block size) keeps its tail window
    odd = np.zeros(241, np.int16)
    odd[240] = 5000
    assert first_voiced(odd, 24000) == 240


async def test_a_recording_is_measured_from_its_last_voiced_sample(tmp_path: Path) -> None:
    caller = WavCaller([recording(tmp_path)], gap=0.0)
    caller.heard = HeardMeter()
    caller.watcher.state = "listening"  # no session: the agent counts as quiet
    frame_of_end = END // 160
    handed: list[tuple[float, float]] = []  # (before, after) each frame was handed over
    for _ in range(32):
        before = time.time()
        await caller.__anext__()
        handed.append((before, time.time()))
    before, after = handed[frame_of_end]  # gap 0: the recording starts with the first frame
    held = (160 - END % 160 - 1) / RATE  # the frame's audio after the last voiced sample
    assert caller.heard.voice_end_at is not None
    assert before - held <= caller.heard.voice_end_at <= after - held


class Audible:
    """What a sink reported: LiveKit's playback starts and lkmon's AgentAudible events."""

    def __init__(self, sink: NullSink | SpeakerSink) -> None:
        self.events: list[Event] = []
        self.started: list[float] = []
        sink.on("playback_started", lambda ev: self.started.append(ev.created_at))


async def play(sink: NullSink, audio: np.ndarray) -> None:
    step = 240
    for i in range(0, len(audio), step):
        chunk = audio[i : i + step]
        await sink.capture_frame(rtc.AudioFrame(chunk.tobytes(), 24000, 1, len(chunk)))
    sink.flush()
    await asyncio.wait_for(sink.wait_for_playout(), 3)


@pytest.mark.parametrize("delay", [0.0, 0.2])
async def test_a_sink_that_plays_late_is_in_the_heard_gap_only(delay: float) -> None:
    got: list[Event] = []
    sink = NullSink(got.append, output_delay=delay)
    meter = HeardMeter()
    meter.voice_end_at = time.time()
    sink.measure_heard(meter)
    seen = Audible(sink)
    await play(sink, tone(2400, 24000))  # 0.1 s, audible from its first sample
    (ev,) = [e for e in got if isinstance(e, AgentAudible)]
    (started,) = seen.started
    assert ev.playback_started_at == started  # LiveKit's playback start: the read, no delay
    assert ev.at - started == pytest.approx(delay, abs=0.001)
    assert ev.output_delay == delay and ev.voice_end_at == meter.voice_end_at
    await sink.aclose()


async def test_silence_at_the_head_of_a_reply_is_playback_start() -> None:
    got: list[Event] = []
    sink = NullSink(got.append)
    sink.measure_heard(HeardMeter())
    seen = Audible(sink)
    audio = np.concatenate([np.zeros(1205, np.int16), tone(2400, 24000)])
    audio[1205] = 3000
    await play(sink, audio)
    (ev,) = [e for e in got if isinstance(e, AgentAudible)]
    # 1205 samples in: the 6th 10 ms block, read about 50 ms after the first (the loop's pacing)
    assert 1205 / 24000 - 0.002 <= ev.at - seen.started[0] <= 1205 / 24000 + 0.05
    assert ev.voice_end_at is None  # the caller never spoke
    await sink.aclose()


async def test_a_sink_without_a_meter_measures_nothing() -> None:
    got: list[Event] = []
    sink = NullSink(got.append)
    await play(sink, tone(480, 24000))
    assert not [e for e in got if isinstance(e, AgentAudible)]
    await sink.aclose()


class DacTime:
    """PortAudio's time info for one callback: the block reaches the DAC 50 ms from now."""

    currentTime = 100.0  # noqa: N815 (PortAudio's names)
    outputBufferDacTime = 100.05  # noqa: N815


async def test_the_speakers_output_latency_is_added(monkeypatch: pytest.MonkeyPatch) -> None:
    from lkmon.agent.audio import sinks

    class Device:
        def query_devices(self, device=None, kind=None):  # noqa: ANN001, ANN201
            return {"name": "fake", "default_samplerate": 24000.0}

    monkeypatch.setattr(sinks, "_sounddevice", lambda: Device())
    got: list[Event] = []
    sink = sinks.SpeakerSink(got.append)
    sink.measure_heard(HeardMeter())
    seen = Audible(sink)
    for frame in [tone(240, 24000)] * 3:
        await sink.capture_frame(rtc.AudioFrame(frame.tobytes(), 24000, 1, 240))
    out = np.zeros((240, 1), np.int16)
    sink._callback(out, 240, DacTime(), None)  # the audio thread's read, here on the loop
    await asyncio.sleep(0.01)
    (ev,) = [e for e in got if isinstance(e, AgentAudible)]
    assert ev.output_delay == pytest.approx(0.05)
    assert ev.at - seen.started[0] == pytest.approx(0.05, abs=1e-4)  # sin(0) = 0: sample 1


T = 1_767_225_600.0


def spoken_turn(voice_end: float, vad_stop: float, started: float, audible: AgentAudible | None,
                *, sid: str = "speech_1") -> list[Event]:
    """A spoken turn as livekit-agents 1.8.9 emits it: the user stopped at ``vad_stop`` (the
    VAD's estimate), playback started at ``started``; e2e = started - vad_stop."""
    events: list[Event] = [
        SpeechCreated(ts=vad_stop + 0.5, speech_id=sid, scheduled=True),
        PluginMetrics(ts=vad_stop + 0.5, kind="eou", speech_id=sid,
                      values={"end_of_utterance_delay": 0.5, "transcription_delay": 0.2}),
        ChatMessageAdded(ts=vad_stop + 0.5, item_id=f"u_{sid}", role="user", text="hello",
                         metrics={"started_speaking_at": voice_end - 1.0,
                                  "stopped_speaking_at": vad_stop, "end_of_turn_delay": 0.5}),
    ]
    if audible is not None:
        events.append(audible)
    events += [
        ChatMessageAdded(ts=started + 1.0, item_id=f"a_{sid}", role="assistant", text="hi there",
                         metrics={"started_speaking_at": started, "stopped_speaking_at":
                                  started + 1.0, "e2e_latency": started - vad_stop}),
        SpeechDone(ts=started + 1.0, speech_id=sid, item_ids=[f"a_{sid}"], scheduled=True),
    ]
    return events


def test_heard_gap_with_known_offsets_and_where_it_differs_from_e2e() -> None:
    voice_end = T + 2.0
    vad_stop = voice_end + 0.032  # LiveKit's end of speech: one 32 ms VAD window late
    started = vad_stop + 0.9
    audible = AgentAudible(ts=started + 0.25, at=started + 0.2, playback_started_at=started,
                           output_delay=0.2, voice_end_at=voice_end)
    model = SessionModel()
    model.apply_many(spoken_turn(voice_end, vad_stop, started, audible))
    (turn,) = model.turns
    m = turn.metrics
    assert m.e2e_latency == pytest.approx(0.9)
    assert m.heard_gap == pytest.approx(0.9 + 0.2 + 0.032, abs=1e-6)
    diff = HeardDifference.of(turn.heard, m)
    assert diff is not None and diff.flagged and diff.main == "sink"
    assert diff.parts["sink"] == pytest.approx(0.2)  # epoch floats: about 1e-7 s apart
    assert diff.parts["vad"] == pytest.approx(0.032, abs=1e-6)
    assert diff.parts["start"] == pytest.approx(0.0, abs=1e-6)
    assert sum(diff.parts.values()) == pytest.approx(diff.difference)
    assert "buffering in the sink +0.200 s" in diff.describe()


def test_the_event_may_come_after_the_assistant_message() -> None:
    voice_end, started = T + 2.0, T + 3.0
    audible = AgentAudible(ts=started, at=started + 0.05, playback_started_at=started,
                           voice_end_at=voice_end)
    events = spoken_turn(voice_end, voice_end, started, None)
    model = SessionModel()
    model.apply_many([*events, audible])
    assert model.turns[0].metrics.heard_gap == pytest.approx(1.05)
    assert HeardDifference.of(model.turns[0].heard, model.turns[0].metrics).flagged is False


def test_heard_gap_survives_the_journal_and_the_snapshot(tmp_path: Path) -> None:
    voice_end = T + 2.0
    started = voice_end + 0.8
    audible = AgentAudible(ts=started, at=started + 0.21, playback_started_at=started,
                           output_delay=0.2, voice_end_at=voice_end)
    events = spoken_turn(voice_end, voice_end + 0.02, started, audible)
    replayed = SessionModel()
    replayed.apply_many([decode(encode(e)) for e in events])  # through the journal's codec
    assert replayed.turns[0].metrics.heard_gap == pytest.approx(1.01)
    model = SessionModel()
    model.apply_many(events)
    snap = build_snapshot(model)
    turn = snap["turns"][0]
    assert turn["metrics"]["heard_gap"] == pytest.approx(1.01)
    assert turn["heard"]["output_delay"] == 0.2 and "heard_gap" not in turn["missing"]
    path = write_snapshot(model, tmp_path / "s.json")
    again = load_session(path)
    assert again.turns[0].metrics.heard_gap == pytest.approx(1.01)
    assert again.turns[0].heard == audible


def _session(voice_end: float, vad_stop: float, started: float,
             audible: AgentAudible | None) -> SessionModel:
    model = SessionModel()
    model.apply_many(spoken_turn(voice_end, vad_stop, started, audible))
    return model


def test_why_a_heard_gap_is_unknown() -> None:
    voice_end, started = T + 2.0, T + 3.0
    turn = _session(voice_end, voice_end, started, None).turns[0]
    assert turn.metrics.heard_gap is None
    assert "did not measure" in (heard_missing_reason(turn, True, False) or "")
    # the caller's last voice is from an earlier turn (this turn's speech was too quiet)
    early = AgentAudible(ts=started, at=started + 0.1, playback_started_at=started,
                         voice_end_at=voice_end - 5.0)
    turn = _session(voice_end, voice_end, started, early).turns[0]
    assert turn.metrics.heard_gap is None
    assert "ended before this turn's speech" in (heard_missing_reason(turn, True, True) or "")
    # still speaking when the reply became audible
    over = AgentAudible(ts=started, at=started + 0.1, playback_started_at=started,
                        voice_end_at=started + 0.3)
    turn = _session(voice_end, voice_end, started, over).turns[0]
    assert "still speaking" in (heard_missing_reason(turn, True, True) or "")
    # the real case (a reply that cut in early, pauses.wav turn 2): the caller stopped, LiveKit
    # ended the turn, the caller went on 0.6 s later and the reply began 18 ms after a voiced
    # frame of the new utterance; that is an overlap, not an 18 ms silence
    again = AgentAudible(ts=started, at=voice_end + 0.73, playback_started_at=voice_end + 0.66,
                         voice_end_at=voice_end + 0.712)
    model = _session(voice_end, voice_end + 0.03, voice_end + 0.66, again)
    turn = model.turns[0]
    assert turn.metrics.heard_gap is None and not differing(model.turns)
    assert "spoke again" in (heard_missing_reason(turn, True, True) or "")
    # a typed turn: no caller audio
    model = SessionModel()
    model.apply_many([
        SpeechCreated(ts=T, speech_id="s", scheduled=True),
        ChatMessageAdded(ts=T, item_id="u", role="user", text="typed"),
        ChatMessageAdded(ts=T + 1, item_id="a", role="assistant", text="ok",
                         metrics={"started_speaking_at": T + 0.5}),
        SpeechDone(ts=T + 1, speech_id="s", item_ids=["a"], scheduled=True),
    ])
    assert heard_missing_reason(model.turns[0], True, True) == "typed turn: no caller audio"


def test_an_absurd_journal_event_gives_no_figure() -> None:
    voice_end, started = T + 2.0, T + 3.0
    absurd = AgentAudible(ts=started, at=1e308, playback_started_at=started, voice_end_at=-1e308)
    model = SessionModel()
    model.apply_many(spoken_turn(voice_end, voice_end, started, absurd))
    assert model.turns[0].metrics.heard_gap is None
    build_snapshot(model)  # still a valid snapshot
