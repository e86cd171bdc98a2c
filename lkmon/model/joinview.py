"""What the turn joiner tells about the joins it made, as ``SessionModel`` properties.

``SessionModel`` (``lkmon.model.state``) inherits these read-only views of its
``TurnJoiner`` (``lkmon.model.join``): the joins made without a LiveKit ``speech_id``, the
preemptive replies LiveKit discarded, and the plugin metrics that joined no turn.

No textual or livekit import here.
"""

from __future__ import annotations

from lkmon.model.join import TurnJoiner
from lkmon.model.measurements import PluginMetrics
from lkmon.model.turns import Turn


class JoinQueries:
    """Read-only views of the session's ``TurnJoiner`` (set by the subclass as ``_joiner``)."""

    _joiner: TurnJoiner

    def turn_by_speech_id(self, speech_id: str | None) -> Turn | None:
        """The turn with ``speech_id`` (LiveKit ``SpeechHandle.id``), or ``None``."""
        return self._joiner.turn_by_speech_id(speech_id)

    @property
    def join_notes(self) -> list[str]:
        """One line per join made without a ``speech_id`` or left unjoined (newest last)."""
        return list(self._joiner.notes)

    @property
    def discarded_count(self) -> int:
        """Preemptive replies that LiveKit started and threw away (folded into their turns)."""
        return self._joiner.preemptive.count

    @property
    def pending_discarded(self) -> list[Turn]:
        """Discarded preemptive replies whose user turn never came (e.g. the session ended)."""
        return list(self._joiner.preemptive.waiting)

    @property
    def fallback_joins(self) -> int:
        """Number of joins made by a fallback because a ``speech_id`` was missing."""
        return self._joiner.fallback_joins

    @property
    def unjoined_metrics(self) -> list[PluginMetrics]:
        """Plugin metrics (STT/EOU/LLM/TTS) that joined no turn."""
        return list(self._joiner.unjoined)
