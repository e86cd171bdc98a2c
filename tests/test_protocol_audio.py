"""``lkmon run --process`` with audio callers (issue 14, part 3): the caller's side of the
console's audio duties (``lkmon.sources.protocol_audio.ConsoleAudio``; the agent's audio and its
sinks: ``test_protocol_output.py``), the caller following the agent from protocol
events (``AgentWatcher.observe``), and the bad input a protocol peer can give: a message over
LiveKit's 1 MiB cap, the agent dying mid-session.

The default-lane tests use a stand-in interpreter (``--python``: a tiny script that connects to
lkmon's real TCP server as ``python -m livekit.agents console`` would, and sends real protobuf
messages), so the wire, the error paths and the snapshot are real, with no agent to start. The
slow-lane tests run real agents in real subprocesses on the shared recordings.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from livekit.protocol.agent_pb import agent_session as pb
from recordings import clip_path

from lkmon.agent.audio.callers import CALLER_SAMPLE_RATE, WavCaller
from lkmon.model.events import (
    AgentStateChanged,
    ChatMessageAdded,
    SessionClosed,
    SpeechCreated,
    SpeechDone,
)
from lkmon.sources import SourceError
from lkmon.sources.protocol import ProtocolSource
from lkmon.sources.protocol_audio import WIRE_SAMPLE_RATE, ConsoleAudio

TESTS = Path(__file__).resolve().parent
AGENTS = TESTS / "data" / "agents"


def tone(path: Path, seconds: float, rate: int = CALLER_SAMPLE_RATE) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(str(path), 0.5 * np.sin(2 * np.pi * 300 * t), rate, subtype="PCM_16")
    return path


# -- the console's audio duties -----------------------------------------------------------------

async def test_the_callers_audio_goes_as_48_khz_audio_input_and_follows_the_agent(
        tmp_path: Path) -> None:
    """A WAV caller over the protocol: it waits for the agent to listen and greet, plays the
    recording at real-time pace as 48 kHz ``audio_input`` frames, waits for the reply
    (``SpeechCreated`` / ``SpeechDone`` from the protocol's events), then says it has
    finished."""
    caller = WavCaller([tone(tmp_path / "a.wav", 0.3)], gap=0.1, reply_timeout=5)
    sent: list[pb.AgentSessionMessage] = []
    finished = asyncio.Event()
    audio = ConsoleAudio(asyncio.get_running_loop(), sent.append, finished.set)
    task = asyncio.create_task(audio.speak(caller))
    watcher = caller.watcher
    await asyncio.sleep(0.3)
    assert not caller.played  # the agent is not listening yet: silence only
    for state in ("thinking", "listening"):  # LiveKit's start over a greeting in the making
        watcher.observe(AgentStateChanged(ts=time.time(), old_state="", new_state=state))
    await asyncio.sleep(0.3)
    assert not caller.played  # listening, but its greeting is not done (the opening hold)
    for state in ("speaking", "listening"):  # the greeting
        watcher.observe(AgentStateChanged(ts=time.time(), old_state="", new_state=state))
    t0 = time.monotonic()
    while not caller.played:
        assert time.monotonic() - t0 < 3
        await asyncio.sleep(0.02)
    watcher.observe(ChatMessageAdded(ts=time.time(), item_id="u1", role="user", text="hi"))
    watcher.observe(SpeechCreated(ts=time.time(), speech_id="protocol_1",
                                  source="generate_reply", user_initiated=True))
    await asyncio.sleep(0.3)
    assert not finished.is_set()  # a reply is pending
    watcher.observe(SpeechDone(ts=time.time(), speech_id="protocol_1", interrupted=False))
    await asyncio.wait_for(finished.wait(), 3)
    task.cancel()
    frames = [m.audio_input for m in sent]
    assert frames and all(m.WhichOneof("message") == "audio_input" for m in sent)
    assert {f.sample_rate for f in frames} == {WIRE_SAMPLE_RATE}
    samples = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames])
    assert sum(f.samples_per_channel for f in frames) == len(samples)
    loud = np.flatnonzero(np.abs(samples) > 1000)  # the tone, 3x as many samples at 48 kHz
    assert abs((loud[-1] - loud[0]) / WIRE_SAMPLE_RATE - 0.3) < 0.02
    assert abs(audio.sent_seconds - len(samples) / WIRE_SAMPLE_RATE) < 0.05


async def test_the_opening_hold_is_for_a_greeting_in_the_making_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the protocol an agent ``thinking`` before it first listens is making its greeting:
    busy until it speaks, at most ``GREETING_WAIT`` seconds; one that listens first is not."""
    from lkmon.agent.audio import watcher as watching

    monkeypatch.setattr(watching, "GREETING_WAIT", 0.3)

    def watch(*states: str) -> watching.AgentWatcher:
        w = watching.AgentWatcher()
        for state in states:
            w.observe(AgentStateChanged(ts=time.time(), old_state="", new_state=state))
        return w

    w = watch("thinking", "listening")  # its greeting never speaks
    assert not w.idle() and w.quiet_for() == 0.0
    await asyncio.sleep(0.35)
    assert w.idle() and 0 <= w.quiet_for() < 0.1  # quiet from the end of the hold on
    assert not watch("thinking", "listening", "speaking").idle()
    assert watch("thinking", "listening", "speaking", "listening").idle()  # it greeted
    assert watch("listening").idle()  # no greeting in the making: no hold
    assert watch("listening", "thinking", "listening").idle()  # a later reply is no opening


# -- what a protocol peer can do wrong: a stand-in interpreter ------------------------------------

PEER = """\
import socket, struct, sys, time
sys.path[:0] = {paths!r}
from livekit.protocol.agent_pb import agent_session as pb
host, port = sys.argv[sys.argv.index("--connect-addr") + 1].split(":")
s = socket.create_connection((host, int(port)))
def send(msg):
    data = msg.SerializeToString()
    s.sendall(struct.pack(">I", len(data)) + data)
ev = pb.AgentSessionEvent(agent_state_changed=
    pb.AgentSessionEvent.AgentStateChanged(new_state=pb.AS_LISTENING))
send(pb.AgentSessionMessage(event=ev))
{then}
"""


def peer(tmp_path: Path, then: str) -> str:
    """A stand-in for ``python``: connects, says the agent listens, then does ``then``."""
    script = tmp_path / "peer.py"
    script.write_text(PEER.format(paths=sys.path, then=then))
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    python.chmod(0o755)
    return str(python)


@pytest.mark.parametrize(("then", "message"), [
    ("s.sendall(struct.pack('>I', 2 << 20)); time.sleep(5)", "over LiveKit's 1 MiB cap"),
    ("time.sleep(0.3); sys.exit(3)", "connection dropped or its process exited"),
])
def test_a_bad_peer_is_one_line_exit_2_and_the_snapshot_is_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], then: str, message: str) -> None:
    from lkmon.cli import main

    journal = tmp_path / "j.journal.jsonl"
    code = main(["run", str(AGENTS / "scripted_agent.py"), "--process", "--python",
                 peer(tmp_path, then), "--headless", "--input", str(tone(tmp_path / "a.wav", 0.5)),
                 "--export", str(tmp_path / "s.json"), "--no-db", "--journal", str(journal),
                 "--tag", "ci=1"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("lkmon: error")]
    assert code == 2 and len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err
    snap = json.loads((tmp_path / "s.json").read_text())  # what was seen is kept
    assert snap["session"]["close_reason"] == "error", snap["session"]
    assert message in snap["session"]["close_error"]
    assert json.loads(journal.read_text().splitlines()[0])["tags"] == {"ci": "1"}  # the header
    assert snap["session"]["tags"] == {"ci": "1"}  # and the snapshot


async def test_a_peer_that_dies_mid_session_ends_the_source_with_a_session_closed(
        tmp_path: Path) -> None:
    source = ProtocolSource(AGENTS / "scripted_agent.py", python=peer(tmp_path, "sys.exit(1)"),
                            inputs=[str(tone(tmp_path / "a.wav", 0.5))])
    source.open()
    seen: list = []
    with pytest.raises(SourceError, match="connection dropped"):
        await asyncio.wait_for(source.run(seen.append), 30)
    assert any(isinstance(e, AgentStateChanged) and e.new_state == "listening" for e in seen)
    assert isinstance(seen[-1], SessionClosed) and "connection dropped" in seen[-1].error


def test_bad_recordings_are_refused_before_the_agent_starts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lkmon.cli import main

    base = ["run", str(AGENTS / "scripted_agent.py"), "--process", "--headless", "--no-db",
            "--export", str(tmp_path / "s.json")]
    assert main([*base, "--input", str(tmp_path / "missing.wav")]) == 2
    err = capsys.readouterr().err
    assert "missing.wav" in err and "Traceback" not in err


# -- real agents in real subprocesses (slow lane) -----------------------------------------------

@pytest.mark.slow  # a real agent process, the recordings played in real time
@pytest.mark.models
def test_wav_turns_over_the_session_protocol(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from lkmon.cli import main

    code = main(["run", str(AGENTS / "scripted_agent.py"), "--process", "--python",
                 sys.executable, "--headless", "--input", str(clip_path("goforward")),
                 str(clip_path("something")), "--export", str(tmp_path / "s.json"), "--no-db"])
    out = capsys.readouterr()
    assert code == 0, out.err
    snap = json.loads((tmp_path / "s.json").read_text())
    assert [t["user_text"] for t in snap["turns"]] == ["hello number 1", "hello number 2"]
    for t in snap["turns"]:  # LiveKit's figures, measured in the agent's process on our audio
        m = t["metrics"]
        assert 0.3 < m["eou_delay"] < 1.5 and 0.3 < m["e2e_latency"] < 2, m
    assert "goforward.wav" in snap["session"]["input"]
    assert snap["session"]["close_reason"] == "caller finished"


@pytest.mark.slow  # the local models twice: in-process, then in their own process
@pytest.mark.models
def test_the_local_agent_over_the_protocol_agrees_with_in_process(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``agent_entry.py`` with the local models on the same recordings, in this process and in
    its own: the same turns, the same words heard, EOU, e2e and the heard gap within the noise,
    and the heard gap measured over the protocol as in-process (joined to every spoken turn)."""
    from lkmon.cli import main

    monkeypatch.chdir(tmp_path)
    agent = TESTS.parent / "agent_entry.py"
    inputs = [str(clip_path("goforward")), str(clip_path("something"))]
    snaps = {}
    for mode, extra in (("in", []), ("proc", ["--process", "--python", sys.executable])):
        code = main(["run", str(agent), *extra, "--headless", "--models", "local", "--input",
                     *inputs, "--export", str(tmp_path / f"{mode}.json"), "--no-db"])
        assert code == 0, capsys.readouterr().err
        snaps[mode] = json.loads((tmp_path / f"{mode}.json").read_text())
    users = {m: [t["user_text"].lower().strip(" .") for t in s["turns"] if t["user_text"]]
             for m, s in snaps.items()}
    assert users["in"] == users["proc"] and len(users["in"]) == 2, users
    # the heard gap, on lkmon's two ends both ways (over the protocol: the agent's playback
    # start carried by its assistant message, HeardRelay). heard - e2e is the VAD's estimate
    # against the audio, the reply's head silence and the sink (docs/metrics.md): the same
    # agent's both ways, and it leaves out the STT's and the LLM's time (the noise of a busy
    # machine: in-process Whisper took 0.4-3 s more EOU delay here), so it is checked first.
    # Over the protocol it also holds the way from the agent's audio output to lkmon's sink
    # (LiveKit's playback start is when the agent sends the first frame): +0.066 and +0.081 s
    # over in-process in two runs under load. So: none less than in-process (within the 0.05 s
    # of the VAD's and the loop's jitter), at most 0.2 s more.
    gaps, diffs = {}, {}
    for mode, snap in snaps.items():
        spoken = [t for t in snap["turns"] if t["user_text"]]
        gaps[mode] = [t["metrics"]["heard_gap"] for t in spoken]
        assert None not in gaps[mode], (mode, [t["missing"] for t in spoken])
        diffs[mode] = [t["metrics"]["heard_gap"] - t["metrics"]["e2e_latency"] for t in spoken]
        assert all(t["heard"]["playback_started_at"] == t["metrics"]["agent_started_speaking_at"]
                   for t in spoken), mode
    print(f"heard gap in-process {gaps['in']}, over the protocol {gaps['proc']}; heard - e2e "
          f"{diffs['in']} vs {diffs['proc']}")
    wire = statistics.median(diffs["proc"]) - statistics.median(diffs["in"])
    assert -0.05 < wire < 0.2, diffs
    # the noise: on an idle machine both runs give EOU 0.50 s a turn and e2e 0.63-0.75 s; the
    # tolerance is what a busy 2-core machine adds to one run and not the other. The heard gap
    # is e2e plus the parts checked above, so it takes e2e's tolerance.
    for figure, noise in (("eou_delay", 0.3), ("e2e_latency", 0.45), ("heard_gap", 0.45)):
        a = [t["metrics"][figure] for t in snaps["in"]["turns"] if t["user_text"]]
        b = [t["metrics"][figure] for t in snaps["proc"]["turns"] if t["user_text"]]
        assert None not in a + b, (figure, a, b)
        assert abs(statistics.median(a) - statistics.median(b)) < noise, (figure, a, b)


async def test_what_the_protocol_does_not_carry_is_marked_not_zero() -> None:
    """Over the protocol there are no VAD events and no model names at the start: the VAD pane
    says why it is empty (no silence, segment or health figures), and the status strip names
    the models from the session's usage (``session_usage_updated``) once it comes."""
    from lkmon.model.events import ModelUsage, SessionStarted, UsageUpdated
    from lkmon.model.state import SessionModel
    from lkmon.tui.app import LkmonApp

    model = SessionModel()
    model.apply(SessionStarted(ts=time.time(), agent_file="agent.py", input="wav (protocol)",
                               vad_events=False))
    model.apply(UsageUpdated(ts=time.time(), usage=[
        ModelUsage(kind="llm", provider="llama.cpp", model="SmolLM2-135M", output_tokens=5)]))
    app = LkmonApp(model, export_dir="/tmp")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.query_one("#vad")
        vad = pane.rendered_text()
        status = app.status_strip.rendered_text()
        assert "agent runs in another process" in vad and "segments" not in vad, vad
        assert "health" not in vad
        assert "llm SmolLM2-135M" in status and "waiting" not in status, status
        model.session.vad_events = True  # an in-process session with no VAD events yet
        pane.update_view()
        assert "No VAD events yet" in pane.rendered_text()
