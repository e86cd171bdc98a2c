"""A voice agent on the OpenAI plugins with function tools, written as LiveKit's recipes are.

STT, LLM and TTS are ``livekit-plugins-openai`` with their default options; ``OPENAI_BASE_URL``
points them at any OpenAI-compatible server (lkmon's tests use ``tests/openai_server.py``, which
runs offline models). Silero VAD; every AgentSession option is LiveKit's default (its turn
detector, preemptive generation on).
"""

from datetime import datetime

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


class RobotAssistant(Agent):
    def __init__(self) -> None:
        super().__init__(
            instructions=(
                "You are the voice of a small delivery robot. Keep replies to one short "
                "sentence. Use your tools to move, to tell the time and the weather."
            )
        )

    @function_tool
    async def get_weather(self, context: RunContext, location: str) -> str:
        """Look up the current weather.

        Args:
            location: the city or place to report on.
        """
        return f"It is sunny and 21 degrees in {location}."

    @function_tool
    async def get_time(self, context: RunContext) -> str:
        """Tell the current local time."""
        return f"It is {datetime.now().strftime('%H:%M')}."

    @function_tool
    async def go_forward(self, context: RunContext, meters: int) -> str:
        """Drive the robot straight ahead.

        Args:
            meters: how far to drive, in meters.
        """
        return f"Moved forward {meters} meters."


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    session = AgentSession(
        stt=openai.STT(),
        llm=openai.LLM(),
        tts=openai.TTS(),
        vad=silero.VAD.load(),
    )
    await session.start(agent=RobotAssistant(), room=ctx.room)
    await ctx.connect()
    session.generate_reply(instructions="Greet the user and offer your help.")


if __name__ == "__main__":
    cli.run_app(server)
