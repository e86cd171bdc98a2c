"""The simulated callers: WAV loading, real-time pacing, waiting for the reply, bad files."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from livekit import rtc

from lkmon.agent.audio.callers import (
    CALLER_SAMPLE_RATE,
    TextCaller,
    WavCaller,
    expand_wav_paths,
    load_recording,
)
from lkmon.errors import UsageError
from lkmon.model.events import AudioLevel

DATA = Path(__file__).parent / "data"


class FakeSession(rtc.EventEmitter):
    """Just the surface AgentWatcher uses: agent_state, llm and the session events."""

    def __init__(self, llm: object | None = "an llm") -> None:
        super().__init__()
        self.agent_state = "listening"
        self.llm = llm
        self.current_agent = SimpleNamespace(llm=None)

    def set_state(self, new: str) -> None:
        old, self.agent_state = self.agent_state, new
        self.emit("agent_state_changed", SimpleNamespace(old_state=old, new_state=new))

    def speak(self, *, scheduled: bool = True) -> list:
        """Start a speech; returns its done callbacks, each to call (with no argument) when it
        ends. ``scheduled=False``: a preemptive generation that is thrown away unscheduled."""
        callbacks: list = []
        handle = SimpleNamespace(add_done_callback=callbacks.append, scheduled=scheduled)
        self.emit("speech_created", SimpleNamespace(speech_handle=handle))
        return [lambda cb=cb: cb(handle) for cb in callbacks]

    def transcribed(self, text: str) -> None:
        self.emit("user_input_transcribed", SimpleNamespace(transcript=text, is_final=True))


def write_wav(path: Path, seconds: float, rate: int, channels: int = 1) -> Path:
    n = int(seconds * rate)
    t = np.arange(n) / rate
    left = 0.5 * np.sin(2 * np.pi * 300 * t)
    data = np.stack([left] + [np.zeros(n)] * (channels - 1), axis=1)
    sf.write(str(path), data, rate, subtype="PCM_16")
    return path


def test_resamples_8k_stereo_to_16k_mono(tmp_path: Path) -> None:
    rec = load_recording(write_wav(tmp_path / "a.wav", 1.0, 8000, channels=2))
    assert rec.source_rate == 8000 and rec.source_channels == 2
    assert rec.samples.dtype == np.int16
    assert len(rec.samples) == pytest.approx(CALLER_SAMPLE_RATE, abs=2)
    # one channel at 0.5 amplitude, the other silent: the mono mix peaks near 0.25
    peak = np.abs(rec.samples[1000:-1000]).max() / 32767
    assert peak == pytest.approx(0.25, abs=0.01)
    # the 300 Hz tone survives the resampling
    spectrum = np.abs(np.fft.rfft(rec.samples.astype(float)))
    assert np.argmax(spectrum) * CALLER_SAMPLE_RATE / len(rec.samples) == pytest.approx(300, abs=2)


def test_real_recording_loads() -> None:
    rec = load_recording(DATA / "librivox_sense_0880.wav")
    assert rec.duration == pytest.approx(2.99, abs=0.02)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.wav", "input not found"),
        (lambda d: _text_file(d / "notes.wav"), "not a readable WAV file"),
        (lambda d: _flac(d / "voice.wav"), "not a WAV file"),
        (lambda d: _empty_wav(d / "empty.wav"), "empty WAV file"),
        (lambda d: _truncated(d / "cut.wav"), "WAV file"),
        (lambda d: write_wav(d / "long.wav", 601, 8000), "too long"),
    ],
)
def test_bad_wav_files(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(UsageError, match=message) as err:
        WavCaller([path])
    assert "\n" not in str(err.value)


def test_folder_without_audio(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(UsageError, match="no WAV files in directory"):
        WavCaller([tmp_path])


def test_folder_expands_sorted(tmp_path: Path) -> None:
    for name in ("b.wav", "a.WAV", "c.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in expand_wav_paths([tmp_path])] == ["a.WAV", "b.wav"]


async def test_paces_in_real_time_and_waits_for_the_reply(tmp_path: Path) -> None:
    first = write_wav(tmp_path / "1.wav", 0.5, 16000)
    second = write_wav(tmp_path / "2.wav", 0.3, 16000)
    levels: list[AudioLevel] = []
    caller = WavCaller([first, second], levels.append, gap=0.2, reply_timeout=10)
    session = FakeSession()
    caller.attach(session)
    done: list[float] = []
    caller.on_done = lambda: done.append(time.monotonic())

    frames: list[tuple[float, float]] = []  # (monotonic time, peak)

    async def pull(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            frame = await caller.__anext__()
            assert frame.sample_rate == 16000 and frame.samples_per_channel == 160
            peak = np.abs(np.frombuffer(frame.data, np.int16)).max() / 32767
            frames.append((time.monotonic(), float(peak)))

    t0 = time.monotonic()
    await pull(1.2)  # 0.2 s quiet gap, 0.5 s recording, then silence: no reply yet
    n = len(frames)
    assert n == pytest.approx(120, abs=4)  # 10 ms frames at real time, no drift
    voiced = [t for t, p in frames if p > 0.1]
    assert voiced[0] - t0 == pytest.approx(0.2, abs=0.06)
    assert voiced[-1] - voiced[0] == pytest.approx(0.5, abs=0.05)
    assert len(caller.played) == 1

    # the agent replies: thinking, speaking, back to listening
    callbacks = session.speak()
    session.set_state("thinking")
    session.set_state("speaking")
    await pull(0.5)
    assert all(p == 0 for _, p in frames[n:])  # still waiting: the reply is playing
    session.set_state("listening")
    for cb in callbacks:
        cb()
    t_reply = time.monotonic()
    frames.clear()
    await pull(0.6)
    voiced = [t for t, p in frames if p > 0.1]
    assert voiced and voiced[0] - t_reply == pytest.approx(0.2, abs=0.06)  # the gap
    assert len(caller.played) == 2 and not done

    callbacks = session.speak()
    session.set_state("speaking")
    session.set_state("listening")
    for cb in callbacks:
        cb()
    await pull(0.4)
    assert done and caller.done.is_set()
    assert any(lv.dbfs > -20 for lv in levels) and any(lv.dbfs == -100.0 for lv in levels)
    assert 7 <= len(levels) / (time.monotonic() - t0) <= 12  # about 10 per second


async def _pull(caller: WavCaller, seconds: float) -> list[float]:
    """Frames' peaks (0..1) for ``seconds`` of real time."""
    peaks: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        frame = await caller.__anext__()
        peaks.append(float(np.abs(np.frombuffer(frame.data, np.int16)).max()) / 32767)
    return peaks


