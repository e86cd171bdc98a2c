"""Piper's onnxruntime threads: seconds to the first audio chunk of a sentence, per setting.

Arms (each its own ``onnxruntime.InferenceSession`` of en_US-joe-medium, loaded once):

    t2_nospin: 2 intra-op threads, spinning off (lkmon's ``PiperTTS`` before this benchmark);
    t2_spin: 2 intra-op threads, spinning on (onnxruntime's and ``PiperVoice.load``'s default);
    t1: 1 intra-op thread (no pool to spin or wait on).

Each is measured idle and while a competitor thread wakes and sleeps like the session's VAD
streams (numpy bursts of about ``BURST_S`` seconds, the GIL released, then ``SLEEP_S`` seconds
of sleep). Arms alternate within each round (A/B/C, A/B/C, ...), over a few sentences; figures:
median seconds to the first chunk per arm and load, and each arm's median over ``t2_nospin``'s.

``python -m bench.piperthreads [--quick]``. Run under the models lock: it loads Piper 3 times.
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from typing import Any

import numpy as np

from bench.common import figure

NAME = "piperthreads"
SENTENCES = [
    "Sure, I can help with that.",
    "It is twelve o'clock right now.",
    "The weather looks clear for the rest of the afternoon.",
    "Hello there, how are you doing today?",
]
ARMS: dict[str, tuple[int, bool]] = {
    "t2_nospin": (2, False), "t2_spin": (2, True), "t1": (1, False),
}
BURST_S = 0.004
"""Seconds of numpy work per competitor burst."""
SLEEP_S = 0.008
"""Seconds the competitor sleeps between bursts."""


def load(threads: int, spin: bool) -> Any:
    """A ``PiperVoice`` of en_US-joe-medium on its own session with these settings."""
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    from lkmon.local.packages import piper_joe_medium

    path = piper_joe_medium()
    with open(f"{path}.json", encoding="utf-8") as f:
        config = PiperConfig.from_dict(json.load(f))
    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    if not spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(path), sess_options=so,
                                           providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=config)


def first_chunk_s(voice: Any, text: str) -> float:
    """Seconds from the call to Piper's first audio chunk of ``text``."""
    start = time.perf_counter()
    for _chunk in voice.synthesize(text):
        return time.perf_counter() - start
    raise RuntimeError(f"no audio for {text!r}")


class Competitor:
    """A thread of short numpy bursts (GIL released) and sleeps, like the VAD streams."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.bursts = 0

    def _run(self) -> None:
        a = np.random.default_rng(0).random(200_000)
        while not self._stop.is_set():
            end = time.perf_counter() + BURST_S
            while time.perf_counter() < end:
                np.sin(a, out=a)
            self.bursts += 1
            time.sleep(SLEEP_S)

    def __enter__(self) -> Competitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(quick: bool = False) -> dict[str, float]:
    """Run all arms idle and under the competitor; returns figure name -> median seconds."""
    rounds = 1 if quick else 4
    voices = {arm: load(*ARMS[arm]) for arm in ARMS}
    for voice in voices.values():
        first_chunk_s(voice, "Hi.")  # warm-up
    out: dict[str, float] = {}
    for load_name in ("idle", "busy"):
        times: dict[str, list[float]] = {arm: [] for arm in ARMS}
        competitor = Competitor() if load_name == "busy" else None
        if competitor is not None:
            competitor.__enter__()
        try:
            for _ in range(rounds):
                for text in SENTENCES:
                    for arm, voice in voices.items():
                        times[arm].append(first_chunk_s(voice, text))
        finally:
            if competitor is not None:
                competitor.__exit__()
        for arm in ARMS:
            out[f"{load_name}.{arm}"] = figure(
                NAME, f"{load_name}.{arm}.first_chunk", times[arm], "s")
        base = statistics.median(times["t2_nospin"])
        for arm in ARMS:
            figure(NAME, f"{load_name}.{arm}.over_t2_nospin",
                   statistics.median(times[arm]) / base, "x")
    return out


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
