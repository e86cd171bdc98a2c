"""lkmon: a terminal monitor for LiveKit voice agents.

``from lkmon import record`` gives ``lkmon.recorder.record`` (imported on first use, so that
``import lkmon`` stays light: no livekit, no textual).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "record"]

if TYPE_CHECKING:
    from lkmon.recorder import record


def __getattr__(name: str) -> Any:
    if name == "record":
        from lkmon.recorder import record

        return record
    raise AttributeError(f"module 'lkmon' has no attribute {name!r}")