async def test_a_discarded_preemptive_reply_is_no_answer(tmp_path: Path) -> None:
    """LiveKit starts a reply early and throws it away unscheduled: the caller must keep
    waiting for the turn that answers the recording (0.1 played the next one 1 s later)."""
    first = write_wav(tmp_path / "1.wav", 0.3, 16000)
    second = write_wav(tmp_path / "2.wav", 0.3, 16000)
    caller = WavCaller([first, second], gap=0.2, reply_timeout=10)
    session = FakeSession()
    caller.attach(session)
    await _pull(caller, 0.8)  # gap, the first recording, some silence
    assert len(caller.played) == 1
    for cb in session.speak(scheduled=False):  # preemptive, discarded
        cb()
    peaks = await _pull(caller, 0.6)
    assert max(peaks) == 0.0  # still waiting: that was no reply
    callbacks = session.speak()  # the real reply
    session.set_state("speaking")
    session.set_state("listening")
    for cb in callbacks:
        cb()
    peaks = await _pull(caller, 0.5)
    assert max(peaks) > 0.1 and len(caller.played) >= 1  # the second recording plays


async def test_an_agent_without_llm_moves_on_after_its_final_transcript(tmp_path: Path) -> None:
    first = write_wav(tmp_path / "1.wav", 0.3, 16000)
    second = write_wav(tmp_path / "2.wav", 0.3, 16000)
    caller = WavCaller([first, second], gap=0.2, reply_timeout=10)
    session = FakeSession(llm=None)
    caller.attach(session)
    await _pull(caller, 0.8)
    assert len(caller.played) == 1
    assert max(await _pull(caller, 0.4)) == 0.0  # no transcript yet: waits
    session.transcribed("hello there")
    peaks = await _pull(caller, 0.6)
    assert max(peaks) > 0.1  # the gap, then the second recording


