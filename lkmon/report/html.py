"""A self-contained HTML report of a session: turn table with latency bars, percentiles,
transcript, usage and cost, VAD and errors. Inline CSS only: no script, no font, no image, no
network.

Rendered from the session's ``Snapshot`` (``lkmon.store.convert.to_snapshot``: the same object
the JSON file, the headless tables and the store come from) with the Jinja2 template
``templates/report.html`` (autoescaped). The snapshot's free text (transcript, tool arguments
and outputs, error messages) passes through ``lkmon.redact.default_redactor()`` first
(``lkmon.store.snapshot.redacted_snapshot``), as the JSON file's does; a snapshot made with
``redact_text=True`` already holds ``█`` placeholders. Stage names, colours
and number formats are ``lkmon.model.vocab``'s, as on screen. No textual or livekit import here.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from lkmon.model import vocab
from lkmon.model.eou import PART_LABELS, bar_shares
from lkmon.model.heard import HeardDifference, measured
from lkmon.model.state import SessionModel
from lkmon.model.usage import shown_provider
from lkmon.redact import Redactor, default_redactor
from lkmon.report import as_snapshot
from lkmon.report.text import eou_part_stats
from lkmon.store.files import text_utf8, write_private_atomic
from lkmon.store.format import Snapshot, SnapshotTurn, UsageEntry
from lkmon.store.snapshot import redacted_snapshot

_MISSING = Markup('<span class="na">-</span>')


@dataclass(frozen=True, slots=True)
class Segment:
    """One stage of a turn's bar: its share of the full width (percent) and its seconds."""

    stage: vocab.Stage
    width: float
    seconds: float


@dataclass(frozen=True, slots=True)
class Row:
    """What the template draws for one turn beside the turn's own fields."""

    turn: SnapshotTurn
    tags: list[tuple[str, str]]
    bar: list[Segment]
    rating: str | None
    heard: str | None = None
    """Where the heard gap and e2e differ, for a turn they differ by over 0.1 s."""


def _tags(t: SnapshotTurn) -> list[tuple[str, str]]:
    """(text, CSS class) of the marks before the agent's text."""
    tags: list[tuple[str, str]] = []
    if t.typed:
        tags.append(("typed", ""))
    if t.greeting:
        tags.append(("greeting", ""))
    elif t.agent_initiated:
        tags.append(("agent-initiated", ""))
    if t.kind == "transcript":
        tags.append(("transcript only", ""))
    if t.tool_calls:
        tags.append(("tool: " + ", ".join(c.name for c in t.tool_calls), ""))
    if t.interruption:  # a false interruption may have played on: "paused"
        word = "interrupted" if t.interrupted else "paused"
        tags.append((f"{word}: {vocab.INTERRUPTION_LABELS[t.interruption]}", "int"))
    elif t.interrupted:
        tags.append(("interrupted", "int"))
    if t.empty_reply:
        tags.append(("no text", "int"))
    if t.failed:
        tags.append(("failed", "failed"))
    return tags


def _split(stage: vocab.Stage, seconds: float, t: SnapshotTurn, scale: float) -> list[Segment]:
    """The bar segment(s) of one stage: the EOU delay in its parts (VAD silence, transcript,
    turn decision; ``SnapshotTurn.eou_parts``) on the bar's scale, in the part colours
    (``vocab.EOU_PART_COLOURS``), one EOU block when the turn has no parts."""
    width = min(seconds / scale * 100.0, 100.0)
    segs = t.eou_parts.segments() if stage is vocab.EOU and t.eou_parts is not None else {}
    shares = bar_shares(segs)
    if not shares:
        return [Segment(stage, width, seconds)]
    return [Segment(replace(stage, label=f"EOU: {PART_LABELS[p]}",
                            colour=vocab.EOU_PART_COLOURS[p]), width * share, segs[p] or 0.0)
            for p, share in shares.items()]


def _rows(turns: list[SnapshotTurn], thresholds: tuple[float, float]) -> tuple[list[Row], float]:
    """A ``Row`` per turn and the bar scale (seconds at full width: the longest bar that is not
    absurd, ``vocab.is_absurd``; an absurd one is not drawn but tagged ``> 1 h``)."""
    bars = [vocab.bar_segments(t.metrics) for t in turns]
    lengths = [sum(v for _, v in parts) for parts in bars]
    scale = max((n for n in lengths if not vocab.is_absurd(n)), default=0.0)
    rows = []
    for t, parts, length in zip(turns, bars, lengths, strict=True):
        tags = _tags(t)
        if vocab.is_absurd(length):
            parts = []
            tags.append((vocab.ABSURD_LABEL, "failed"))
        segments = [seg for stage, v in parts
                    for seg in _split(stage, v, t, scale)] if scale > 0 else []
        diff = HeardDifference.of(t.heard, t.metrics)
        flagged = diff is not None and diff.flagged
        where = f"{diff.describe()} ({diff.detail()})" if diff is not None and flagged else None
        rows.append(Row(t, tags, segments, vocab.rate_e2e(t.metrics.e2e_latency, thresholds),
                        where))
    return rows, scale


