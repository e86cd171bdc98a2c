"""The turn detail screen: everything known about one turn.

User metrics (LiveKit user ``ChatMessage.metrics``: transcription delay, end-of-turn delay,
on_user_turn_completed delay, speaking start/stop), assistant metrics (``llm_node_ttft``,
``llm_node_tps``, ``tts_node_ttfb``, ``playback_latency``, ``e2e_latency``), every STT, EOU, LLM and
TTS plugin metric joined to the turn by ``speech_id`` (several LLM calls for a tool-call turn),
tool calls, errors, the interruption, and the heard gap (lkmon's own, measured on the audio)
beside e2e. Esc goes back; ←/→ move to the previous/next turn.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from lkmon.model import vocab
from lkmon.model.heard import heard_missing_reason, measured
from lkmon.model.state import SessionModel
from lkmon.model.turns import Turn
from lkmon.model.vocab import (
    E2E,
    EOU,
    HEARD,
    LLM_TTFT,
    TRANSCRIPTION,
    TTS_TTFB,
    fmt_clock,
    fmt_count,
    fmt_s,
    printable,
)
from lkmon.redact import shown
from lkmon.tui.widgets.bars import bar_segments, friendly_scale, render_bar
from lkmon.tui.widgets.common import ACCENT, BAD, DIM, WARN, e2e_style, guarded, stage_style
from lkmon.tui.widgets.eou_timeline import eou_timeline
from lkmon.tui.widgets.heard import heard_cell, heard_section
from lkmon.tui.widgets.interrupts import detail_words, head_flag

# Per-plugin metric fields shown, by kind, with their units.
METRIC_FIELDS: dict[str, list[tuple[str, str]]] = {
    "stt": [("duration", "s"), ("audio_duration", "s"), ("streamed", "")],
    "eou": [("end_of_utterance_delay", "s"), ("transcription_delay", "s"),
            ("on_user_turn_completed_delay", "s")],
    "llm": [("ttft", "s"), ("duration", "s"), ("prompt_tokens", "tok"),
            ("prompt_cached_tokens", "tok"), ("completion_tokens", "tok"),
            ("tokens_per_second", "tok/s"), ("cancelled", "")],
    "tts": [("ttfb", "s"), ("duration", "s"), ("audio_duration", "s"),
            ("characters_count", "chars"), ("cancelled", "")],
}


def _value(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if unit == "s" and isinstance(value, int | float):
        return fmt_s(float(value))
    if isinstance(value, float):
        return f"{value:,.1f} {unit}".strip()
    if isinstance(value, int):
        return f"{fmt_count(value)} {unit}".strip()
    return str(value)


def _at(ts: float | None, origin: float | None) -> str:
    """Epoch seconds as clock time and offset from the turn's start."""
    if ts is None:
        return "-"
    if origin is None:
        return fmt_clock(ts)
    return f"{fmt_clock(ts)} ({fmt_s(ts - origin, signed=True)})"