async def test_text_caller_sends_each_line_after_the_reply() -> None:
    session = FakeSession()
    sent: list[tuple[str, float]] = []

    def send(text: str) -> None:
        sent.append((text, time.monotonic()))
        callbacks = session.speak()
        session.set_state("speaking")

        def finish() -> None:
            session.set_state("listening")
            for cb in callbacks:
                cb()

        asyncio.get_running_loop().call_later(0.3, finish)

    caller = TextCaller(["hello\n", "\n", "what time is it\n"], send, gap=0.1)
    caller.attach(session)
    finished = asyncio.Event()
    caller.on_done = finished.set
    await asyncio.wait_for(caller.run(), 5)
    assert finished.is_set()
    assert [s for s, _ in sent] == ["hello", "what time is it"]
    assert sent[1][1] - sent[0][1] >= 0.38  # the reply (0.3 s) and the gap (0.1 s)


def _text_file(path: Path) -> Path:
    path.write_text("this is not audio\n" * 20)
    return path


def _flac(path: Path) -> Path:
    sf.write(str(path), np.zeros(1600), 16000, format="FLAC")
    return path


def _empty_wav(path: Path) -> Path:
    sf.write(str(path), np.zeros((0, 1)), 16000, subtype="PCM_16")
    return path


def _truncated(path: Path) -> Path:
    write_wav(path, 1.0, 16000)
    path.write_bytes(path.read_bytes()[:30])
    return path


class FakeRawInputStream:
    """Stands in for sounddevice.RawInputStream: a thread delivers 10 ms blocks of a tone."""

    def __init__(self, *, samplerate, channels, dtype, blocksize, device, callback) -> None:
        import threading

        self.rate, self.block, self.callback = samplerate, blocksize, callback
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._pump, daemon=True)

    def _pump(self) -> None:
        t = np.arange(self.block) / self.rate
        block = (0.5 * np.sin(2 * np.pi * 200 * t) * 32767).astype(np.int16).tobytes()
        t0 = time.monotonic()
        while not self.stopped.is_set():
            self.callback(memoryview(block), self.block, None, None)
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
    RawInputStream = FakeRawInputStream

    def query_devices(self, device=None, kind=None):  # noqa: ANN001, ANN201
        return {"name": "fake mic", "default_samplerate": 48000.0}


async def test_mic_input_frames_mute_and_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    from lkmon.agent.audio import mic as mic_mod

    monkeypatch.setattr(mic_mod, "_sounddevice", lambda: FakeSoundDevice())
    levels: list[AudioLevel] = []
    mic = mic_mod.MicInput(levels.append)
    mic.start(asyncio.get_running_loop())
    t0 = time.monotonic()
    peaks = []
    for i in range(60):
        if i == 30:
            mic.muted = True
        frame = await asyncio.wait_for(mic.__anext__(), 1)
        assert frame.sample_rate == 16000 and frame.samples_per_channel == 160
        peaks.append(np.abs(np.frombuffer(frame.data, np.int16)).max())
    assert time.monotonic() - t0 == pytest.approx(0.6, abs=0.1)  # the device's pace
    assert min(peaks[:30]) > 10000 and max(peaks[30:]) == 0  # muted frames are silence
    assert 4 <= len(levels) <= 8 and levels[0].source == "mic" and levels[0].dbfs > -10
    mic.close()
    with pytest.raises(StopAsyncIteration):
        while True:
            await asyncio.wait_for(mic.__anext__(), 1)
