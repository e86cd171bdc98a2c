"""The heard gap over LiveKit's session protocol (``lkmon run --process``, issue 14 part 3): the
caller's frames and the sink's blocks share one ``HeardMeter`` as in-process, and
``HeardRelay`` puts each ``AgentAudible`` on the agent's own playback start (the reply's
``started_speaking_at``), so it joins its turn as in-process.

The relay on its own; then a stand-in agent process on lkmon's real TCP server that does what
LiveKit's ``TcpAudioOutput`` does (stamps its playback start when it sends the first frame) and
LiveKit's chat encoding (``livekit.agents._proto.encode_chat_item``), with a real WAV caller and
the real null sink. The real agent, in-process and in its own process, is in
``test_protocol_audio.py`` (slow lane).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lkmon.agent.audio.callers import CALLER_SAMPLE_RATE
from lkmon.model.events import AgentAudible, ChatMessageAdded
from lkmon.sources.protocol import ProtocolSource
from lkmon.sources.protocol_audio import RELAY_WINDOW, HeardRelay
from lkmon.store.restore import load_session

TESTS = Path(__file__).resolve().parent
AGENTS = TESTS / "data" / "agents"


def audible(start: float, at: float | None = None) -> AgentAudible:
    """lkmon's sink's event for a segment it started playing at ``start``."""
    return AgentAudible(ts=start, at=at if at is not None else start + 0.05,
                        playback_started_at=start, voice_end_at=start - 0.8)


def reply(started: float | None, role: str = "assistant") -> ChatMessageAdded:
    metrics = {"started_speaking_at": started} if started is not None else {}
    return ChatMessageAdded(ts=time.time(), item_id="i", role=role, text="x", metrics=metrics)


def test_the_relay_puts_the_event_on_the_agents_start_and_nothing_else() -> None:
    out: list[AgentAudible] = []
    relay = HeardRelay(out.append)
    ev = audible(100.02)
    relay.audible(ev)
    assert out == []  # held until the reply's start is known
    relay.message(reply(None))  # no start: nothing
    relay.message(reply(99.0, role="user"))  # a user message's start is no playback start
    assert out == []
    relay.message(reply(100.0))
    assert out == [AgentAudible(ts=ev.ts, at=ev.at, playback_started_at=100.0,
                                voice_end_at=ev.voice_end_at)]
    assert relay.lags == [pytest.approx(0.02)]


def test_the_relay_joins_the_reply_s_first_segment_whichever_comes_first() -> None:
    out: list[AgentAudible] = []
    relay = HeardRelay(out.append)
    relay.message(reply(200.0))  # the message first (an event arriving late)
    relay.audible(audible(200.03))
    assert [e.playback_started_at for e in out] == [200.0]
    # a reply of two segments: the first is the reply's; the second is held, then dropped at
    # the next reply's join (it is older than that reply's own event)
    relay.audible(audible(300.01))
    relay.audible(audible(301.5))
    relay.message(reply(300.0))
    relay.audible(audible(305.02))
    relay.message(reply(305.0))
    assert [(e.playback_started_at, e.at) for e in out[1:]] == [
        (300.0, pytest.approx(300.06)), (305.0, pytest.approx(305.07))]
    relay.message(reply(301.49))  # the dropped second segment would fit this start: gone
    assert len(out) == 3
    # lkmon's start too long after the agent's, or before it: not this reply's
    relay.audible(audible(400.0 + RELAY_WINDOW + 0.01))
    relay.audible(audible(399.9))
    relay.message(reply(400.0))
    assert len(out) == 3


PEER = """\
import json, socket, struct, sys, time
sys.path[:0] = {paths!r}
import numpy as np
from livekit.agents import llm
from livekit.agents._proto import encode_chat_item
from livekit.protocol.agent_pb import agent_session as pb
host, port = sys.argv[sys.argv.index("--connect-addr") + 1].split(":")
s = socket.create_connection((host, int(port)))
def send(msg):
    data = msg.SerializeToString()
    s.sendall(struct.pack(">I", len(data)) + data)
def receive():
    (n,) = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))
    return pb.AgentSessionMessage.FromString(s.recv(n, socket.MSG_WAITALL))
def event(**kw):
    send(pb.AgentSessionMessage(event=pb.AgentSessionEvent(**kw)))
def state(new):
    event(agent_state_changed=pb.AgentSessionEvent.AgentStateChanged(new_state=new))
def item(role, text, metrics):
    msg = llm.ChatMessage(role=role, content=[text], metrics=metrics)
    event(conversation_item_added=pb.AgentSessionEvent.ConversationItemAdded(
        item=encode_chat_item(msg)))
rate, n = 48000, 480
t = np.arange(int(0.5 * rate)) / rate
audio = np.concatenate([np.zeros(int(0.05 * rate)), 0.5 * 32767 * np.sin(2 * np.pi * 300 * t)])
audio = audio.astype(np.int16)
first = last = None  # arrival of the caller's first and last voiced frame
def caller(m):
    global first, last
    if m.WhichOneof("message") == "audio_input":
        if np.abs(np.frombuffer(m.audio_input.data, np.int16)).max() > 1000:
            first, last = first or time.time(), time.time()
