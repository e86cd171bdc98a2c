"""lkmon.local.SegmentedSTT: Whisper's own segments, with the wrapped STT's errors reaching the
session (LiveKit's StreamAdapter forwards only metrics)."""

from __future__ import annotations

from livekit.agents import APIConnectionError, stt

from lkmon.local import SegmentedSTT, load_vad


class OneShotSTT(stt.STT):
    """A non-streaming STT that never recognizes (only its events matter here)."""

    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))

    async def _recognize_impl(self, buffer, *, language, conn_options):  # noqa: ANN001
        raise NotImplementedError


async def test_errors_and_metrics_of_the_wrapped_stt_are_forwarded_until_closed() -> None:
    inner = OneShotSTT()
    adapter = SegmentedSTT(stt=inner, vad=load_vad(0.15, 0.15))
    assert adapter.capabilities.streaming and adapter.wrapped_stt is inner
    seen: list[object] = []
    adapter.on("error", seen.append)
    error = stt.STTError(timestamp=0.0, label=inner.label,
                         error=APIConnectionError("injected"), recoverable=True)
    inner.emit("error", error)
    assert seen == [error]
    await adapter.aclose()
    inner.emit("error", error)
    assert seen == [error]  # closed: no longer listening to the shared STT
