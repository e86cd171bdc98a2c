"""The offline pipeline: model load and warm-up, each model alone, then whole voice turns.

Figures (seconds unless said):
    * load and warm-up time of each model (``load_local_models``), and the warm-up effect: the
      first call of a fresh model versus the next ones;
    * STT seconds per utterance (Whisper tiny.en) on the shared LibriVox recordings;
    * LLM TTFT and tokens/s (from LiveKit's ``LLMMetrics``);
    * TTS TTFB per sentence (from LiveKit's ``TTSMetrics``);
    * per voice turn inside a real ``AgentSession`` (agent_entry.py's agent, a WAV caller at
      real-time pace, a real-time null sink): e2e latency (``ChatMessage.metrics
      ['e2e_latency']``), transcription delay, EOU delay, LLM node TTFT, TTS node TTFB.
      Target: e2e p50 <= 1.5 s on 2 cores.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from livekit import rtc
from livekit.agents import llm

from bench.common import figure

NAME = "pipeline"
AUDIO = Path("/work/shared/audio")
REPO = Path(__file__).resolve().parents[1]
CLIPS = ["librivox_sense_0870", "librivox_sense_0880", "librivox_sense_0890",
         "librivox_sense_0920", "librivox_sense_0930"]
VOICE_TURNS = [*CLIPS, "goforward", "something", "forever_1", "cards_001", "cards_003"]
PROMPTS = ["Tell me about cats.", "What is the capital of France?", "How do I boil an egg?",
           "Give me a tip for sleeping well.", "What is your favourite colour?"]
SENTENCES = ["Hello there, how can I help you today?", "It is a lovely day for a walk.",
             "The capital of France is Paris.", "I am not sure about that.",
             "Let me think about it for a moment."]


def _audio_dir() -> Path:
    return AUDIO if AUDIO.is_dir() else REPO / "tests" / "data"


def _frame(path: Path) -> rtc.AudioFrame:
    pcm, sr = sf.read(path, dtype="int16")
    return rtc.AudioFrame(pcm.tobytes(), sr, 1, len(pcm))


def _load() -> object:
    from lkmon.local import load_local_models

    start = time.perf_counter()
    models = load_local_models()
    figure(NAME, "load_all", time.perf_counter() - start, "s")
    for role, seconds in models.load_seconds.items():
        figure(NAME, f"load_{role}", seconds, "s")
    for role, seconds in models.warm_up_seconds.items():
        figure(NAME, f"warm_up_{role}", seconds, "s")
    t = models.threads
    print(f"{NAME}.threads: stt={t.stt} llm={t.llm} tts={t.tts}", flush=True)
    return models


async def _components(models, quick: bool) -> None:  # noqa: ANN001
    clips = [_audio_dir() / f"{c}.wav" for c in CLIPS[: 2 if quick else 5]]
    stt_s = []
    for path in clips:
        start = time.perf_counter()
        await models.stt.recognize(_frame(path))
        stt_s.append(time.perf_counter() - start)
    figure(NAME, "stt_per_utterance", stt_s, "s", "full 30 s window: 0.4-0.7 s")

    llm_metrics: list = []
    models.llm.on("metrics_collected", llm_metrics.append)
    for prompt in PROMPTS[: 2 if quick else 5]:
        ctx = llm.ChatContext.empty()
        ctx.add_message(role="system", content="You are a friendly voice assistant.")
        ctx.add_message(role="user", content=prompt)
        await models.llm.chat(chat_ctx=ctx).collect()
    await asyncio.sleep(0.05)
    models.llm.off("metrics_collected", llm_metrics.append)
    figure(NAME, "llm_ttft", [m.ttft for m in llm_metrics], "s")
    figure(NAME, "llm_tokens_per_second", [m.tokens_per_second for m in llm_metrics], "tokens/s")

    tts_metrics: list = []
    models.tts.on("metrics_collected", tts_metrics.append)
    for sentence in SENTENCES[: 2 if quick else 5]:
        await models.tts.synthesize(sentence).collect()
    await asyncio.sleep(0.05)
    models.tts.off("metrics_collected", tts_metrics.append)
    figure(NAME, "tts_ttfb", [m.ttfb for m in tts_metrics], "s")
    figure(NAME, "tts_real_time_factor",
           [m.duration / m.audio_duration for m in tts_metrics], "x")


async def _voice_turns(quick: bool) -> None:
    import agent_entry
    from lkmon.agent.audio.callers import WavCaller
    from lkmon.agent.audio.sinks import NullSink
    from lkmon.local import load_local_models

    models = load_local_models()
    userdata = {"models": "local", "vad": models.vad, "stt": models.stt, "llm": models.llm,
                "tts": models.tts}
    session = agent_entry.make_session(userdata)
    names = VOICE_TURNS[:3] if quick else VOICE_TURNS
    caller = WavCaller([_audio_dir() / f"{n}.wav" for n in names])
    caller.attach(session)
    session.input.audio = caller
    session.output.audio = NullSink()
    replies: list[dict[str, float]] = []
    users: list[dict[str, float]] = []

    def on_item(ev) -> None:  # noqa: ANN001
        item = ev.item
        if getattr(item, "type", "") != "message":
            return
        metrics = dict(item.metrics or {})
        (replies if item.role == "assistant" else users).append(metrics)

    session.on("conversation_item_added", on_item)
    await session.start(agent=agent_entry.Assistant())
    try:
        await asyncio.wait_for(caller.done.wait(), timeout=60 + 25 * len(names))
    finally:
        await session.aclose()

    e2e = [m["e2e_latency"] for m in replies if m.get("e2e_latency")]
    figure(NAME, "turns", len(e2e), "turns", f"{len(names)} recordings")
    if len(e2e) >= 2:
        q = statistics.quantiles(e2e, n=20, method="inclusive")
        figure(NAME, "e2e_p50", float(np.percentile(e2e, 50)), "s", "<= 1.5 s")
        figure(NAME, "e2e_p95", q[18], "s")
    for key, fig in (("transcription_delay", "transcription_delay"),
                     ("end_of_turn_delay", "eou_delay")):
        values = [m[key] for m in users if m.get(key) is not None]
        if values:
            figure(NAME, fig, values, "s")
    for key in ("llm_node_ttft", "tts_node_ttfb"):
        values = [m[key] for m in replies if m.get("e2e_latency") and m.get(key) is not None]
        if values:
            figure(NAME, key, values, "s")


def run(quick: bool) -> None:
    """Run the pipeline benchmark (``quick``: fewer calls and 3 voice turns)."""
    models = _load()
    asyncio.run(_components(models, quick))
    asyncio.run(_voice_turns(quick))