def _usage_row(u: UsageEntry) -> tuple[UsageEntry, str, str]:
    """The row, the provider it is shown under and the host it went through (or "")."""
    shown = shown_provider(u.provider, u.billed_provider, u.local, u.via)
    return u, shown, u.via if u.via != shown else ""


def _finalize(value: Any) -> Any:
    """Every value the template prints: ``None`` as nothing (secrets are already out of the
    snapshot's free text: ``redacted_snapshot``)."""
    return "" if value is None else value


@pass_context
def _offset(context: Context, ts: float | None) -> str:
    return vocab.fmt_offset(ts, context["session"].started_at)


@functools.cache
def environment() -> Environment:
    """The report's Jinja2 environment (one per process: the template is compiled once)."""
    env = Environment(
        loader=PackageLoader("lkmon.report", "templates"),
        autoescape=True,
        finalize=_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        fmt_s=vocab.fmt_s,
        fmt_count=vocab.fmt_count,
        fmt_cost=vocab.fmt_cost,
        fmt_num=lambda v, digits=3: vocab.MISSING if v is None else f"{v:.{digits}f}",
        label=vocab.label,
        offset=_offset,
        text=lambda v: _MISSING if v is None else v,
    )
    return env


def build_html_report(
    session: Snapshot | SessionModel,
    *,
    redact_text: bool = False,
    thresholds: tuple[float, float] = (1.0, 2.0),
    redactor: Redactor | None = None,
) -> str:
    """The report as one HTML document (a string).

    Args:
        session: the session's snapshot (a ``SessionModel`` is converted with ``to_snapshot``).
        redact_text: for a ``SessionModel``: replace user/agent text, transcript and tool
            arguments with placeholders (a ``Snapshot`` already is as it was made).
        thresholds: ``(good, bad)`` e2e latency in seconds: below good is green, from bad red.
        redactor: hides secrets in the free text (transcript, tool arguments and outputs,
            error messages; ``lkmon.store.snapshot.redacted_snapshot``);
            ``lkmon.redact.default_redactor()`` by default.
    """
    snap = redacted_snapshot(as_snapshot(session, redact_text=redact_text),
                             redactor or default_redactor())
    info = snap.session
    start = info.started_at
    rows, scale = _rows(snap.turns, thresholds)
    stages = snap.summary.stages
    part_stats = eou_part_stats(snap)
    columns = (*vocab.SUMMARY_STAGES, vocab.HEARD) if measured(snap.turns) else (
        vocab.SUMMARY_STAGES)
    return environment().get_template("report.html").render(
        session=info,
        started="?" if start is None else time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                        time.gmtime(start)),
        models=", ".join(f"{k}: {v}" for k, v in info.models.items()) or "?",
        redacted=snap.redacted_text,
        turns=snap.turns,
        summary=snap.summary,
        percentiles=[(s, stages[s.key]) for s in columns if s.key in stages],
        eou_parts=[(PART_LABELS[p], vocab.EOU_PART_COLOURS[p], st)
                   for p, st in part_stats.items() if st.count],
        legend=[*vocab.BAR_STAGES, vocab.OTHER],
        bar_title=" / ".join(s.label for s in vocab.BAR_STAGES),
        columns=columns,
        flagged=[r for r in rows if r.heard],
        HEARD=vocab.HEARD,
        interruptions=[(vocab.INTERRUPTION_LABELS[k], snap.summary.interruptions.get(k, 0))
                       for k in ("cut_in_early", "barge_in", "false_interruption")],
        interrupted=sum(1 for t in snap.turns if t.interrupted),
        E2E=vocab.E2E,
        ratings=vocab.RATING_COLOURS,
        rows=rows,
        scale=scale,
        thresholds=thresholds,
        usage=[_usage_row(u) for u in snap.usage],
        cost=snap.cost,
        vad=snap.vad,
        errors=snap.errors,
        transcript=snap.transcript,
    ) + "\n"


def write_html_report(
    session: Snapshot | SessionModel,
    path: str | Path,
    *,
    redact_text: bool = False,
    thresholds: tuple[float, float] = (1.0, 2.0),
) -> Path:
    """Write the HTML report of ``session`` to ``path`` (atomically, mode 0600).

    Args:
        session: the snapshot (or a ``SessionModel``, converted with ``to_snapshot``).
        path: destination ``.html`` file (its directory must exist).
        redact_text: for a ``SessionModel``: text as same-length placeholders.
        thresholds: ``(good, bad)`` e2e latency colouring, seconds.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OSError: the directory is missing, read-only or full.
    """
    page = build_html_report(session, redact_text=redact_text, thresholds=thresholds)
    return write_private_atomic(Path(path), text_utf8(page), fsync=False)
