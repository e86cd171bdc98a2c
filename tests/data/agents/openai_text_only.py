"""A text-only agent on the OpenAI LLM: no audio in or out, no STT and no TTS.

Audio is turned off through the room options of livekit-agents 1.8
(``room_io.RoomOptions(audio_input=False, audio_output=False)``); the user types and the agent
answers in text. Default plugin and AgentSession options otherwise.
"""

from livekit.agents import Agent, AgentServer, AgentSession, JobContext, cli, room_io
from livekit.plugins import openai

server = AgentServer()


class Assistant(Agent):
    def __init__(self) -> None:
        super().__init__(
            instructions="You are a helpful text assistant. Reply in one short sentence."
        )


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    session = AgentSession(llm=openai.LLM())
    await session.start(
        agent=Assistant(),
        room=ctx.room,
        room_options=room_io.RoomOptions(audio_input=False, audio_output=False),
    )
    await ctx.connect()


if __name__ == "__main__":
    cli.run_app(server)
