"""Where sessions come from: one ``SessionSource`` interface (``base``) and its sources.

* ``InProcessSource``: the user's agent file run in this process;
* ``ReplaySource``: a snapshot or journal;
* ``FollowSource``: a journal another process is writing (``lkmon watch``);
* ``ProtocolSource``: the agent in its own process over LiveKit's session protocol
  (``lkmon run --process``: typed turns, recordings or the microphone).

No textual or livekit import here (the in-process runner is imported when a source opens).
"""

from lkmon.sources.base import Capabilities, Emit, SessionSource, SourceError, Unsupported
from lkmon.sources.follow import FollowSource
from lkmon.sources.inprocess import InProcessSource
from lkmon.sources.protocol import ProtocolSource
from lkmon.sources.replay import ReplaySource

__all__ = [
    "Capabilities",
    "Emit",
    "FollowSource",
    "InProcessSource",
    "ProtocolSource",
    "ReplaySource",
    "SessionSource",
    "SourceError",
    "Unsupported",
]
