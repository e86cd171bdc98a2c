"""Exports from the app: snapshot JSON, SVG screenshot and HTML report, never overwriting.

Every file gets a new time-stamped name, reserved with ``O_EXCL`` (mode 0600) before it is
written (``lkmon.paths.reserve``), so an earlier export is never replaced. Each writer that
fails (read-only or full directory) is reported and the others still run. The functions here
block: the app calls them in a thread. No textual or livekit import here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lkmon import paths
from lkmon.model.state import SessionModel

log = logging.getLogger("lkmon.report.bundle")


def write_snapshot_file(model: SessionModel, path: Path, *, redact_text: bool) -> None:
    """The snapshot JSON (``lkmon.store.snapshot.write_snapshot``: atomic, 0600, redacted)."""
    from lkmon.store.snapshot import write_snapshot

    write_snapshot(model, path, redact_text=redact_text)


def write_html_file(model: SessionModel, path: Path, *, redact_text: bool, prices: Any,
                    thresholds: tuple[float, float]) -> None:
    """The self-contained HTML report (``lkmon.report.html.write_html_report``)."""
    from lkmon.report.html import write_html_report

    write_html_report(model, path, redact_text=redact_text, prices=prices,
                      thresholds=thresholds)


def export_session(
    model: SessionModel,
    directory: Path,
    stem: str,
    *,
    svg: str,
    redact_text: bool = False,
    prices: Any = None,
    thresholds: tuple[float, float] = (1.0, 2.0),
) -> tuple[list[Path], list[str]]:
    """Write ``stem.json``, ``stem.svg`` and ``stem.html`` (or ``stem-N.*``) into ``directory``.

    Args:
        model: the session (must not change while this runs).
        directory: where the files go.
        stem: file name without suffix, e.g. ``lkmon-20260101-000000``.
        svg: the screenshot, already redacted.
        redact_text: transcript text replaced by placeholders in the snapshot and report.
        prices, thresholds: for the HTML report's costs and e2e colours.

    Returns:
        (files written, one line per failed file).
    """
    jobs: list[tuple[str, str, Callable[[Path], object]]] = [
        ("snapshot", ".json",
         lambda p: write_snapshot_file(model, p, redact_text=redact_text)),
        ("screenshot", ".svg", lambda p: p.write_text(svg, encoding="utf-8")),
        ("report", ".html",
         lambda p: write_html_file(model, p, redact_text=redact_text, prices=prices,
                                   thresholds=thresholds)),
    ]
    written: list[Path] = []
    failures: list[str] = []
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
