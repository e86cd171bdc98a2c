"""Views rendered from a session's ``Snapshot``: the HTML report (``html``), the headless text
tables (``text``) and the export bundle (``bundle``). Each takes the snapshot
(``lkmon.store.convert.to_snapshot``), or a ``SessionModel`` that ``as_snapshot`` converts."""

from __future__ import annotations

from lkmon.model.state import SessionModel
from lkmon.store.convert import to_snapshot
from lkmon.store.format import Snapshot


def as_snapshot(session: Snapshot | SessionModel, *, redact_text: bool = False) -> Snapshot:
    """``session`` itself if it is a ``Snapshot``, else ``to_snapshot(session, redact_text=...)``
    (a snapshot stays as it was made, redacted or not)."""
    if isinstance(session, Snapshot):
        return session
    return to_snapshot(session, redact_text=redact_text)
