"""Plain-text views of a session for headless runs: a line per turn as it completes (from the
model's ``Turn``), and the end-of-session table and cost line (from the session's ``Snapshot``,
like the JSON file and the HTML report).

Stage names and number formats are ``lkmon.model.vocab``'s, the same as the TUI's and the HTML
report's: seconds as ``0.412 s``, ``-`` for an unknown figure, costs as ``0.0031`` with the
currency after the total and ``?`` for an unknown price. No textual or livekit import here.
"""

from __future__ import annotations

from lkmon.model.eou import PART_LABELS, PARTS
from lkmon.model.heard import FLAG_DIFFERENCE, HeardDifference, differing, measured
from lkmon.model.state import SessionModel
from lkmon.model.stats import StageStats
from lkmon.model.stats import eou_part_stats as part_stats
from lkmon.model.turns import Turn
from lkmon.model.usage import shown_provider
from lkmon.model.vocab import (
    E2E,
    EOU,
    HEARD,
    INTERRUPTION_SHORT,
    LLM_TTFT,
    SUMMARY_STAGES,
    TRANSCRIPTION,
    TTS_TTFB,
    fmt_cost,
    fmt_s,
)
from lkmon.report import as_snapshot
from lkmon.store.format import Snapshot, SnapshotTurn, UsageEntry

USER_WIDTH = 60
"""Characters of user text on a turn line (longer text ends in an ellipsis)."""


def short(text: str | None, width: int, turn: Turn | None = None) -> str:
    """``text`` on one line, at most ``width`` characters; for a turn with no user text, what
    started it: ``(greeting)``, ``(agent-initiated)``, or ``(no user turn)`` without a turn."""
    if text is None:
        if turn is not None and turn.greeting:
            return "(greeting)"
        return "(agent-initiated)" if turn is not None else "(no user turn)"
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def turn_flags(turn: Turn) -> str:
    """The turn's marks for a headless line, e.g. `` interrupted:barge FAILED no-text``
    (``interrupted:early`` cut in early, ``paused:false`` a false interruption LiveKit
    resumed; ``interrupted`` alone with no class)."""
    kind = turn.interruption
    if kind:
        word = "interrupted" if turn.interrupted else "paused"
        flags = f" {word}:{INTERRUPTION_SHORT[kind]}"
    else:
        flags = " interrupted" if turn.interrupted else ""
    flags += " FAILED" if turn.failed else ""
    flags += " no-text" if turn.empty_reply else ""
    flags += " preemptive" if turn.preemptive else ""
    if turn.discarded:
        flags += f" discarded:{len(turn.discarded)}"
    if turn.handoffs:
        flags += " handoff:" + ",".join(h.new_agent for h in turn.handoffs)
    return flags


def tool_list(turn: Turn) -> str:
    """The turn's tool calls in order, ``(error)`` after a failed one: ``get_weather, get_time
    (error)``; empty when it made none."""
    return ", ".join(
        call.name + (" (error)" if call.is_error else "") for call in turn.tool_calls
    )


def heard_note(turn: Turn) -> str:
    """`` heard gap 0.912 s`` for a turn whose audio lkmon measured, with ``(heard +0.212 s vs
    e2e: mostly buffering in the sink +0.200 s)`` when the two differ by over 0.1 s; empty for
    a turn lkmon did not measure."""
    if turn.heard is None:
        return ""
    diff = HeardDifference.of(turn.heard, turn.metrics)
    flag = f" ({diff.describe()})" if diff is not None and diff.flagged else ""
    return f"  {HEARD.label} {fmt_s(turn.metrics.heard_gap)}{flag}"


