"""The agent's audio over LiveKit's session protocol (``lkmon run --process``, issue 14 part 3):
``audio_output`` frames play in the sink ``--output`` asks for, the same sinks as in-process
(``lkmon.agent.audio.sinks.make_sink``); each ``audio_playback_flush`` is answered with
``audio_playback_finished`` only once its segment has played; ``audio_playback_clear`` stops the
playback at once and is not answered (as LiveKit's Go console does).

The output device is the only stand-in: sounddevice's ``OutputStream`` replaced by a thread
that pulls blocks through the sink's real PortAudio callback in real time and keeps what it
was given. The sinks, the resampler, the protobuf messages and (in the wire test) the TCP
connection and a peer process are real.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from livekit.protocol.agent_pb import agent_session as pb

from lkmon.agent.audio import sinks
from lkmon.sources.protocol import ProtocolSource
from lkmon.sources.protocol_audio import WIRE_SAMPLE_RATE, ConsoleAudio

TESTS = Path(__file__).resolve().parent
AGENTS = TESTS / "data" / "agents"
TONE = 0.5 * 32767  # int16 amplitude of the agent's tone
LOUD = 1000  # int16: well above silence (0), crossed by every period of the tone


class RecordingStream:
    """sounddevice.OutputStream's stand-in: a thread calls the sink's callback once per block
    at real-time pace and keeps ``(monotonic time, samples)`` of every block it was given."""

    def __init__(self, *, samplerate, channels, dtype, blocksize, device, callback) -> None:
        self.rate, self.block, self.callback = int(samplerate), int(blocksize), callback
        self.blocks: list[tuple[float, np.ndarray]] = []
        self.worst_lag = 0.0  # seconds this thread ran behind its own clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True)

    def _pump(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            self.worst_lag = max(self.worst_lag, now - due)
            out = np.zeros((self.block, 1), dtype=np.int16)
            self.callback(out, self.block, None, None)
            self.blocks.append((now, out[:, 0].copy()))
            due += self.block / self.rate
            time.sleep(max(0.0, due - time.monotonic()))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(1)

    def close(self) -> None:
        pass

    def loud_seconds(self, after: float = 0.0) -> float:
        """Seconds of tone handed to the device in blocks taken after ``after``: their energy
        over the tone's mean square (``TONE``) per second."""
        energy = sum(float(np.square(b.astype(np.float64)).sum())
                     for t, b in self.blocks if t > after)
        return energy / (TONE * TONE / 2) / self.rate


class FakeDevice:
    """sounddevice's stand-in: one output device at ``rate`` Hz (``None``: no device)."""

    def __init__(self, rate: int | None = 44100) -> None:
        self.rate = rate
        self.streams: list[RecordingStream] = []

    def query_devices(self, device=None, kind=None):  # noqa: ANN001, ANN201
        if self.rate is None:
            raise ValueError("No output device matching ''")
        return {"name": "fake", "default_samplerate": float(self.rate)}

    def OutputStream(self, **kw):  # noqa: ANN003, ANN201, N802 (sounddevice's name)
        self.streams.append(RecordingStream(**kw))
        return self.streams[-1]


