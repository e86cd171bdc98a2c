"""A user's agent file whose cloud STT cannot connect: every STT stream raises
APIConnectionError (as a streaming cloud STT does with no network). The LLM and TTS are scripted,
the VAD is Silero. Typed input (``--input text``) needs no STT, so it must still be answered.
"""

import asyncio

import numpy as np
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    Agent,
    AgentServer,
    AgentSession,
    APIConnectionError,
    APIConnectOptions,
    JobContext,
    JobProcess,
    cli,
    llm,
    stt,
    tts,
    utils,
)
from livekit.plugins import silero

server = AgentServer()


class UnreachableSTT(stt.STT):
    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=True))

    @property
    def model(self) -> str:
        return "nova-unreachable"

    @property
    def provider(self) -> str:
        return "unreachable-cloud"

    async def _recognize_impl(self, buffer, *, language=None, conn_options=None):
        raise APIConnectionError("cannot connect to stt.example.invalid")

    def stream(self, *, language=None, conn_options=DEFAULT_API_CONNECT_OPTIONS):
        return UnreachableStream(stt=self, conn_options=conn_options)


class UnreachableStream(stt.RecognizeStream):
    async def _run(self) -> None:
        await asyncio.sleep(0.05)
        raise APIConnectionError("cannot connect to stt.example.invalid")


class ScriptedLLM(llm.LLM):
    @property
    def model(self) -> str:
        return "scripted-llm"

    @property
    def provider(self) -> str:
        return "scripted"

    def chat(self, *, chat_ctx, tools=None, conn_options=DEFAULT_API_CONNECT_OPTIONS, **kwargs):
        return ScriptedStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class ScriptedStream(llm.LLMStream):
    async def _run(self) -> None:
        rid = utils.shortuuid("llm_")
        last = self._chat_ctx.items[-1] if self._chat_ctx.items else None
        text = (last.text_content or "") if last is not None and last.type == "message" else ""
        for word in ["You", "typed:", *text.split()]:
            await asyncio.sleep(0.02)
            delta = llm.ChoiceDelta(role="assistant", content=word + " ")
            self._event_ch.send_nowait(llm.ChatChunk(id=rid, delta=delta))


class ScriptedTTS(tts.TTS):
    def __init__(self) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False), sample_rate=24000, num_channels=1
        )

    @property
    def model(self) -> str:
        return "scripted-tts"

    @property
    def provider(self) -> str:
        return "scripted"

    def synthesize(self, text, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS):
        return ScriptedChunked(tts=self, input_text=text, conn_options=conn_options)


class ScriptedChunked(tts.ChunkedStream):
    async def _run(self, output_emitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid("tts_"), sample_rate=24000, num_channels=1,
            mime_type="audio/pcm",
        )
        await asyncio.sleep(0.03)
        output_emitter.push(np.zeros(int(0.3 * 24000), dtype=np.int16).tobytes())
        output_emitter.flush()


def prewarm(proc: JobProcess) -> None:
    proc.userdata["vad"] = silero.VAD.load()


server.setup_fnc = prewarm


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    session = AgentSession(
        stt=UnreachableSTT(),
        llm=ScriptedLLM(),
        tts=ScriptedTTS(),
        vad=ctx.proc.userdata["vad"],
        turn_handling={"turn_detection": "vad"},
        # at close LiveKit waits this long for a final STT transcript (default 2 s); this STT
        # answers in 0.05 s and a typed session has none to wait for: 2 s idle in every test
        session_close_transcript_timeout=0.3,
    )
    await session.start(agent=Agent(instructions="You are a test agent."), room=ctx.room)
    await ctx.connect()


if __name__ == "__main__":
    cli.run_app(server)
