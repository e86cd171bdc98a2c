"""A recipe-style LiveKit agent file with scripted STT, LLM and TTS (no network, no weights).

Used by lkmon's runner tests. Real Silero VAD; the STT answers "hello number N", the LLM streams a
fixed reply, the TTS plays a 0.6 s tone per sentence. Runs unchanged with LiveKit's own CLI.
"""

import asyncio
import os

import numpy as np
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    Agent,
    AgentServer,
    AgentSession,
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

server = AgentServer()


class ScriptedSTT(stt.STT):
    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self.count = 0

    @property
    def model(self) -> str:
        return "scripted-stt"

    @property
    def provider(self) -> str:
        return "scripted"

    async def _recognize_impl(self, buffer, *, language=None, conn_options=None):
        await asyncio.sleep(0.05)
        self.count += 1
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid("stt_"),
            alternatives=[stt.SpeechData(language="en", text=f"hello number {self.count}")],
        )


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
        reply = os.environ.get("SCRIPTED_REPLY", "Nice to hear you. Goodbye for now.")
        last = self._chat_ctx.items[-1] if self._chat_ctx.items else None
        if last is not None and last.type == "function_call_output":
            reply = f"The time is {last.output}."
        elif last is not None and last.type == "message" and "time" in (last.text_content or ""):
            call = llm.FunctionToolCall(name="current_time", arguments="{}", call_id="call_1")
            delta = llm.ChoiceDelta(role="assistant", tool_calls=[call])
            self._event_ch.send_nowait(llm.ChatChunk(id=rid, delta=delta))
            return
        words = reply.split(" ")
        for i, word in enumerate(words):
            await asyncio.sleep(0.02)
            text = word + (" " if i < len(words) - 1 else "")
            delta = llm.ChoiceDelta(role="assistant", content=text)
            self._event_ch.send_nowait(llm.ChatChunk(id=rid, delta=delta))
        self._event_ch.send_nowait(
            llm.ChatChunk(
                id=rid,
                usage=llm.CompletionUsage(
                    completion_tokens=len(words), prompt_tokens=20, total_tokens=20 + len(words)
                ),
            )
        )


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
            request_id=utils.shortuuid("tts_"),
            sample_rate=24000,
            num_channels=1,
            mime_type="audio/pcm",
        )
        await asyncio.sleep(0.03)
        t = np.arange(int(0.6 * 24000)) / 24000
        pcm = (0.3 * np.sin(2 * np.pi * 330 * t) * 32767).astype(np.int16)
        output_emitter.push(pcm.tobytes())
        output_emitter.flush()


class Assistant(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You are a test agent.")

    @function_tool
    async def current_time(self) -> str:
        """Return the current time."""
        return "12:00"


def prewarm(proc: JobProcess) -> None:
    proc.userdata["vad"] = silero.VAD.load(min_silence_duration=0.3)


server.setup_fnc = prewarm


async def on_session_end(ctx: JobContext) -> None:
    if path := os.environ.get("SCRIPTED_SESSION_END_FILE"):
        report = ctx.make_session_report()
        with open(path, "w") as f:
            f.write(f"{len(report.chat_history.items)} items")


@server.rtc_session(on_session_end=on_session_end)
async def entrypoint(ctx: JobContext) -> None:
    if os.environ.get("SCRIPTED_WAIT_PARTICIPANT"):
        participant = await ctx.wait_for_participant()
        assert participant.identity

    async def on_shutdown() -> None:
        if path := os.environ.get("SCRIPTED_HISTORY_FILE"):  # the user's own transcript
            import json

            with open(path, "w") as f:
                json.dump(session.history.to_dict(), f)
        if path := os.environ.get("SCRIPTED_SHUTDOWN_FILE"):
            with open(path, "w") as f:
                f.write("shutdown callback ran")

    ctx.add_shutdown_callback(on_shutdown)
    session = AgentSession(
        stt=ScriptedSTT(),
        llm=ScriptedLLM(),
        tts=ScriptedTTS(),
        vad=ctx.proc.userdata["vad"],
        turn_handling={"turn_detection": "vad"},
        # at close LiveKit waits this long for a final STT transcript (default 2 s); this STT
        # answers in 0.05 s and a typed session has none to wait for: 2 s idle in every test
        session_close_transcript_timeout=0.3,
    )
    await session.start(agent=Assistant(), room=ctx.room)
    await ctx.connect()
    if os.environ.get("SCRIPTED_GREETING"):
        session.generate_reply(instructions="greet the user")


if __name__ == "__main__":
    cli.run_app(server)