def wire_frames(seconds: float, frame: float = 0.02) -> list[pb.AgentSessionMessage]:
    """``audio_output`` messages as LiveKit's ``TcpAudioOutput`` sends them: 48 kHz mono int16
    of a 300 Hz tone, ``frame`` seconds each."""
    n = int(WIRE_SAMPLE_RATE * frame)
    t = np.arange(int(seconds * WIRE_SAMPLE_RATE)) / WIRE_SAMPLE_RATE
    samples = (TONE * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
    return [pb.AgentSessionMessage(audio_output=pb.AgentSessionMessage.ConsoleIO.AudioFrame(
        data=samples[i:i + n].tobytes(), sample_rate=WIRE_SAMPLE_RATE, num_channels=1,
        samples_per_channel=len(samples[i:i + n]))) for i in range(0, len(samples), n)]


class Answers:
    """What lkmon sends the agent, with the monotonic time of each."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, str]] = []

    def __call__(self, msg: pb.AgentSessionMessage) -> None:
        self.sent.append((time.monotonic(), msg.WhichOneof("message") or ""))

    @property
    def finished(self) -> list[float]:
        return [t for t, kind in self.sent if kind == "audio_playback_finished"]

    async def wait(self, count: int, timeout: float) -> None:
        t0 = time.monotonic()
        while len(self.finished) < count:
            assert time.monotonic() - t0 < timeout, self.sent
            await asyncio.sleep(0.01)


async def play(audio: ConsoleAudio, seconds: float) -> None:
    for msg in wire_frames(seconds):
        await audio.play(msg.audio_output)


@pytest.fixture
def device(monkeypatch: pytest.MonkeyPatch) -> FakeDevice:
    fake = FakeDevice()
    monkeypatch.setattr(sinks, "_sounddevice", lambda: fake)
    return fake


async def test_the_speakers_play_every_sample_and_the_flush_is_answered_after(
        device: FakeDevice) -> None:
    """0.5 s of agent audio arriving at once (as LiveKit sends it, faster than real time) plays
    on the device at its own rate (44.1 kHz: resampled from the wire's 48 kHz), and the flush is
    answered once, after the last sample was handed to the device."""
    answers = Answers()
    sink = sinks.make_sink("speaker", None, None, None)
    assert isinstance(sink, sinks.SpeakerSink) and sink.sample_rate == 44100
    audio = ConsoleAudio(asyncio.get_running_loop(), answers, lambda: None, sink)
    audio.speak_out()
    (stream,) = device.streams
    await play(audio, 0.5)
    t0 = time.monotonic()
    await audio.flush()
    await answers.wait(1, 3)
    (answered,) = answers.finished
    assert stream.loud_seconds() == pytest.approx(0.5, abs=0.01)  # every sample, once
    last_loud = max(t for t, b in stream.blocks if np.any(np.abs(b) > LOUD))
    assert last_loud < answered  # answered after the last sample was played
    late = stream.worst_lag + 0.05  # the audio thread's lateness, a block or two in flight
    assert 0.5 - 0.02 <= answered - t0 <= 0.5 + late, (answered - t0, late)
    assert answers.sent == [(answered, "audio_playback_finished")] and audio.answered == 1
    await audio.aclose()


async def test_a_clear_stops_the_speakers_at_once_and_is_not_answered(device: FakeDevice) -> None:
    """A 2 s reply cleared 0.3 s into its playback: the device gets silence from the next block
    on, nothing is answered (the agent ends the segment itself); the next segment, and one after
    a clear in mid-capture (no flush), play and are answered."""
    answers = Answers()
    audio = ConsoleAudio(asyncio.get_running_loop(), answers, lambda: None,
                         sinks.make_sink("speaker", None, None, None))
    audio.speak_out()
    (stream,) = device.streams
    await play(audio, 2.0)
    await audio.flush()
    await asyncio.sleep(0.3)
    t_clear = time.monotonic()
    audio.clear()
    await asyncio.sleep(0.5)
    assert answers.finished == []
    after = stream.loud_seconds(after=t_clear + 0.02 + stream.worst_lag)  # a block in flight
    assert after == 0.0, after
    assert 0.2 <= stream.loud_seconds() <= 0.45, stream.loud_seconds()
    await play(audio, 0.2)  # the next reply
    await audio.flush()
    await answers.wait(1, 3)
    await play(audio, 1.0)  # cleared while still capturing: LiveKit sends no flush first
    audio.clear()
    await play(audio, 0.2)
    await audio.flush()
    await answers.wait(2, 3)
    await asyncio.sleep(0.3)
    assert len(answers.finished) == 2, answers.sent
    await audio.aclose()


async def test_the_null_sink_answers_when_the_segment_has_played() -> None:
    """The default sink plays into nothing in real time: 0.3 s arriving at once is answered
    after 0.3 s, not at once; a cleared segment is not answered."""
    answers = Answers()
    audio = ConsoleAudio(asyncio.get_running_loop(), answers, lambda: None)
    assert isinstance(audio.sink, sinks.NullSink)
    await play(audio, 0.3)
    t0 = time.monotonic()
    await audio.flush()
    await answers.wait(1, 3)
    assert 0.28 <= answers.finished[0] - t0 <= 0.45, answers.finished[0] - t0
    await play(audio, 0.3)
    await audio.flush()
    audio.clear()
    await asyncio.sleep(0.5)
    assert len(answers.finished) == 1
    await audio.aclose()


def test_speakers_with_no_output_device_is_the_in_process_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--output speaker`` with no output device: the same one line as in-process, exit 2, no
    traceback, and the agent's process is never started."""
    from lkmon.cli import main

    monkeypatch.setattr(sinks, "_sounddevice", lambda: FakeDevice(rate=None))
    started = tmp_path / "started"
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\ntouch {started}\n")
    python.chmod(0o755)
    base = ["run", str(AGENTS / "scripted_agent.py"), "--headless", "--no-db", "--input", "text",
            "--output", "speaker", "--export", str(tmp_path / "s.json")]
    lines = {}
    for mode, extra in (("in", []), ("proc", ["--process", "--python", str(python)])):
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        lines[mode] = [line for line in err.splitlines() if line.startswith("lkmon: error")]
    assert lines["in"] == lines["proc"] and len(lines["in"]) == 1, lines
    assert "no audio output device" in lines["in"][0] and "--output null" in lines["in"][0]
    assert not started.exists()


# -- the wire: a stand-in agent process ---------------------------------------------------------

PEER = """\
import json, socket, struct, sys, time
sys.path[:0] = {paths!r}
from livekit.protocol.agent_pb import agent_session as pb
sys.path.insert(0, {tests!r})
from test_protocol_output import wire_frames
host, port = sys.argv[sys.argv.index("--connect-addr") + 1].split(":")
s = socket.create_connection((host, int(port)))
def send(msg):
    data = msg.SerializeToString()
    s.sendall(struct.pack(">I", len(data)) + data)
def receive():
    (n,) = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))
    return pb.AgentSessionMessage.FromString(s.recv(n, socket.MSG_WAITALL))
def state(new):
    send(pb.AgentSessionMessage(event=pb.AgentSessionEvent(
        agent_state_changed=pb.AgentSessionEvent.AgentStateChanged(new_state=new))))
state(pb.AS_LISTENING)
while receive().WhichOneof("message") != "request":  # the typed turn
    pass
state(pb.AS_SPEAKING)
for msg in wire_frames(0.6):
    send(msg)
t0 = time.monotonic()
send(pb.AgentSessionMessage(audio_playback_flush=pb.AgentSessionMessage.ConsoleIO.AudioPlaybackFlush()))
while (kind := receive().WhichOneof("message")) != "audio_playback_finished":
    pass
waited = time.monotonic() - t0
with open({out!r}, "w") as f:
    json.dump({{"waited": waited}}, f)
state(pb.AS_LISTENING)
time.sleep(30)
"""


async def test_the_agent_waits_for_the_speakers_over_the_wire(
        tmp_path: Path, device: FakeDevice) -> None:
    """A stand-in agent process on lkmon's real TCP server sends 0.6 s of audio and a flush, as
    LiveKit's ``TcpAudioOutput`` does: its wait for ``audio_playback_finished`` is the playback
    on the (fake) device, and the session says where the audio went."""
    out = tmp_path / "peer.json"
    script = tmp_path / "peer.py"
    script.write_text(PEER.format(paths=sys.path, tests=str(TESTS), out=str(out)))
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    python.chmod(0o755)
    source = ProtocolSource(AGENTS / "scripted_agent.py", python=str(python), output="speaker",
                            text_lines=["hello"])
    source.open()
    seen: list = []
    task = asyncio.create_task(source.run(seen.append))
    t0 = time.monotonic()
    while not out.exists():
        assert time.monotonic() - t0 < 20 and not task.done(), task
        await asyncio.sleep(0.05)
    source.stop()
    await asyncio.wait_for(task, 10)
    waited = json.loads(out.read_text())["waited"]
    (stream,) = device.streams
    assert 0.55 <= waited <= 0.6 + 0.2 + stream.worst_lag, waited
    assert stream.loud_seconds() == pytest.approx(0.6, abs=0.01)
    started = next(e for e in seen if type(e).__name__ == "SessionStarted")
    assert started.output == "speaker"
    assert any(type(e).__name__ == "AudioLevel" and e.source == "agent" and e.dbfs > -20
               for e in seen)  # the agent's level, from the sink, as in-process


@pytest.mark.slow  # a real agent process (Silero VAD, scripted STT/LLM/TTS)
@pytest.mark.models
async def test_a_real_agent_interrupted_over_the_protocol_goes_on(tmp_path: Path) -> None:
    """LiveKit's own ``TcpAudioOutput`` in the scripted agent's process: a typed turn sent while
    the reply plays interrupts it; LiveKit sends ``audio_playback_clear``, lkmon stops the sink
    without an answer, and the next reply is played and answered (the agent does not hang).
    The cut reply is its own turn, interrupted, and the next user message starts the next one
    (as in-process), with or without an assistant message of what was played of it."""
    from lkmon.model.events import AgentStateChanged, ChatMessageAdded

    source = ProtocolSource(AGENTS / "scripted_agent.py", python=sys.executable,
                            log_path=tmp_path / "agent.log")
    model = source.open()
    seen: list = []

    def emit(event: object) -> None:
        seen.append(event)
        model.apply(event)

    task = asyncio.create_task(source.run(emit))

    async def until(check, timeout: float = 30.0) -> None:
        t0 = time.monotonic()
        while not check():
            assert time.monotonic() - t0 < timeout and not task.done(), seen[-5:]
            await asyncio.sleep(0.01)

    def states(name: str) -> int:
        return sum(isinstance(e, AgentStateChanged) and e.new_state == name for e in seen)

    await until(lambda: states("listening") >= 1)
    source.send_text("hello there")
    await until(lambda: states("speaking") >= 1)
    await asyncio.sleep(0.1)  # the reply plays for about 0.6 s
    source.send_text("what time is it")
    t0 = time.monotonic()
    await until(lambda: any(isinstance(e, ChatMessageAdded) and e.role == "assistant"
                            and "12:00" in e.text for e in seen))
    replied = time.monotonic() - t0
    await until(lambda: states("listening") >= 3)
    source.stop()
    await asyncio.wait_for(task, 15)
    assert source.messages.get("audio_playback_clear", 0) >= 1, source.messages
    assert source.messages["audio_playback_flush"] >= 2
    assert replied < 5, replied  # a reply left waiting for an answer hangs ~39 s
    first, second = [t for t in model.turns if t.user_text]
    assert (first.speech_id, first.user_text, first.interrupted, first.done) == (
        "protocol_1", "hello there", True, True), first
    assert "12:00" not in (first.agent_text or "")
    assert (second.speech_id, second.user_text) == ("protocol_2", "what time is it")
    assert "12:00" in (second.agent_text or ""), second
