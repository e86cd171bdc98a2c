"""Structured output, as LiveKit's structured-output example does it.

The agent's ``llm_node`` asks the OpenAI LLM for a JSON object (``response_format`` built from a
TypedDict: a voice instruction and the reply); ``tts_node`` and ``transcription_node`` speak and
show only the ``response`` field, parsed from the partial JSON as it streams, and the voice
instruction goes to ``openai.TTS(instructions=...)``. The models belong to the agent; the session
has the VAD and LiveKit's defaults.
"""

import logging
from collections.abc import AsyncIterable, Callable
from typing import Annotated, cast

from livekit.agents import (
    NOT_GIVEN,
    Agent,
    AgentServer,
    AgentSession,
    ChatContext,
    FunctionTool,
    JobContext,
    ModelSettings,
    cli,
)
from livekit.plugins import openai, silero
from pydantic import Field
from pydantic_core import from_json
from typing_extensions import TypedDict

logger = logging.getLogger("structured-output")

server = AgentServer()


class SpokenReply(TypedDict):
    voice_instructions: Annotated[
        str, Field(..., description="A short directive for the voice: tone, emotion, speed")
    ]
    response: str


async def reply_text(
    chunks: AsyncIterable[str], on_reply: Callable[[SpokenReply], None] | None = None
) -> AsyncIterable[str]:
    """The ``response`` field of the streamed JSON, as deltas."""
    so_far = ""
    sent = ""
    async for chunk in chunks:
        so_far += chunk
        try:
            reply: SpokenReply = from_json(so_far, allow_partial="trailing-strings")
        except ValueError:
            continue
        if on_reply is not None:
            on_reply(reply)
        text = reply.get("response") or ""
        if len(text) > len(sent):
            yield text[len(sent) :]
            sent = text


class ExpressiveAgent(Agent):
    def __init__(self) -> None:
        super().__init__(
            instructions=(
                "You are an expressive voice assistant. Answer in one short sentence and say "
                "how it should be spoken."
            ),
            stt=openai.STT(),
            llm=openai.LLM(),
            tts=openai.TTS(),
        )

    async def llm_node(
        self, chat_ctx: ChatContext, tools: list[FunctionTool], model_settings: ModelSettings
    ):
        model = cast(openai.LLM, self.llm)
        tool_choice = model_settings.tool_choice if model_settings else NOT_GIVEN
        async with model.chat(
            chat_ctx=chat_ctx, tools=tools, tool_choice=tool_choice, response_format=SpokenReply
        ) as stream:
            async for chunk in stream:
                yield chunk

    async def tts_node(self, text: AsyncIterable[str], model_settings: ModelSettings):
        updated = False

        def on_reply(reply: SpokenReply) -> None:
            nonlocal updated
            if not updated and reply.get("voice_instructions") and reply.get("response"):
                updated = True
                logger.info("voice instructions: %s", reply["voice_instructions"])
                cast(openai.TTS, self.tts).update_options(
                    instructions=reply["voice_instructions"]
                )

        return super().tts_node(reply_text(text, on_reply), model_settings)

    async def transcription_node(self, text: AsyncIterable[str], model_settings: ModelSettings):
        async for delta in reply_text(text):
            yield delta


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    session = AgentSession(vad=silero.VAD.load())
    await session.start(agent=ExpressiveAgent(), room=ctx.room)
    await ctx.connect()


if __name__ == "__main__":
    cli.run_app(server)