def speak(text, metrics):
    started = time.time()  # TcpAudioOutput: on_playback_started(created_at=time.time())
    state(pb.AS_SPEAKING)
    for i in range(0, len(audio), n):
        send(pb.AgentSessionMessage(audio_output=pb.AgentSessionMessage.ConsoleIO.AudioFrame(
            data=audio[i:i + n].tobytes(), sample_rate=rate, num_channels=1,
            samples_per_channel=len(audio[i:i + n]))))
    send(pb.AgentSessionMessage(
        audio_playback_flush=pb.AgentSessionMessage.ConsoleIO.AudioPlaybackFlush()))
    while (m := receive()).WhichOneof("message") != "audio_playback_finished":
        caller(m)
    item("assistant", text, {{"started_speaking_at": started, "stopped_speaking_at": time.time(),
                              **metrics(started)}})
    state(pb.AS_LISTENING)
    return started
# the opening of LiveKit 1.8.9's AgentSession as lkmon saw agent_entry.py's: thinking, then
# listening while the greeting is made, then speaking 0.65 s later
state(pb.AS_THINKING)
state(pb.AS_LISTENING)
time.sleep(0.65)
speak("hello", lambda started: {{}})
greeted = time.time()
while True:
    m = receive()
    caller(m)
    if m.WhichOneof("message") == "audio_input" and last is not None and time.time() - last > 0.3:
        break
item("user", "a tone", {{"started_speaking_at": first, "stopped_speaking_at": last}})
state(pb.AS_THINKING)
time.sleep(0.2)
started = speak("a tone back", lambda started: {{"e2e_latency": started - last}})
with open({out!r}, "w") as f:
    json.dump({{"started": started, "last": last, "first": first, "greeted": greeted}}, f)
time.sleep(30)
"""


async def test_the_heard_gap_over_the_protocol_joins_its_turn(tmp_path: Path) -> None:
    """A stand-in agent greets (0.65 s after it listens, as LiveKit's session does), then a WAV
    caller's 0.5 s tone gets 50 ms of silence and a 0.5 s tone back. The caller waits for the
    greeting (``AgentWatcher``'s opening hold: with a 0.3 s gap it would start 0.35 s before it
    otherwise). The heard gap is measured on lkmon's two ends (the caller's last voiced sample
    as played, the reply's first audible sample as the null sink plays it), joined to the turn
    through the agent's ``started_speaking_at``, before the reply's message (so a headless line
    has it), and journaled."""
    rate = CALLER_SAMPLE_RATE
    wav = tmp_path / "tone.wav"
    sf.write(str(wav), 0.5 * np.sin(2 * np.pi * 300 * np.arange(rate // 2) / rate), rate,
             subtype="PCM_16")
    out = tmp_path / "peer.json"
    script = tmp_path / "peer.py"
    script.write_text(PEER.format(paths=sys.path, out=str(out)))
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    python.chmod(0o755)
    journal = tmp_path / "p.journal.jsonl"
    source = ProtocolSource(AGENTS / "scripted_agent.py", python=str(python), inputs=[str(wav)],
                            gap=0.3, journal=journal)
    model = source.open()
    seen: list = []

    def emit(event: object) -> None:
        seen.append(event)
        model.apply(event)

    await asyncio.wait_for(source.run(emit), 30)
    peer = json.loads(out.read_text())
    assert peer["first"] > peer["greeted"] + 0.3  # the caller spoke after the greeting, not over
    (turn,) = [t for t in model.turns if t.user_text == "a tone"]
    heard, m = turn.heard, turn.metrics
    assert heard is not None and m.heard_gap is not None, turn
    assert heard.playback_started_at == m.agent_started_speaking_at == pytest.approx(
        peer["started"], abs=1e-6)  # the agent's own start, as the protocol carries it
    (_, _, played_end) = source.caller.played[0]  # the caller's wall clock at its last frame
    assert heard.voice_end_at == pytest.approx(played_end, abs=0.03)
    lag = heard.at - heard.playback_started_at  # 50 ms of head silence + the wire + a tick
    assert 0.05 <= lag <= 0.05 + 0.25, lag
    assert m.heard_gap == pytest.approx(heard.at - heard.voice_end_at)
    assert m.heard_gap > 0.3 + 0.2  # the peer's own end-of-speech wait and its think time
    assert len(source.relay.lags) == 2 and all(0 <= lag <= 0.25 for lag in source.relay.lags)
    replies = [i for i, e in enumerate(seen)
               if isinstance(e, ChatMessageAdded) and e.role == "assistant"]
    assert len(replies) == 2  # the greeting's and the tone's: each just after its AgentAudible
    assert all(isinstance(seen[i - 1], AgentAudible) for i in replies)
    types = [json.loads(line).get("type") for line in journal.read_text().splitlines()]
    assert types.count("agent_audible") == 2
    replayed = load_session(journal)  # lkmon replay / watch of the journal: the same figures
    assert [t.metrics.heard_gap for t in replayed.turns] == [t.metrics.heard_gap
                                                             for t in model.turns]
