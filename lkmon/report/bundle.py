"""Exports from the app: snapshot JSON, SVG screenshot and HTML report, never overwriting.

Every file gets a new time-stamped name, reserved with ``O_EXCL`` (mode 0600) before it is
written (``lkmon.paths.reserve``), so an earlier export is never replaced. Each writer that
fails (read-only or full directory) is reported and the others still run. The functions here
block: the app calls them in a thread. The session is converted to its ``Snapshot`` once; the
JSON and the HTML report render from it. No textual or livekit import here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from lkmon import paths
from lkmon.model.state import SessionModel
from lkmon.report import as_snapshot
from lkmon.report.html import write_html_report
from lkmon.store.convert import to_snapshot
from lkmon.store.files import no_gc, text_utf8, write_private_atomic
from lkmon.store.format import Snapshot

log = logging.getLogger("lkmon.report.bundle")


def write_snapshot_file(session: Snapshot | SessionModel, path: Path, *,
                        redact_text: bool = False, overwrite: bool = True) -> Path:
    """The snapshot JSON: atomic, mode 0600, secrets redacted (``dump_snapshot``); a
    ``SessionModel`` is converted first (``to_snapshot``, with ``redact_text``).

    Returns the file written: ``path``, or with ``overwrite=False`` (a name lkmon did not
    reserve) the free ``path-N`` used when a file appeared at ``path`` meanwhile
    (``write_private_atomic``). Raises ``OSError`` (no temporary file is left)."""
    from lkmon.store.snapshot import dump_snapshot

    with no_gc():
        payload = dump_snapshot(as_snapshot(session, redact_text=redact_text))
    return write_private_atomic(path, payload, overwrite=overwrite)


def write_html_file(snapshot: Snapshot, path: Path, *, thresholds: tuple[float, float]) -> None:
    """The self-contained HTML report (``lkmon.report.html.write_html_report``)."""
    write_html_report(snapshot, path, thresholds=thresholds)


def export_session(
    model: SessionModel,
    directory: Path,
    stem: str,
    *,
    svg: str,
    redact_text: bool = False,
    thresholds: tuple[float, float] = (1.0, 2.0),
) -> tuple[list[Path], list[str]]:
    """Write ``stem.json``, ``stem.svg`` and ``stem.html`` (or ``stem-N.*``) into ``directory``.

    The model is converted once (``to_snapshot``); the JSON and the HTML report both render
    from that snapshot.

    Args:
        model: the session (must not change while this runs).
        directory: where the files go.
        stem: file name without suffix, e.g. ``lkmon-20260101-000000``.
        svg: the screenshot, already redacted.
        redact_text: transcript text replaced by placeholders in the snapshot and report.
        thresholds: for the HTML report's e2e colours, seconds.

    Returns:
        (files written, one line per failed file).
    """
    snapshot: Snapshot | None = None
    failures: list[str] = []
    try:
        with no_gc():
            snapshot = to_snapshot(model, redact_text=redact_text)
    except Exception as e:  # reported; the screenshot is still written
        log.warning("export: the session could not be converted: %s", e)
        failures += [f"snapshot: {e}", f"report: {e}"]

    jobs: list[tuple[str, str, Callable[[Path], object]]] = [
        ("screenshot", ".svg", lambda p: p.write_bytes(text_utf8(svg))),
    ]
    if snapshot is not None:
        snap = snapshot
        jobs[:0] = [("snapshot", ".json", lambda p: write_snapshot_file(snap, p))]
        jobs.append(("report", ".html",
                     lambda p: write_html_file(snap, p, thresholds=thresholds)))
    written: list[Path] = []
    for what, suffix, write in jobs:
        path: Path | None = None
        try:
            path = paths.reserve(directory, stem, suffix)
            write(path)
        except Exception as e:  # one failed file must not stop the others
            log.warning("export of the %s failed: %s", what, e)
            failures.append(f"{what}: {e}")
            paths.release(path)
            continue
        written.append(path)
    return written, failures