def turn_line(turn: Turn) -> str:
    """One line for a completed turn: index, speech_id, user text, e2e latency (and the heard
    gap, where lkmon measured the audio), EOU delay, LLM TTFT and TTS TTFB, its marks, then its
    tool calls (``tools: a, b (error)``)."""
    m = turn.metrics
    if turn.kind == "transcript":
        return (
            f"turn {turn.index:>3}  transcript  user: {short(turn.user_text, USER_WIDTH)}"
            f"  {TRANSCRIPTION.label} {fmt_s(m.transcription_delay)}"
        )
    tools = tool_list(turn)
    return (
        f"turn {turn.index:>3}  {turn.speech_id or '-'}  user: "
        f"{short(turn.user_text, USER_WIDTH, turn)}"
        f"  {E2E.label} {fmt_s(m.e2e_latency)}{heard_note(turn)}  {EOU.label} {fmt_s(m.eou_delay)}"
        f"  {LLM_TTFT.label} {fmt_s(m.llm_ttft)}  {TTS_TTFB.label} {fmt_s(m.tts_ttfb)}"
        f"{turn_flags(turn)}"
        + (f"  tools: {tools}" if tools else "")
    )


_COL = 11  # fits every summary label ("e2e latency") and "12.345 s"


def _user(t: SnapshotTurn, width: int) -> str:
    if t.user_text is None:
        return "(greeting)" if t.greeting else "(agent-initiated)"
    return short(t.user_text, width)


def turn_table(session: Snapshot | SessionModel) -> str:
    """The per-turn table (EOU delay, LLM TTFT, TTS TTFB, e2e latency, and the heard gap when
    lkmon measured the audio) with p50 and p95 rows, from the session's snapshot (a
    ``SessionModel`` is converted with ``to_snapshot``); then the turns whose heard gap and e2e
    differ by over 0.1 s, and the EOU parts."""
    snap = as_snapshot(session)
    columns = (*SUMMARY_STAGES, HEARD) if measured(snap.turns) else SUMMARY_STAGES
    head = (f"{'turn':>4}  {'speech_id':<20}  "
            + "  ".join(f"{s.label:>{_COL}}" for s in columns) + "  user")
    lines = [head, "-" * len(head)]
    for t in snap.turns:
        m = t.metrics
        cells = [getattr(m, s.field) for s in columns]
        lines.append(
            f"{t.index:>4}  {(t.speech_id or '-'):<20}  "
            + "  ".join(f"{fmt_s(v):>{_COL}}" for v in cells)
            + f"  {_user(t, 50)}"
        )
    stages = snap.summary.stages
    lines.append("-" * len(head))
    for stat in ("p50", "p95"):
        figures = [getattr(stages[s.key], stat) if s.key in stages else None
                   for s in columns]
        lines.append(
            f"{stat:>4}  {'':<20}  " + "  ".join(f"{fmt_s(v):>{_COL}}" for v in figures)
        )
    flagged = differing(snap.turns)
    if flagged:
        lines += ["", f"{HEARD.label} and {E2E.label} differ by over {FLAG_DIFFERENCE:g} s"
                  " (docs/metrics.md, \"The silence the caller hears\"):"]
        lines += [f"  turn {i}: {d.describe()} ({d.detail()})" for i, d in flagged]
    parts = "\n\n".join(p for p in (eou_part_table(snap), whatif_table(snap)) if p)
    return "\n".join(lines) + ("\n\n" + parts if parts else "")


def eou_part_stats(snap: Snapshot) -> dict[str, StageStats]:
    """p50/p95/max of each part of the EOU delay (``lkmon.model.eou.PARTS``, seconds) over the
    turns that have LiveKit's spans (``SnapshotTurn.eou_parts``)."""
    return part_stats(t.eou_parts.segments() for t in snap.turns if t.eou_parts is not None)


def eou_part_table(snap: Snapshot) -> str:
    """The EOU delay's parts in percentiles, one row each for p50, p95 and max, then the part
    that holds the most of the p95 EOU delay; empty when no turn has parts.

    E.g. ``p95 EOU 1.402 s: turn decision p95 1.100 s`` under the rows.
    """
    count = sum(1 for t in snap.turns if t.eou_parts is not None)
    if not count:
        return ""
    stats = eou_part_stats(snap)
    widths = [max(len(PART_LABELS[p]), _COL) for p in PARTS]
    columns = list(zip(PARTS, widths, strict=True))
    head = "      " + "  ".join(f"{PART_LABELS[p]:>{w}}" for p, w in columns)
    lines = [f"EOU delay in parts, {count} turns with LiveKit's spans:", head]
    for stat in ("p50", "p95", "max"):
        lines.append(f"{stat:>4}  " + "  ".join(
            f"{fmt_s(getattr(stats[p], stat)):>{w}}" for p, w in columns))
    eou = snap.summary.stages.get(EOU.key)
    inside = [p for p in PARTS if p != "hook" and stats[p].p95 is not None]
    if eou is not None and eou.p95 is not None and inside:
        top = max(inside, key=lambda p: stats[p].p95 or 0.0)
        lines.append(f"p95 EOU {fmt_s(eou.p95)}: {PART_LABELS[top]} p95 {fmt_s(stats[top].p95)}"
                     " (on_user_turn_completed runs after the EOU delay)")
    return "\n".join(lines)


