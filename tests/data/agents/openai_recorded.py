"""A voice agent on the real ``livekit-plugins-openai`` classes (STT, LLM, TTS; Silero VAD;
LiveKit's default AgentSession options) with ``lkmon.record(session)`` after ``session.start()``,
as a user adds it to their own agent. ``LKMON_TEST_RECORD_DIR``: the journal folder."""

import os

from livekit.agents import Agent, AgentServer, AgentSession, JobContext, cli
from livekit.plugins import openai, silero

from lkmon import record

server = AgentServer()


class Assistant(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You are a helpful voice assistant. Reply in one sentence.")


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    session = AgentSession(
        stt=openai.STT(), llm=openai.LLM(), tts=openai.TTS(), vad=silero.VAD.load()
    )
    await session.start(agent=Assistant(), room=ctx.room)
    record(session, journal=os.environ.get("LKMON_TEST_RECORD_DIR") or None)
    await ctx.connect()
    session.generate_reply(instructions="Greet the user.")


if __name__ == "__main__":
    cli.run_app(server)