def _kv_table(rows: list[tuple[str, str | Text]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style=DIM, no_wrap=True)
    table.add_column()
    for k, v in rows:
        table.add_row(k, v)
    return table


def _heading(title: str) -> Text:
    return Text(f"\n{title}", style=f"bold underline {ACCENT}")


def _pretty_json(text: str | None) -> str:
    if text is None:
        return "(none)"
    try:
        return json.dumps(json.loads(text), ensure_ascii=False)
    except (ValueError, TypeError):
        return text



class _TitleLine:
    """The detail's first line: the turn's figures, then its flags (``[interrupted: barge-in]``,
    ``[preemptive, kept]``...), each kept whole: a flag that does not fit the width starts the
    next line instead of breaking at its own space."""

    def __init__(self, head: Text, flags: list[Text]) -> None:
        self.head = head
        self.flags = flags

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        line = self.head.copy()
        width = options.max_width
        for flag in self.flags:
            if line.cell_len + 2 + flag.cell_len > width and line.cell_len > 0:
                yield line
                line = Text()
            if line.cell_len:
                line.append("  ")
            line.append_text(flag)
        yield line

class TurnDetailScreen(Screen[None]):
    """All figures of one turn. Esc back, ←/→ previous/next turn."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", tooltip="Back to the panes.",
                id="detail-back"),
        Binding("left,p,k", "step(-1)", "Prev turn", key_display="←/p",
                tooltip="Show the previous turn.", id="detail-prev"),
        Binding("right,n,j", "step(1)", "Next turn", key_display="→/n",
                tooltip="Show the next turn.", id="detail-next"),
    ]

    def __init__(self, model: SessionModel, index: int, *,
                 thresholds: tuple[float, float] = (1.0, 2.0), redact: bool = False) -> None:
        super().__init__()
        self.model = model
        self.index = index
        """1-based ``Turn.index`` shown."""
        self.thresholds = thresholds
        self.redact = redact

    def compose(self) -> ComposeResult:
        """A scrolling body and the footer."""
        with VerticalScroll(id="detail-body"):
            yield Static(id="detail-content")
        yield Footer()

    def on_mount(self) -> None:
        """First render."""
        self.update_view()

    def turn(self) -> Turn | None:
        """The ``Turn`` shown, or ``None`` if the index is out of range."""
        turns = self.model.turns
        if 1 <= self.index <= len(turns):
            return turns[self.index - 1]
        return None

    @guarded("detail.step")
    def action_step(self, delta: int) -> None:
        """Show the previous (-1) or next (+1) turn."""
        n = len(self.model.turns)
        new = max(1, min(n, self.index + delta))
        if new != self.index:
            self.index = new
            self.update_view()
            self.query_one("#detail-body").scroll_home(animate=False)

    @guarded("detail.update_view")
    def update_view(self) -> None:
        """Re-render (the turn may still be filling in during a live session)."""
        body = self.query_one("#detail-body", VerticalScroll)
        turn = self.turn()
        body.border_title = f"Turn {self.index} of {len(self.model.turns)}"
        body.border_subtitle = "Esc back · ←/→ turn"
        content = self.build(turn) if turn is not None else Text("No such turn.")
        self.query_one("#detail-content", Static).update(content)

    def _t(self, text: str | None) -> str:
        return "(none)" if text is None else printable(shown(text, mask=self.redact))

    def build(self, turn: Turn) -> RenderableType:
        """Every section of the turn detail."""
        m = turn.metrics
        parts: list[RenderableType] = []
        head = Text()
        head.append(f"Turn {turn.index}", style="bold")
        head.append(f"  {fmt_clock(turn.started_at)}", style=DIM)
        head.append(f"  speech_id {turn.speech_id or '-'}", style=DIM)
        head.append(f"  {E2E.label} ", style=DIM)
        head.append(fmt_s(m.e2e_latency), style=e2e_style(m.e2e_latency, self.thresholds))
        if turn.heard is not None:
            head.append(f"  {HEARD.label}", style=DIM).append_text(heard_cell(turn))
        interrupted = turn.interrupted or turn.interruption is not None
        flags: list[Text] = []
        for flag, on, style in ((head_flag(turn), interrupted, WARN),
                                ("failed", turn.failed, BAD),
                                ("no text", turn.empty_reply, WARN),
                                ("typed", turn.typed, DIM),
                                ("greeting", turn.greeting, DIM),
                                ("agent-initiated", turn.agent_initiated, DIM),
                                ("transcript only (no LLM)",
                                 turn.kind == "transcript", DIM),
                                ("preemptive, kept", turn.preemptive, DIM),
                                ("in progress", not turn.complete, DIM)):
            if on:
                flags.append(Text(f"[{flag}]", style=f"bold {style}"))
        parts.append(_TitleLine(head, flags))

        segments = bar_segments(turn)
        if segments:
            total = sum(v for _, v in segments)
            bar = render_bar(segments, 50, friendly_scale(total))
            legend = Text("  ")
            for stage, seconds in segments:
                legend.append("■ ", style=stage_style(stage))
                legend.append(f"{vocab.label(stage)} {fmt_s(seconds)}  ")
            parts.append(Group(Text(""), bar, legend))

        parts.append(_heading("Transcript"))
        parts.append(_kv_table([
            ("user", self._t(turn.user_text)),
            ("agent (heard)", self._t(turn.agent_text)),
            ("not heard", Text(self._t(turn.unheard_text), style=f"strike {DIM}")
             if turn.unheard_text else "-"),
            ("interrupted", detail_words(turn)),
        ]))

        origin = m.user_stopped_speaking_at or turn.started_at
        parts.append(Text(
            "times: clock time (offset from "
            + ("the user's end of speech" if m.user_stopped_speaking_at else "the turn's start")
            + ")", style=DIM))
        audio_output = self.model.audio_output
        heard = measured(self.model.turns)  # a session lkmon did not measure says nothing
        missing = [(k, r) for k, r in (
            (EOU.label, turn.eou_unknown_reason),
            (E2E.label, turn.e2e_missing_reason(audio_output)),
            (HEARD.label, heard_missing_reason(turn, audio_output, heard) if heard else None),
        ) if r]
        if missing:
            parts.append(_heading("Why figures are missing"))
            parts.append(_kv_table([(k, Text(r, style=DIM)) for k, r in missing]))
        parts.append(_heading("User metrics"))
        parts.append(_kv_table([
            (TRANSCRIPTION.label, fmt_s(m.transcription_delay)),
            ("end-of-turn delay", fmt_s(m.end_of_turn_delay)),
            (EOU.label, fmt_s(m.eou_delay)),
            ("on_user_turn_completed delay", fmt_s(m.on_user_turn_completed_delay)),
            ("started speaking", _at(m.user_started_speaking_at, origin)),
            ("stopped speaking", _at(m.user_stopped_speaking_at, origin) + (
                "  (lkmon: the VAD's end of speech)"
                if "user_stopped_speaking_at" in turn.measured else "")),
        ]))

        if turn.eou_parts is not None:
            parts.append(_heading("EOU delay, decomposed (LiveKit's spans)"))
            parts.append(eou_timeline(turn.eou_parts))

        parts.append(_heading("Assistant metrics"))
        calls = m.llm_calls or 0
        ttft_rows: list[tuple[str, str | Text]] = [(LLM_TTFT.label, fmt_s(m.llm_ttft))]
        if calls > 1:
            ttft_rows = [
                (f"{LLM_TTFT.label}, spoken reply (bar)", fmt_s(m.llm_ttft)),
                (f"{LLM_TTFT.label}, first call (tools)", fmt_s(m.llm_ttft_first)),
                ("LLM calls", str(calls)),
            ]
        parts.append(_kv_table([
            *ttft_rows,
            ("LLM tokens/s", "-" if m.llm_tps is None else f"{m.llm_tps:.1f}"),
            (TTS_TTFB.label, fmt_s(m.tts_ttfb)),
            ("playback latency", fmt_s(m.playback_latency)),
            (E2E.label, Text(fmt_s(m.e2e_latency),
                                 style=e2e_style(m.e2e_latency, self.thresholds)).append(
                "  (lkmon: from the VAD's end of speech; LiveKit gave none)"
                if "e2e_latency" in turn.measured else "", style=DIM)),
            ("started speaking", _at(m.agent_started_speaking_at, origin)),
            ("stopped speaking", _at(m.agent_stopped_speaking_at, origin)),
            ("tokens prompt / cached / completion",
             f"{fmt_count(m.prompt_tokens)} / {fmt_count(m.prompt_cached_tokens)} / "
             f"{fmt_count(m.completion_tokens)}"),
        ]))

        section = heard_section(turn, origin)
        if section is not None:
            parts.append(_heading("The silence the caller hears (lkmon, on the audio)"))
            parts.append(section)

        parts.append(_heading(f"Plugin metrics ({len(turn.plugin_metrics)})"))
        parts.append(self._plugin_table(turn, origin))

        parts.append(_heading(f"Tool calls ({len(turn.tool_calls)})"))
        if turn.tool_calls:
            tools = Table(box=None, padding=(0, 1), header_style=f"bold {DIM}")
            tools.add_column("time", style=DIM, no_wrap=True)
            tools.add_column("tool", style="bold", no_wrap=True)
            tools.add_column("arguments")
            tools.add_column("result")
            for call in turn.tool_calls:
                result = Text(self._t(call.output) if call.output is not None else "(none)",
                              style=BAD if call.is_error else "")
                tools.add_row(_at(call.ts, origin), printable(call.name),
                              self._t(_pretty_json(call.arguments)), result)
            parts.append(tools)
        else:
            parts.append(Text("none", style=DIM))

        handoffs = turn.handoffs
        if handoffs:
            parts.append(_heading(f"Handoffs ({len(handoffs)})"))
            for h in handoffs:
                parts.append(Text(printable(
                    f"{_at(h.ts, origin)}  {h.old_agent or '-'} -> {h.new_agent}")))

        discarded = turn.discarded
        if discarded:
            parts.append(_heading(f"Preemptive replies, discarded ({len(discarded)})"))
            parts.append(Text(
                "LiveKit started these on a final transcript while the user could still go on, "
                "and threw them away; they are in no percentile.", style=DIM))
            table = Table(box=None, padding=(0, 1), header_style=f"bold {DIM}")
            for col in ("started", "speech_id", LLM_TTFT.label, TTS_TTFB.label, "tokens in / out"):
                table.add_column(col, no_wrap=True)
            for d in discarded:
                dm = d.metrics
                table.add_row(_at(d.started_at, origin), d.speech_id or "-",
                              fmt_s(dm.llm_ttft_first), fmt_s(dm.tts_ttfb),
                              f"{fmt_count(dm.prompt_tokens)} / {fmt_count(dm.completion_tokens)}")
            parts.append(table)

        errors = turn.errors
        if errors:
            parts.append(_heading(f"Errors ({len(errors)})"))
            for err in errors:
                parts.append(Text(printable(f"{fmt_clock(err.ts)} {err.source}: {err.message}"),
                                  style=BAD))
        return Group(*parts)

    def _plugin_table(self, turn: Turn, origin: float) -> RenderableType:
        if not turn.plugin_metrics:
            return Text("none joined to this turn", style=DIM)
        table = Table(box=None, padding=(0, 1), header_style=f"bold {DIM}")
        table.add_column("at", style=DIM, no_wrap=True)
        table.add_column("kind", style="bold", no_wrap=True)
        table.add_column("plugin", no_wrap=True, overflow="ellipsis", max_width=32)
        table.add_column("figures")
        llm_calls = 0
        for pm in turn.plugin_metrics:
            kind = pm.kind
            label = kind.upper()
            if kind == "llm":
                llm_calls += 1
                label = f"LLM #{llm_calls}"
            fields = METRIC_FIELDS.get(kind, [(k, "") for k in pm.values])
            figures = Text()
            for name, unit in fields:
                if name in pm.values and pm.values[name] is not None:
                    if name == "cancelled" and not pm.values[name]:
                        continue
                    figures.append(f"{name} ", style=DIM)
                    figures.append(_value(pm.values[name], unit) + "  ")
            plugin = "/".join(x for x in (pm.provider, pm.model) if x) or pm.label or "-"
            table.add_row(fmt_s(pm.ts - origin, signed=True), label, plugin, figures)
        if llm_calls > 1:
            return Group(table, Text(f"{llm_calls} LLM calls: the ones after the first follow "
                                     "tool calls.", style=DIM))
        return table
