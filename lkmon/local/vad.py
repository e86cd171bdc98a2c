"""Silero VAD (from livekit-plugins-silero) with lkmon's tuned end-of-speech silence window."""

from __future__ import annotations

from livekit.agents import vad
from livekit.plugins import silero

MIN_SILENCE_SECONDS = 0.30
"""Silence (seconds) that ends an utterance. The plugin's default is 0.55 s; 0.30 s cut the
median e2e latency from 1.88 s to 1.50 s on the shared recordings without splitting any
utterance into two turns (see shared/notes/offline-models.md)."""


def load_vad(
    min_silence_duration: float = MIN_SILENCE_SECONDS, prefix_padding_duration: float = 0.5
) -> vad.VAD:
    """Load Silero VAD (its ONNX model ships in the plugin's wheel; about 0.1 s, blocking).

    Args:
        min_silence_duration: seconds of silence after speech before the VAD emits
            ``END_OF_SPEECH``.
        prefix_padding_duration: seconds of audio before the speech kept at the start of each
            segment (the plugin's default 0.5 s). A VAD that cuts segments for an STT at a
            window shorter than this would repeat the end of one segment at the start of the
            next after a short pause: keep it no longer than ``min_silence_duration`` there.

    Returns:
        ``silero.VAD``, with ``model`` ``"silero"`` and ``provider`` ``"ONNX"``.
    """
    return silero.VAD.load(
        min_silence_duration=min_silence_duration, prefix_padding_duration=prefix_padding_duration
    )
