"""LiveKit's interruption events as lkmon events (re-exported by ``lkmon.model.events``).

livekit-agents 1.8.9 (``voice/agent_activity.py``) emits two session events about speech over
the agent's reply:

* ``agent_false_interruption`` (``AgentFalseInterruptionEvent``): the user's speech paused the
  reply (``resume_false_interruption``, an audio output that can pause), no user turn followed
  within ``false_interruption_timeout`` (2.0 s by default), so LiveKit called the interruption
  false and (``resumed``) played the rest of the reply;
* ``overlapping_speech`` (``inference.OverlappingSpeechEvent``): a verdict of LiveKit's
  adaptive interruption detector (``inference.AdaptiveInterruptionDetector``, LiveKit's hosted
  inference) on user speech over the agent: a real interruption or a backchannel. It is never
  emitted without that detector (off by default outside LiveKit Cloud and dev mode, and it
  needs LiveKit credentials), so offline sessions count 0.

Both are also sent over LiveKit's session protocol (``voice/remote_session.py``). No textual or
livekit import here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = ["FalseInterruption", "OverlappingSpeech"]


@dataclass(slots=True)
class FalseInterruption:
    """From LiveKit ``agent_false_interruption``.

    Attributes:
        ts: epoch seconds (``AgentFalseInterruptionEvent.created_at``).
        resumed: ``AgentFalseInterruptionEvent.resumed``: the paused reply played on.
        speech_id: the reply that was paused (the session's current speech when the event
            came), or ``None`` when unknown (then the reply playing at ``ts`` is taken).
    """

    type: ClassVar[str] = "agent_false_interruption"
    ts: float
    resumed: bool = False
    speech_id: str | None = None


@dataclass(slots=True)
class OverlappingSpeech:
    """From LiveKit ``overlapping_speech`` (``OverlappingSpeechEvent``).

    Attributes:
        ts: epoch seconds (``created_at``).
        is_interruption: the detector's verdict: a real interruption (False: a backchannel,
            or inconclusive when the agent stopped first).
        detection_delay: seconds from the overlap's onset to the verdict, or ``None``.
        overlap_started_at: epoch seconds the overlapping speech began, or ``None``.
        speech_id: the reply the user spoke over, if known.
    """

    type: ClassVar[str] = "overlapping_speech"
    ts: float
    is_interruption: bool = False
    detection_delay: float | None = None
    overlap_started_at: float | None = None
    speech_id: str | None = None
