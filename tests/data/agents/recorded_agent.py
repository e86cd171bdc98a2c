"""The scripted agent (``scripted_agent.py``: scripted STT, LLM and TTS, real Silero VAD) with
``lkmon.record(session)`` in its entrypoint, as a user adds it to their own agent.

``LKMON_TEST_RECORD``: ``before`` (default) or ``after`` ``session.start()``;
``LKMON_TEST_RECORD_DIR``: the journal folder (default: the sessions folder).
"""

import os

from livekit.agents import AgentServer, AgentSession, JobContext, JobProcess, cli
from livekit.plugins import silero
from scripted_agent import Assistant, ScriptedLLM, ScriptedSTT, ScriptedTTS

from lkmon import record

server = AgentServer()


def prewarm(proc: JobProcess) -> None:
    proc.userdata["vad"] = silero.VAD.load(min_silence_duration=0.3)


server.setup_fnc = prewarm


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    session = AgentSession(
        stt=ScriptedSTT(),
        llm=ScriptedLLM(),
        tts=ScriptedTTS(),
        vad=ctx.proc.userdata["vad"],
        turn_handling={"turn_detection": "vad"},
    )
    folder = os.environ.get("LKMON_TEST_RECORD_DIR") or None
    when = os.environ.get("LKMON_TEST_RECORD", "before")
    if when == "before":
        record(session, journal=folder, tags={"test": when})
    await session.start(agent=Assistant(), room=ctx.room)
    if when == "after":
        record(session, journal=folder, tags={"test": when})
    await ctx.connect()


if __name__ == "__main__":
    cli.run_app(server)
