"""``Area``: the parts of the session model that a pane shows.

``SessionModel.apply(event)`` (``lkmon.model.state``) returns the set of areas an event changed,
so a view refreshes only the panes showing them. No textual or livekit import here.
"""

from __future__ import annotations

import enum

__all__ = ["Area"]


class Area(enum.Enum):
    """A part of the model that a pane shows; ``apply`` reports which ones changed."""

    TRANSCRIPT = "transcript"
    TURNS = "turns"
    VAD = "vad"
    USAGE = "usage"
    STATUS = "status"
    LOG = "log"
    ERRORS = "errors"
    SESSION = "session"