def whatif_table(snap: Snapshot) -> str:
    """The endpointing what-if (``summary.endpointing_whatif``, docs/metrics.md "Endpointing
    what-if") in short: the rows where the early cuts change, the session's own min delay and the
    recommended one, then the recommendation; empty without pauses or ends of turn.

    E.g. ``  0.8 s           0    +0.300 s  smallest with no early cut``: min delay (seconds),
    the session's pauses it would have cut, the mean seconds it adds to an end of turn's EOU.
    """
    summary = snap.summary
    basis = summary.endpointing_basis
    if basis is None or not (basis.pauses or basis.turn_ends) or not summary.endpointing_whatif:
        return ""
    default = ", LiveKit's default" if basis.assumed else ""
    lines = [f"Endpointing what-if over this session's {basis.pauses} pauses inside utterances"
             f" and {basis.turn_ends} ends of turn",
             f"(its min delay {basis.min_delay:g} s{default}; docs/metrics.md, \"Endpointing"
             " what-if\"):",
             f"  {'min delay':>9}  {'early cuts':>10}  {'EOU per end of turn':>19}"]
    last: int | None = None
    for r in summary.endpointing_whatif:
        own = abs(r.min_delay - basis.min_delay) < 0.05
        best = r.min_delay == summary.endpointing_recommended
        if not (own or best or r.early_cuts != last):
            continue
        last = r.early_cuts
        added = "-" if r.added_eou is None else f"{r.added_eou:+.3f} s"
        notes = [n for n, on in (("this session", own), ("smallest with no early cut", best)) if on]
        lines.append(f"  {r.min_delay:>7.1f} s  {r.early_cuts:>10}  {added:>19}  "
                     + ", ".join(notes))
    if summary.endpointing_recommended is not None:
        lines.append(f"Recommended: min delay {fmt_s(summary.endpointing_recommended)} (the"
                     " smallest that cuts none of these pauses).")
    else:
        lines.append("No min delay up to 2.0 s cuts none of these pauses.")
    if basis.turn_detector:
        lines.append("The session ran a turn detector, whose longer delays are not modelled.")
    return "\n".join(line.rstrip() for line in lines)


def usage_name(u: UsageEntry) -> str:
    """``provider/model`` as shown, plus `` via HOST`` when the row went through a host that is
    not the provider's own (``openai/gpt-4.1 via 127.0.0.1:8000``)."""
    shown = shown_provider(u.provider, u.billed_provider, u.local, u.via)
    via = u.via if u.via != shown else ""
    return f"{shown}/{u.model}" + (f" via {via}" if via else "")


def cost_line(session: Snapshot | SessionModel) -> str:
    """One line: the estimated total and each usage row's cost (``?`` = no price, never 0).

    E.g. ``lkmon: estimated cost 0.0043 USD (openai/gpt-4.1 0.0031; openai/gpt-4o-mini-tts via
    127.0.0.1:8000 ?)``. From the session's snapshot (a ``SessionModel`` is converted).
    """
    snap = as_snapshot(session)
    if not snap.usage:
        return "lkmon: estimated cost: no usage reported"
    rows = "; ".join(
        f"{usage_name(u)} {fmt_cost(u.cost)}" + (" local" if u.local and u.cost is not None else "")
        for u in snap.usage
    )
    return f"lkmon: estimated cost {fmt_cost(snap.cost.total)} {snap.cost.currency} ({rows})"
