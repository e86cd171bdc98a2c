"""Two agents on the OpenAI plugins: the first hands the caller over to the second.

LiveKit's handoff pattern: a function tool of the first agent returns the next ``Agent`` (and a
line for the LLM); the session switches to it and the new agent greets the caller from its
``on_enter``. Default plugin and AgentSession options.
"""

from livekit.agents import (
    Agent,
    AgentServer,
    AgentSession,
    JobContext,
    RunContext,
    cli,
    function_tool,
)
from livekit.plugins import openai, silero

server = AgentServer()


class TravelAgent(Agent):
    def __init__(self) -> None:
        super().__init__(
            instructions=(
                "You are a travel agent. Help the caller plan a trip, in one short sentence."
            )
        )

    async def on_enter(self) -> None:
        self.session.generate_reply(instructions="Tell the caller you can plan their trip.")


class Receptionist(Agent):
    def __init__(self) -> None:
        super().__init__(
            instructions=(
                "You are a receptionist. When the caller wants to go somewhere, hand them over "
                "to the travel agent. Reply in one short sentence."
            )
        )

    async def on_enter(self) -> None:
        self.session.generate_reply(instructions="Greet the caller and ask how you can help.")

    @function_tool
    async def go_somewhere(self, context: RunContext) -> tuple[Agent, str]:
        """Hand the caller over to the travel agent, who plans trips."""
        return TravelAgent(), "Transferring you to our travel agent."


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    session = AgentSession(
        stt=openai.STT(),
        llm=openai.LLM(),
        tts=openai.TTS(),
        vad=silero.VAD.load(),
    )
    await session.start(agent=Receptionist(), room=ctx.room)
    await ctx.connect()


if __name__ == "__main__":
    cli.run_app(server)
