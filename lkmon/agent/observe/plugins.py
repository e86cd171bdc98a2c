"""What lkmon hears from the session's plugins: their metrics and the VAD's own events.

* ``PluginMetricsWatch``: subscribes to the public ``metrics_collected`` of every STT, LLM, TTS
  and VAD instance the session and its agents use (``session.stt`` ... ``agent.vad``; agents
  met later, after a handoff, are added with ``watch_agent``). LiveKit's activity fills the
  ``speech_id`` of LLM and TTS metrics in place, so they are read one loop tick after the emit
  (``compat.deferred_plugin_metrics``). The session's deprecated ``metrics_collected``
  (``compat.on_session_metrics``) is still heard for ``EOUMetrics``, which exist nowhere else,
  and for any metric of a plugin lkmon did not find (each metric object is taken once, from
  whichever path brings it first).
* ``VadTap``: VAD events (probability, inference time) are only visible on the VAD's stream;
  the voice pipeline's stream is wrapped (``compat.tap_vad_streams``) and its events decimated
  to about 10 per second (the highest probability in each window; start and end of speech
  always pass).

No textual import here.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from typing import Any

from livekit.agents import llm, stt, tts, vad

from lkmon.agent.observe import compat
from lkmon.model.events import Event, VadActivity
from lkmon.model.figures import num

logger = logging.getLogger("lkmon.bridge")

VAD_INTERVAL = 0.1
"""Seconds per VAD decimation window (about 10 VadActivity events per second)."""
PLUGIN_TYPES = (stt.STT, llm.LLM, tts.TTS, vad.VAD)
"""The plugin classes whose instances emit ``metrics_collected``."""
_RECENT = 512
"""Metric objects remembered to take each once (a few seconds of metrics)."""


def _finite(value: Any) -> float:
    """A VAD figure as a finite float; 0.0 for a NaN or an infinity (written as null, which an
    event's float field cannot hold), so the journal and the snapshot read back."""
    return num(value) or 0.0


def plugins_of(*owners: Any) -> list[Any]:
    """The STT, LLM, TTS and VAD instances of sessions and agents (their public ``stt``, ``llm``,
    ``tts``, ``vad``); ``NOT_GIVEN``, ``None``, realtime models and strings are skipped."""
    found: list[Any] = []
    for owner in owners:
        if owner is None:
            continue
        for role in ("stt", "llm", "tts", "vad"):
            try:
                plugin = getattr(owner, role, None)
            except Exception as e:  # an agent property that needs a running activity
                logger.debug("no %s on %s: %s", role, type(owner).__name__, e)
                continue
            if isinstance(plugin, PLUGIN_TYPES) and all(p is not plugin for p in found):
                found.append(plugin)
    return found


class PluginMetricsWatch:
    """Hands every plugin metric (and each ``EOUMetrics``) to ``on_metrics`` once.

    Args:
        on_metrics: receives the LiveKit metrics object (``STTMetrics``, ``LLMMetrics``...) on
            the loop thread; ``speech_id`` is filled in when LiveKit knows it.
        guard: wraps a handler so that no exception escapes into LiveKit.
        public_only: only the plugins' public ``metrics_collected``, each metric handed on as
            it is emitted (``lkmon.recorder``): no ``compat`` access, so no ``EOUMetrics`` and
            a ``speech_id`` only where LiveKit filled it in before lkmon's handler ran.
    """

    def __init__(
        self,
        on_metrics: Callable[[Any], None],
        guard: Callable[[str, Callable[..., None]], Callable[..., None]],
        *,
        public_only: bool = False,
    ) -> None:
        self._on_metrics = on_metrics
        self.public_only = public_only
        self._deliver = guard("metrics_collected", self._deliver_once)
        self._from_plugin = guard("metrics_collected", self._plugin_metric)
        self._from_session = guard("metrics_collected", self._session_metric)
        self._deferred = (
            self._deliver if public_only else compat.deferred_plugin_metrics(self._deliver)
        )
        self._watched: list[Any] = []
        self._seen: collections.OrderedDict[int, Any] = collections.OrderedDict()
        self._unsubscribe_session: Callable[[], None] | None = None
        self.via_session = 0
        """Plugin metrics that came only through the session (a plugin lkmon did not find)."""

    @property
    def watched(self) -> list[Any]:
        """The plugin instances subscribed to, in order."""
        return list(self._watched)

    def attach(self, session: Any, agent: Any = None) -> None:
        """Subscribe to the session (for ``EOUMetrics``) and to the plugins of the session and
        of ``agent``. Call before ``AgentSession.start``."""
        if self._unsubscribe_session is None and not self.public_only:
            self._unsubscribe_session = compat.on_session_metrics(session, self._from_session)
        self.watch(*plugins_of(session, agent))

    def watch_agent(self, agent: Any) -> None:
        """Subscribe to the plugins of an agent met later (after a handoff)."""
        self.watch(*plugins_of(agent))

    def watch(self, *plugins: Any) -> None:
        """Subscribe to each plugin's ``metrics_collected`` (once per instance)."""
        for plugin in plugins:
            if any(p is plugin for p in self._watched):
                continue
            plugin.on("metrics_collected", self._from_plugin)
            self._watched.append(plugin)

    def detach(self) -> None:
        """Unsubscribe from every plugin and the session."""
        for plugin in self._watched:
            plugin.off("metrics_collected", self._from_plugin)
        self._watched.clear()
        if self._unsubscribe_session is not None:
            self._unsubscribe_session()
            self._unsubscribe_session = None

    def _claim(self, metrics: Any) -> bool:
        """True the first time ``metrics`` (this object) is seen."""
        key = id(metrics)
        if self._seen.get(key) is metrics:
            return False
        self._seen[key] = metrics  # holding it keeps its id from being reused meanwhile
        if len(self._seen) > _RECENT:
            self._seen.popitem(last=False)
        return True

    def _plugin_metric(self, metrics: Any) -> None:
        if self._claim(metrics):
            self._deferred(metrics)

    def _session_metric(self, ev: Any) -> None:
        metrics = ev.metrics
        if getattr(metrics, "type", "") == "eou_metrics":
            self._on_metrics(metrics)
        elif self._claim(metrics):  # a plugin lkmon did not subscribe to (yet)
            self.via_session += 1
            if self.via_session == 1:
                logger.debug("metrics of %s reach lkmon only through the session",
                             getattr(metrics, "label", "?"))
            self._on_metrics(metrics)

    def _deliver_once(self, metrics: Any) -> None:
        self._on_metrics(metrics)


class _TappedVADStream:
    """A ``VADStream`` proxy that shows each event to lkmon before the session sees it."""

    def __init__(self, inner: vad.VADStream, on_event: Callable[[vad.VADEvent], None]) -> None:
        self._inner = inner
        self._on_event = on_event

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __aiter__(self) -> _TappedVADStream:
        return self

    async def __anext__(self) -> vad.VADEvent:
        ev = await self._inner.__anext__()
        self._on_event(ev)
        return ev


class VadTap:
    """Turns the voice pipeline's VAD events into ``VadActivity`` events (decimated).

    Args:
        emit: receives each ``VadActivity``.
        guard: wraps the event handler so that no exception escapes into LiveKit.
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        guard: Callable[[str, Callable[..., None]], Callable[..., None]],
    ) -> None:
        self.emit = emit
        self._on_event = guard("vad", self._on_vad_event)
        self._tapped: list[Any] = []
        self._next_flush = 0.0
        self._max = 0.0
        self._last: Any = None

    def tap(self, v: Any) -> None:
        """Wrap the streams ``v`` opens for the voice pipeline (once per VAD instance)."""
        if not isinstance(v, vad.VAD) or any(t is v for t in self._tapped):
            return
        compat.tap_vad_streams(v, lambda inner: _TappedVADStream(inner, self._on_event))
        self._tapped.append(v)

    def untap(self) -> None:
        """Give every tapped VAD back its own ``stream``."""
        for v in self._tapped:
            compat.untap_vad_streams(v)
        self._tapped.clear()

    def _on_vad_event(self, ev: vad.VADEvent) -> None:
        now = time.time()
        if ev.type == vad.VADEventType.INFERENCE_DONE:
            if self._last is None:
                self._max = ev.probability
            else:
                self._max = max(self._max, ev.probability)
            self._last = ev
            if now >= self._next_flush:
                self._flush(now)
            return
        self._flush(now)
        started = ev.type == vad.VADEventType.START_OF_SPEECH
        self.emit(
            VadActivity(
                ts=now,
                event=ev.type.value,
                probability=_finite(ev.probability),
                speaking=started,
                speech_duration=_finite(ev.speech_duration),
                silence_duration=_finite(ev.silence_duration),
                inference_duration=_finite(ev.inference_duration),
            )
        )

    def _flush(self, now: float) -> None:
        last = self._last
        if last is None:
            return
        self._last = None
        self._next_flush = now + VAD_INTERVAL
        self.emit(
            VadActivity(
                ts=now,
                event="inference",
                probability=_finite(self._max),
                speaking=bool(last.speaking),
                speech_duration=_finite(last.speech_duration),
                silence_duration=_finite(last.silence_duration),
                inference_duration=_finite(last.inference_duration),
            )
        )
