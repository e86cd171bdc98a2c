"""Plain-text views of a session for headless runs: a line per turn, the end-of-session table.

Stage names and number formats are ``lkmon.model.vocab``'s, the same as the TUI's and the HTML
report's: seconds as ``0.412 s``, ``-`` for an unknown figure, costs as ``0.0031`` with the
currency after the total and ``?`` for an unknown price. No textual or livekit import here.
"""

from __future__ import annotations

from lkmon.model.state import SessionModel
from lkmon.model.turns import Turn
from lkmon.model.vocab import (
    E2E,
    EOU,
    LLM_TTFT,
    SUMMARY_STAGES,
    TRANSCRIPTION,
    TTS_TTFB,
    fmt_cost,
    fmt_s,
)

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
    """The turn's marks for a headless line, e.g. `` interrupted FAILED no-text``."""
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


def turn_line(turn: Turn) -> str:
    """One line for a completed turn: index, speech_id, user text, e2e latency, EOU delay, LLM
    TTFT and TTS TTFB, its marks, then its tool calls (``tools: a, b (error)``)."""
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
        f"  {E2E.label} {fmt_s(m.e2e_latency)}  {EOU.label} {fmt_s(m.eou_delay)}"
        f"  {LLM_TTFT.label} {fmt_s(m.llm_ttft)}  {TTS_TTFB.label} {fmt_s(m.tts_ttfb)}"
        f"{turn_flags(turn)}"
        + (f"  tools: {tools}" if tools else "")
    )


_COL = 11  # fits every summary label ("e2e latency") and "12.345 s"


def turn_table(model: SessionModel) -> str:
    """The per-turn table (EOU delay, LLM TTFT, TTS TTFB, e2e latency) with p50 and p95 rows."""
    head = (f"{'turn':>4}  {'speech_id':<20}  "
            + "  ".join(f"{s.label:>{_COL}}" for s in SUMMARY_STAGES) + "  user")
    lines = [head, "-" * len(head)]
    for t in model.turns:
        m = t.metrics
        cells = (m.eou_delay, m.llm_ttft, m.tts_ttfb, m.e2e_latency)
        lines.append(
            f"{t.index:>4}  {(t.speech_id or '-'):<20}  "
            + "  ".join(f"{fmt_s(v):>{_COL}}" for v in cells)
            + f"  {short(t.user_text, 50, t)}"
        )
    summary = model.summary()
    lines.append("-" * len(head))
    for stat in ("p50", "p95"):
        cells = [getattr(summary[s.key], stat) for s in SUMMARY_STAGES]
        lines.append(
            f"{stat:>4}  {'':<20}  " + "  ".join(f"{fmt_s(v):>{_COL}}" for v in cells)
        )
    return "\n".join(lines)


def cost_line(model: SessionModel) -> str:
    """One line: the estimated total and each usage row's cost (``?`` = no price, never 0).

    E.g. ``lkmon: estimated cost 0.0043 USD (openai/gpt-4.1 0.0031; openai/gpt-4o-mini-tts via
    127.0.0.1:8000 ?)``.
    """
    costs = model.costs()
    if not costs:
        return "lkmon: estimated cost: no usage reported"
    rows = "; ".join(
        f"{c.name} {fmt_cost(c.cost)}" + (" local" if c.local and c.cost is not None else "")
        for c in costs
    )
    return (f"lkmon: estimated cost {fmt_cost(model.total_cost())} {model.prices.currency}"
            f" ({rows})")
