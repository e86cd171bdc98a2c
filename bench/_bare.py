"""The same agent with typed turns and nothing around it: no lkmon, no LiveKit console.

    python bench/_bare.py --audio null|none --out TURNS.json MESSAGE...

The closest equivalent of both peers in ``bench/peer.py``: it runs ``agent_entry.py``'s own
``prewarm`` (in a thread), ``make_session`` and ``Assistant`` in a plain ``AgentSession`` with no
room, waits for the greeting, then sends each message with
``AgentSession.generate_reply(user_input=...)`` once the agent has been quiet for ``--gap``
seconds, and waits for the reply (``SpeechHandle``). ``--audio none`` has no audio output (the
session then skips TTS, as LiveKit's console does in text mode); ``--audio null`` plays the
replies into a real-time null sink (``lkmon.agent.audio.sinks.NullSink``, the sink ``lkmon run
--output null`` uses), so TTS runs as under lkmon.

TURNS.json: ``{"turns": [{"sent": epoch s, "replied": epoch s, "llm_ttft": s}], "window":
[first sent, last replied]}``; ``llm_ttft`` is the assistant ``ChatMessage.metrics
['llm_node_ttft']``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from types import SimpleNamespace
from typing import Any


async def _quiet(session: Any, last_change: list[float], gap: float) -> None:
    while not (
        session.agent_state == "listening" and time.monotonic() - last_change[0] >= gap
    ):
        await asyncio.sleep(0.05)


async def converse(messages: list[str], audio: str, gap: float) -> dict[str, Any]:
    """Run the agent, send ``messages`` one by one; returns the turns (see module docstring)."""
    import agent_entry

    proc = SimpleNamespace(userdata={})
    await asyncio.to_thread(agent_entry.prewarm, proc)
    session = agent_entry.make_session(proc.userdata)
    sync = sink = None
    if audio == "null":
        from livekit.agents.voice.transcription import TranscriptSynchronizer

        from lkmon.agent.audio.sinks import NullSink

        # wired as LiveKit's console wires its audio output (cli/_legacy.py acquire_io): the
        # transcript synchronizer paces the text with the audio (and estimates speaking rate)
        sink = NullSink()
        sync = TranscriptSynchronizer(next_in_chain_audio=sink, next_in_chain_text=None)
        session.output.audio = sync.audio_output
        session.output.transcription = sync.text_output
    last_change = [time.monotonic()]
    replies: list[tuple[float, float | None]] = []

    def on_state(ev: Any) -> None:
        last_change[0] = time.monotonic()

    def on_item(ev: Any) -> None:
        item = ev.item
        if getattr(item, "type", "") == "message" and item.role == "assistant":
            replies.append((time.time(), (item.metrics or {}).get("llm_node_ttft")))

    session.on("agent_state_changed", on_state)
    session.on("conversation_item_added", on_item)
    await session.start(agent=agent_entry.Assistant())
    turns = []
    try:
        await asyncio.wait_for(_quiet(session, last_change, gap), 60)
        for text in messages:
            await asyncio.wait_for(_quiet(session, last_change, gap), 60)
            before = len(replies)
            sent = time.time()
            handle = session.generate_reply(user_input=text)
            await asyncio.wait_for(handle.wait_for_playout(), 60)
            reply = replies[before] if len(replies) > before else (time.time(), None)
            turns.append({"sent": sent, "replied": reply[0], "llm_ttft": reply[1]})
    finally:
        await session.aclose()
        if sync is not None:
            await sync.aclose()
        if sink is not None:
            await sink.aclose()
    window = [turns[0]["sent"], turns[-1]["replied"]] if turns else None
    return {"turns": turns, "window": window}


def main() -> None:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--audio", choices=("null", "none"), default="none")
    parser.add_argument("--gap", type=float, default=1.0, help="seconds of quiet before a turn")
    parser.add_argument("--out", required=True)
    parser.add_argument("messages", nargs="+")
    args = parser.parse_args()
    result = asyncio.run(converse(args.messages, args.audio, args.gap))
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
