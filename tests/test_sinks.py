"""The audio sinks honour LiveKit's AudioOutput contract at real-time pace.

Timing bounds are measured against the clock each sink plays by, so that a loaded machine does
not fail them: the NullSink paces against the event loop's clock, so every upper bound (and every
position the test expects after its own ``sleep``) allows for the loop's measured lateness
(:class:`LoopLag`); the SpeakerSink is paced by its device's audio thread, whose own lateness the
fake device records. Lower bounds need no allowance: nothing plays faster than real time.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from livekit import rtc

from lkmon.agent.audio.sinks import NullSink, PlayoutBuffer, dbfs
from lkmon.model.events import AudioLevel

RATE = 24000
BLOCK = 0.011
"""One 10 ms block of the sink, plus rounding: the resolution of a playback position."""


class LoopLag:
    """The event loop's worst lateness (seconds) while the ``async with`` body runs: how much
    later than asked a 5 ms sleep woke up. Under load the NullSink's ticks (and the test's own
    sleeps) are late by as much."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + 0.005
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, loop.time() - asked)

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def tone(seconds: float, amplitude: float = 0.5, rate: int = RATE) -> list[rtc.AudioFrame]:
    """10 ms frames of a 440 Hz sine."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = (np.sin(2 * np.pi * 440 * t) * amplitude * 32767).astype(np.int16)
    step = rate // 100
    return [
        rtc.AudioFrame(x[i : i + step].tobytes(), rate, 1, len(x[i : i + step]))
        for i in range(0, n, step)
    ]


class Recorder:
    """Collects playback events from an AudioOutput with wall-clock arrival times."""

    def __init__(self, sink: NullSink) -> None:
        self.started: list[float] = []
        self.finished: list[tuple[float, bool, float]] = []
        sink.on("playback_started", lambda ev: self.started.append(ev.created_at))
        sink.on(
            "playback_finished",
            lambda ev: self.finished.append((ev.playback_position, ev.interrupted, time.time())),
        )


async def test_null_sink_plays_in_real_time_and_reports_once() -> None:
    levels: list[AudioLevel] = []
    sink = NullSink(levels.append)
    rec = Recorder(sink)
    async with LoopLag() as lag:
        t0 = time.time()
        for frame in tone(0.5):  # pushed much faster than real time
            await sink.capture_frame(frame)
        sink.flush()
        assert sink.captured_playout_segments == 1  # super().capture_frame counted the segment
        ev = await asyncio.wait_for(sink.wait_for_playout(), 3 + 2 * lag.worst)
        elapsed = time.time() - t0
    assert 0.5 - BLOCK <= elapsed <= 0.5 + 0.3 + 2 * lag.worst, (elapsed, lag.worst)
    assert len(rec.started) == 1 and t0 <= rec.started[0] <= t0 + 0.1 + lag.worst
    assert len(rec.finished) == 1
    position, interrupted, _ = rec.finished[0]
    assert position == pytest.approx(0.5, abs=0.011) and not interrupted
    assert ev.playback_position == pytest.approx(0.5, abs=0.011)
    # about 10 levels per second, near -9 dBFS for a 0.5-amplitude sine (rms 0.354)
    playing = [lv for lv in levels if lv.dbfs > -50]
    # a late loop plays its missed blocks at once: fewer 100 ms windows
    assert max(1, 3 - int(lag.worst / 0.1)) <= len(playing) <= 8, (levels, lag.worst)
    assert all(lv.source == "agent" for lv in levels)
    assert playing[-1].dbfs == pytest.approx(-9.0, abs=0.5)
    await sink.aclose()


async def test_clear_buffer_interrupts_at_once() -> None:
    sink = NullSink()
    rec = Recorder(sink)
    async with LoopLag() as lag:
        for frame in tone(3.0):
            await sink.capture_frame(frame)
        sink.flush()
        await asyncio.sleep(0.3)
        t_clear = time.time()
        sink.clear_buffer()
        ev = await asyncio.wait_for(sink.wait_for_playout(), 1)
    assert ev.interrupted
    assert len(rec.finished) == 1
    position, interrupted, at = rec.finished[0]
    played = t_clear - rec.started[0]  # what the sink's clock allowed it to play by then
    assert interrupted and 0.3 - BLOCK <= played, played
    assert played - 0.03 - lag.worst <= position <= played + BLOCK, (position, played, lag.worst)
    assert at - t_clear < 0.05  # clear_buffer reports at once, in the same call
    assert not sink.busy
    await asyncio.sleep(0.1)
    assert len(rec.finished) == 1  # nothing more after the interruption
    await sink.aclose()


async def test_clear_without_flush_then_a_new_segment() -> None:
    sink = NullSink()
    rec = Recorder(sink)
    for frame in tone(1.0):
        await sink.capture_frame(frame)
    await asyncio.sleep(0.05)
    sink.clear_buffer()  # no flush before it
    sink.flush()  # LiveKit may flush afterwards: must not open or end a segment
    await asyncio.wait_for(sink.wait_for_playout(), 1)
    assert [f[1] for f in rec.finished] == [True]
    for frame in tone(0.2):
        await sink.capture_frame(frame)
    sink.flush()
    ev = await asyncio.wait_for(sink.wait_for_playout(), 2)
    assert not ev.interrupted and ev.playback_position == pytest.approx(0.2, abs=0.011)
    assert len(rec.started) == 2 and len(rec.finished) == 2
    await sink.aclose()


async def test_two_segments_back_to_back() -> None:
    sink = NullSink()
    rec = Recorder(sink)
    t0 = time.time()
    for seconds in (0.3, 0.2):
        for frame in tone(seconds):
            await sink.capture_frame(frame)
        sink.flush()
    await asyncio.wait_for(sink.wait_for_playout(), 3)
    assert len(rec.started) == 2
    assert [round(f[0], 2) for f in rec.finished] == [0.3, 0.2]
    assert rec.started[1] >= rec.started[0] + 0.29  # the second waits for the first
    assert time.time() - t0 >= 0.49
    await sink.aclose()


async def test_pause_holds_the_position() -> None:
    sink = NullSink()
    rec = Recorder(sink)
    for frame in tone(0.4):
        await sink.capture_frame(frame)
    sink.flush()
    await asyncio.sleep(0.1)
    sink.pause()
    t_pause = time.time()
    await asyncio.sleep(0.3)
    assert rec.finished == []
    sink.resume()
    t_resume = time.time()
    await asyncio.wait_for(sink.wait_for_playout(), 2)
    left = 0.4 - (t_pause - rec.started[0])  # what had not played when paused
    assert time.time() - t_resume >= left - 0.03, left  # the position held while paused
    assert rec.finished[0][0] == pytest.approx(0.4, abs=0.011)
    await sink.aclose()


def test_playout_buffer_reports_end_after_last_sample_played() -> None:
    buf = PlayoutBuffer(1000)
    buf.push(np.ones(25, dtype=np.int16))
    buf.end_segment()
    out, notes = buf.read(10)
    assert [n.kind for n in notes] == ["started"] and out.sum() == 10
    out, notes = buf.read(10)
    assert notes == []
    out, notes = buf.read(10)
    assert out.sum() == 5 and notes == []  # the last 5 samples are playing now
    out, notes = buf.read(10)
    assert [(n.kind, n.position, n.interrupted) for n in notes] == [("finished", 0.025, False)]
    assert not buf.busy


def test_dbfs() -> None:
    assert dbfs(0.0, 100) == -100.0
    full = np.full(100, 32767, dtype=np.float64)
    assert dbfs(float(full @ full), 100) == pytest.approx(0.0, abs=0.01)


class FakeOutputStream:
    """Stands in for sounddevice.OutputStream: a thread pulls blocks at real-time pace."""

    def __init__(self, *, samplerate, channels, dtype, blocksize, device, callback) -> None:
        import threading

        self.rate, self.block, self.callback = samplerate, blocksize, callback
        self.worst_lag = 0.0  # seconds this audio thread ran behind its own clock
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._pump, daemon=True)

    def _pump(self) -> None:
        t0 = time.monotonic()
        while not self.stopped.is_set():
            self.worst_lag = max(self.worst_lag, time.monotonic() - t0)
            out = np.zeros((self.block, 1), dtype=np.int16)
            self.callback(out, self.block, None, None)
            t0 += self.block / self.rate
            time.sleep(max(0.0, t0 - time.monotonic()))

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(1)

    def close(self) -> None:
        pass


class FakeSoundDevice:
    def query_devices(self, device=None, kind=None):  # noqa: ANN001, ANN201
        return {"name": "fake", "default_samplerate": 48000.0}

    def __init__(self) -> None:
        self.streams: list[FakeOutputStream] = []

    def OutputStream(self, **kw):  # noqa: ANN003, ANN201, N802 (sounddevice's name)
        self.streams.append(FakeOutputStream(**kw))
        return self.streams[-1]


async def test_speaker_sink_contract_through_the_audio_thread(monkeypatch) -> None:
    from lkmon.agent.audio import sinks

    device = FakeSoundDevice()
    monkeypatch.setattr(sinks, "_sounddevice", lambda: device)
    levels: list[AudioLevel] = []
    sink = sinks.SpeakerSink(levels.append)
    assert sink.sample_rate == 48000
    rec = Recorder(sink)
    sink.start(asyncio.get_running_loop())
    (stream,) = device.streams
    async with LoopLag() as lag:
        t0 = time.time()
        for frame in tone(0.4, rate=48000):
            await sink.capture_frame(frame)
        sink.flush()
        ev = await asyncio.wait_for(sink.wait_for_playout(), 3)
        elapsed = time.time() - t0
    late = stream.worst_lag + lag.worst  # the audio thread's and the loop's (events) lateness
    assert 0.38 <= elapsed <= 0.4 + 0.3 + late, (elapsed, late)
    assert len(rec.started) == 1 and len(rec.finished) == 1
    assert ev.playback_position == pytest.approx(0.4, abs=0.011) and not ev.interrupted
    # and an interruption from the loop while the audio thread plays
    async with LoopLag() as lag:
        for frame in tone(2.0, rate=48000):
            await sink.capture_frame(frame)
        sink.flush()
        await asyncio.sleep(0.3)
        t_clear = time.time()
        sink.clear_buffer()
        ev = await asyncio.wait_for(sink.wait_for_playout(), 1)
    played = t_clear - rec.started[1]  # by the wall clock, since the audio thread started it
    late = stream.worst_lag + lag.worst + 0.03  # + a 10 ms device block in flight
    assert ev.interrupted and played - late <= ev.playback_position <= played + late, (
        ev.playback_position, played, late)
    assert ev.playback_position > 0.1
    await asyncio.sleep(0.1)
    assert len(rec.started) == 2 and len(rec.finished) == 2
    assert any(lv.dbfs > -20 for lv in levels)
    await sink.aclose()
