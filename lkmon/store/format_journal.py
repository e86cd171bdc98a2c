"""The journal's header line, defined once (a pydantic model in the snapshot format's style).

``lkmon.store.journal`` writes and reads it; docs/snapshot-format.md, "The journal", describes
it. No textual or livekit import here.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, field_validator

from lkmon.store.events import Finite
from lkmon.store.format_base import Part, SessionId

__all__ = ["JOURNAL_VERSION", "JournalHeader"]


JOURNAL_VERSION = 2
"""The journal format version (``"lkmon_journal"`` in its header line). 1 (lkmon 0.1, no
header): lkmon's own event names (``chat_message``, ``metrics``...); 2: a header line first,
LiveKit's event names (see ``lkmon.store.events``)."""


class JournalHeader(Part):
    """The first line of a journal (format 2 on); every later line is one event."""

    lkmon_journal: Annotated[int, Field(ge=1)]
    """The journal format version."""
    session_id: SessionId
    """The session's unique id, the same as its snapshot's ``session.session_id``."""
    lkmon_version: str = ""
    created_at: Finite | None = None
    """When the journal was opened, epoch seconds."""
    tags: dict[str, str] = Field(default_factory=dict)
    """Free ``KEY: VALUE`` labels (``record(session, tags=...)``, ``lkmon run --tag``): what
    ``lkmon import`` stores in ``sessions.tags``."""

    @field_validator("tags", mode="before")
    @classmethod
    def _scalar_tags(cls, value: object) -> dict[str, str]:
        """A damaged ``tags`` never costs the journal: numbers and booleans are their text,
        any other value (and a ``tags`` that is not an object) is dropped."""
        if not isinstance(value, dict):
            return {}
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()
                if isinstance(v, str | int | float | bool)}
