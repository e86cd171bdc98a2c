"""A LiveKit agent file that leaks every secret it can, for lkmon's secrets test.

Scripted STT/LLM/TTS (no network, no weights). It loads the ``.env`` beside it, then puts secret
values everywhere lkmon looks:

* logs: its own logger (the root logger) and a ``livekit.agents`` child logger;
* replies: the LLM says ``SOME_TOKEN`` and the ``.env`` value ``LEAKY_DOTENV``;
* a tool call: ``get_current_time`` returns ``LIVEKIT_API_KEY`` (arguments carry
  ``LIVEKIT_API_SECRET``), and the reply repeats the tool output;
* an error: the TTS's first synthesis raises an ``APIConnectionError`` naming
  ``OPENAI_API_KEY`` (LiveKit retries it and logs a warning with the message).

Runs unchanged with LiveKit's own CLI.
"""

import asyncio
import logging
import os

import numpy as np
from dotenv import load_dotenv
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
    function_tool,
    llm,
    stt,
    tts,
    utils,
)
from livekit.plugins import silero

load_dotenv(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".env"))

logger = logging.getLogger("leaky_agent")
server = AgentServer()


def env(name: str) -> str:
    return os.environ.get(name, f"<no {name}>")


class LeakySTT(stt.STT):
    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))

    @property
    def model(self) -> str:
        return "leaky-stt"

    @property
    def provider(self) -> str:
        return "scripted"

    async def _recognize_impl(self, buffer, *, language=None, conn_options=None):
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid("stt_"),
            alternatives=[stt.SpeechData(language="en", text="what time is it")],
        )


class LeakyLLM(llm.LLM):
    @property
    def model(self) -> str:
        return "leaky-llm"

    @property
    def provider(self) -> str:
        return "scripted"

    def chat(self, *, chat_ctx, tools=None, conn_options=DEFAULT_API_CONNECT_OPTIONS, **kwargs):
        return LeakyStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class LeakyStream(llm.LLMStream):
    async def _run(self) -> None:
        rid = utils.shortuuid("llm_")
        last = self._chat_ctx.items[-1] if self._chat_ctx.items else None
        if last is not None and last.type == "function_call_output":
            reply = f"The time is {last.output}."
        elif last is not None and last.type == "message" and "time" in (last.text_content or ""):
            call = llm.FunctionToolCall(
                name="get_current_time",
                arguments=f'{{"auth": "{env("LIVEKIT_API_SECRET")}"}}',
                call_id="call_1",
            )
            delta = llm.ChoiceDelta(role="assistant", tool_calls=[call])
            self._event_ch.send_nowait(llm.ChatChunk(id=rid, delta=delta))
            return
        else:
            reply = f"Your token is {env('SOME_TOKEN')} and the setting is {env('LEAKY_DOTENV')}."
        logger.info("replying: %s", reply)
        words = reply.split(" ")
        for i, word in enumerate(words):
            await asyncio.sleep(0.01)
            text = word + (" " if i < len(words) - 1 else "")
            self._event_ch.send_nowait(
                llm.ChatChunk(id=rid, delta=llm.ChoiceDelta(role="assistant", content=text))
            )
        self._event_ch.send_nowait(
            llm.ChatChunk(
                id=rid,
                usage=llm.CompletionUsage(
                    completion_tokens=len(words), prompt_tokens=20, total_tokens=20 + len(words)
                ),
            )
        )


class LeakyTTS(tts.TTS):
    def __init__(self) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False), sample_rate=24000, num_channels=1
        )
        self.calls = 0

    @property
    def model(self) -> str:
        return "leaky-tts"

    @property
    def provider(self) -> str:
        return "scripted"

    def synthesize(self, text, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS):
        return LeakyChunked(tts=self, input_text=text, conn_options=conn_options)


class LeakyChunked(tts.ChunkedStream):
    async def _run(self, output_emitter) -> None:
        owner = self._tts
        owner.calls += 1
        if owner.calls == 1:
            raise APIConnectionError(f"rejected key {env('OPENAI_API_KEY')}")
        output_emitter.initialize(
            request_id=utils.shortuuid("tts_"), sample_rate=24000, num_channels=1,
            mime_type="audio/pcm",
        )
        t = np.arange(int(0.3 * 24000)) / 24000
        pcm = (0.3 * np.sin(2 * np.pi * 330 * t) * 32767).astype(np.int16)
        output_emitter.push(pcm.tobytes())
        output_emitter.flush()


class Assistant(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You are a leaky test agent.")

    @function_tool
    async def get_current_time(self, auth: str = "") -> str:
        """Return the current time."""
        return f"12:00 (served with key {env('LIVEKIT_API_KEY')})"


def prewarm(proc: JobProcess) -> None:
    proc.userdata["vad"] = silero.VAD.load(min_silence_duration=0.3)


server.setup_fnc = prewarm


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    logger.warning(
        "starting with OPENAI_API_KEY=%s SOME_TOKEN=%s", env("OPENAI_API_KEY"), env("SOME_TOKEN")
    )
    logging.getLogger("livekit.agents.leaky").warning(
        "credentials %s / %s, setting %s",
        env("LIVEKIT_API_KEY"), env("LIVEKIT_API_SECRET"), env("LEAKY_DOTENV"),
    )
    session = AgentSession(
        stt=LeakySTT(),
        llm=LeakyLLM(),
        tts=LeakyTTS(),
        vad=ctx.proc.userdata["vad"],
        turn_handling={"turn_detection": "vad"},
        # at close LiveKit waits this long for a final STT transcript (default 2 s); this STT
        # answers in 0.05 s and a typed session has none to wait for: 2 s idle in every test
        session_close_transcript_timeout=0.3,
    )
    await session.start(agent=Assistant(), room=ctx.room)
    await ctx.connect()


if __name__ == "__main__":
    cli.run_app(server)
