"""Turns over LiveKit's session protocol (``lkmon run --process``, issue 14 part 3): the protocol
carries no ``speech_id``, so ``EventConverter`` numbers the replies (``protocol_N``). A reply
the user cut in on before any of its text was played adds no assistant message (LiveKit's
``agent_activity``: no ``forwarded_text``, no message); it must still be its own turn,
interrupted and without text, as in-process (its ``SpeechHandle`` done, interrupted, no chat
items), and the next user message must start the next turn.

A stand-in agent process on lkmon's real TCP server sends what LiveKit 1.8.9's session sends
for it, in LiveKit's chat encoding (``livekit.agents._proto.encode_chat_item``); then the same
on the converter alone for a reply cut in on while the agent was still thinking (LiveKit sets no
listening state between that reply and the next) and for a greeting.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from lkmon.model.events import Event, SpeechDone
from lkmon.sources import SourceError
from lkmon.sources.protocol import ProtocolSource

AGENTS = Path(__file__).resolve().parent / "data" / "agents"

PEER = """\
import socket, struct, sys, time
sys.path[:0] = {paths!r}
from livekit.agents import llm
from livekit.agents._proto import encode_chat_item
from livekit.protocol.agent_pb import agent_session as pb
host, port = sys.argv[sys.argv.index("--connect-addr") + 1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
def send(msg):
    data = msg.SerializeToString()
    s.sendall(struct.pack(">I", len(data)) + data)
def event(**kw):
    send(pb.AgentSessionMessage(event=pb.AgentSessionEvent(**kw)))
def state(new):
    event(agent_state_changed=pb.AgentSessionEvent.AgentStateChanged(new_state=new))
def user_state(new):
    event(user_state_changed=pb.AgentSessionEvent.UserStateChanged(new_state=new))
def heard(text):
    event(user_input_transcribed=pb.AgentSessionEvent.UserInputTranscribed(
        transcript=text, is_final=True))
def item(role, text, **kw):
    msg = llm.ChatMessage(role=role, content=[text], **kw)
    event(conversation_item_added=pb.AgentSessionEvent.ConversationItemAdded(
        item=encode_chat_item(msg)))
state(pb.AS_LISTENING)
user_state(pb.US_SPEAKING)
user_state(pb.US_LISTENING)
heard("hello there")
item("user", "hello there")
state(pb.AS_THINKING)
time.sleep(0.1)
state(pb.AS_SPEAKING)
time.sleep(0.1)
user_state(pb.US_SPEAKING)  # the barge-in: LiveKit clears the playback, nothing was played
send(pb.AgentSessionMessage(
    audio_playback_clear=pb.AgentSessionMessage.ConsoleIO.AudioPlaybackClear()))
state(pb.AS_LISTENING)  # no assistant message: no text of the reply was played
user_state(pb.US_LISTENING)
heard("what time is it")
item("user", "what time is it")
state(pb.AS_THINKING)
state(pb.AS_SPEAKING)
now = time.time()
item("assistant", "The time is 12:00.",
     metrics={{"started_speaking_at": now - 0.5, "stopped_speaking_at": now}})
state(pb.AS_LISTENING)
time.sleep(0.3)
s.close()
"""


async def test_a_reply_cut_in_on_before_its_text_is_its_own_turn(tmp_path: Path) -> None:
    """The stand-in agent: "hello there", a reply cut in on while it speaks (no assistant
    message), then "what time is it" answered "The time is 12:00.". Two turns, as in-process:
    before, the first reply stayed open and the second user message and the answer fell into
    it (one turn: "hello there" with "The time is 12:00.")."""
    script = tmp_path / "peer.py"
    script.write_text(PEER.format(paths=sys.path))
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nexec {sys.executable} {script} \"$@\"\n")
    python.chmod(0o755)
    source = ProtocolSource(AGENTS / "scripted_agent.py", python=str(python),
                            journal=tmp_path / "p.journal.jsonl")
    model = source.open()
    seen: list[Event] = []

    def emit(event: Event) -> None:
        seen.append(event)
        model.apply(event)

    with pytest.raises(SourceError, match="connection dropped"):
        await asyncio.wait_for(source.run(emit), 30)
    assert [(t.speech_id, t.user_text, t.agent_text, t.interrupted, t.done)
            for t in model.turns] == [
        ("protocol_1", "hello there", None, True, True),
        ("protocol_2", "what time is it", "The time is 12:00.", False, True)]
    (cut,) = [e for e in seen if isinstance(e, SpeechDone) and e.interrupted]
    listening = [e.ts for e in seen if type(e).__name__ == "AgentStateChanged"
                 and e.new_state == "listening"]
    assert cut.ts == listening[1]  # done when the agent listened again, not at the next message
    assert source.messages.get("audio_playback_clear", 0) == 1, source.messages


def _events(*steps: tuple[str, object]) -> list[Event]:
    """The protocol events of ``steps`` (``("agent", pb state)``, ``("user", text)``,
    ``("assistant", text)``) through ``EventConverter``, one second apart from ``T0``."""
    from livekit.agents import llm
    from livekit.agents._proto import encode_chat_item
    from livekit.protocol.agent_pb import agent_session as pb

    from lkmon.sources.protocol_events import EventConverter

    out: list[Event] = []
    convert = EventConverter(out.append)
    for i, (kind, value) in enumerate(steps):
        if kind == "agent":
            ev = pb.AgentSessionEvent(agent_state_changed=pb.AgentSessionEvent.AgentStateChanged(
                new_state=value))
        else:
            ev = pb.AgentSessionEvent(
                conversation_item_added=pb.AgentSessionEvent.ConversationItemAdded(
                    item=encode_chat_item(llm.ChatMessage(role=kind, content=[value]))))
        ev.created_at.FromNanoseconds(int((T0 + i) * 1e9))
        convert.event(ev)
    return out


T0 = 1_767_225_600.0


def _turns(events: list[Event]) -> list[tuple]:
    from lkmon.model.state import SessionModel

    model = SessionModel()
    model.apply_many(events)
    return [(t.speech_id, t.user_text, t.agent_text, t.interrupted, t.done, t.done_at)
            for t in model.turns]


def test_a_reply_cut_in_on_while_thinking_ends_at_the_next_user_message() -> None:
    """Cut in on while thinking, LiveKit's reply task returns without a listening state (the
    next reply sets thinking again): the cut reply ends at the next user message, interrupted."""
    from livekit.protocol.agent_pb import agent_session as pb

    events = _events(("agent", pb.AS_LISTENING), ("user", "hello there"),
                     ("agent", pb.AS_THINKING), ("user", "what time is it"),
                     ("agent", pb.AS_THINKING), ("agent", pb.AS_SPEAKING),
                     ("assistant", "The time is 12:00."), ("agent", pb.AS_LISTENING))
    assert _turns(events) == [
        ("protocol_1", "hello there", None, True, True, T0 + 3),
        ("protocol_2", "what time is it", "The time is 12:00.", False, True, T0 + 7)]


def test_a_greeting_cut_in_on_before_its_text_and_an_unanswered_message() -> None:
    """A greeting (no user message) cut in on before any text: its own turn from the agent's
    speaking, interrupted. A user message the agent neither thought nor spoke for (its
    ``on_user_turn_completed`` stopped the reply) ends at the next one, not interrupted."""
    from livekit.protocol.agent_pb import agent_session as pb

    events = _events(("agent", pb.AS_THINKING), ("agent", pb.AS_LISTENING),
                     ("agent", pb.AS_SPEAKING), ("agent", pb.AS_LISTENING),
                     ("user", "stop that"), ("user", "hello"), ("agent", pb.AS_THINKING),
                     ("agent", pb.AS_SPEAKING), ("assistant", "Hi."), ("agent", pb.AS_LISTENING))
    assert _turns(events) == [
        ("protocol_1", None, None, True, True, T0 + 3),
        ("protocol_2", "stop that", None, False, True, T0 + 5),
        ("protocol_3", "hello", "Hi.", False, True, T0 + 9)]
    assert [e.speech_id for e in events if type(e).__name__ == "SpeechCreated"] == [
        "protocol_1", "protocol_2", "protocol_3"]
