"""A transcriber: an AgentSession with the OpenAI STT and Silero VAD, no LLM and no TTS.

The session only listens; every final transcript is logged (as LiveKit's transcriber recipes
do) and becomes a user message of the chat history. Default plugin and AgentSession options.
"""

import logging

from livekit.agents import (
    Agent,
    AgentServer,
    AgentSession,
    JobContext,
    UserInputTranscribedEvent,
    cli,
)
from livekit.plugins import openai, silero

logger = logging.getLogger("transcriber")

server = AgentServer()


class Transcriber(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="Not used: this agent only transcribes.")


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    session = AgentSession(stt=openai.STT(), vad=silero.VAD.load())

    @session.on("user_input_transcribed")
    def on_transcript(ev: UserInputTranscribedEvent) -> None:
        if ev.is_final:
            logger.info("transcript: %s", ev.transcript)

    await session.start(agent=Transcriber(), room=ctx.room)
    await ctx.connect()


if __name__ == "__main__":
    cli.run_app(server)
