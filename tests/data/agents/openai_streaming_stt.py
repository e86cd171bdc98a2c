"""A voice agent on the OpenAI plugins with streaming speech-to-text (the realtime API).

``openai.STT(use_realtime=True)`` opens the realtime transcription websocket
(``{OPENAI_BASE_URL}/realtime?intent=transcription``) and streams the audio; the server's VAD
cuts segments and sends interim deltas and final transcripts. LLM and TTS are the OpenAI
plugins with default options; every AgentSession option is LiveKit's default.
"""

from livekit.agents import Agent, AgentServer, AgentSession, JobContext, cli
from livekit.plugins import openai, silero

server = AgentServer()


class Assistant(Agent):
    def __init__(self) -> None:
        super().__init__(
            instructions="You are a friendly voice assistant. Reply in one short sentence."
        )


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    session = AgentSession(
        stt=openai.STT(use_realtime=True),
        llm=openai.LLM(),
        tts=openai.TTS(),
        vad=silero.VAD.load(),
    )
    await session.start(agent=Assistant(), room=ctx.room)
    await ctx.connect()


if __name__ == "__main__":
    cli.run_app(server)
