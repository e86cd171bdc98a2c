"""A text-only agent written the older way: ``RoomInputOptions`` / ``RoomOutputOptions``.

``room_input_options=RoomInputOptions(audio_enabled=False)`` and
``room_output_options=RoomOutputOptions(audio_enabled=False)`` (deprecated in 1.8 in favour of
``room_options=RoomOptions(...)``, still accepted). OpenAI LLM only, default options.
"""

from livekit.agents import (
    Agent,
    AgentServer,
    AgentSession,
    JobContext,
    RoomInputOptions,
    RoomOutputOptions,
    cli,
)
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
        room_input_options=RoomInputOptions(audio_enabled=False),
        room_output_options=RoomOutputOptions(audio_enabled=False),
    )
    await ctx.connect()


if __name__ == "__main__":
    cli.run_app(server)
