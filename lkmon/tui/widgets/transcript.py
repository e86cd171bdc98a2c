"""The transcript pane: user and agent messages with timestamps, interim text, tool calls.

Entries come from ``SessionModel.transcript`` (``TranscriptEntry``): user messages (LiveKit
``conversation_item_added``), agent text as it is spoken (the session's transcription output)
replaced by what was heard once the assistant message arrives, tool calls
(``function_tools_executed``) and errors. The user's interim text
(``user_input_transcribed`` with ``is_final=False``) is shown dimmed at the end while they speak.
An interrupted reply is marked, with the part that was not heard struck through after it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from rich.text import Text

from lkmon.model.areas import Area
from lkmon.model.state import SessionModel
from lkmon.model.vocab import fmt_clock, printable
from lkmon.redact import shown
from lkmon.tui.widgets.common import BAD, DIM, ROLE_STYLES, WARN
from lkmon.tui.widgets.lines import ItemLines

ROLE_LABELS = {"user": "user ", "agent": "agent", "assistant": "agent", "tool": "tool ",
               "system": "note "}


class InterimUser:
    """The user's words heard so far, before their message arrives (shown dimmed)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class TranscriptPane(ItemLines):
    """Messages, tool calls and errors, newest at the bottom; follows the end while there."""

    AREAS = frozenset({Area.TRANSCRIPT})
    mutable_tail = 64  # only recent entries are filled in (spoken text, heard text, marks)

    def __init__(self, model: SessionModel, *, redact: bool = False) -> None:
        super().__init__(id="transcript", classes="pane")
        self.model = model
        self.redact = redact
        self.border_title = "2 Transcript"
        self.border_subtitle = "[i]dim: interim[/] · ⚡ interrupted, [strike]unheard[/]"
        self._interim: InterimUser | None = None  # one item while the user speaks

    def _text(self, text: str | None) -> str:
        """Secrets hidden (a secret streamed in pieces is whole here), and with ``--redact``
        every character replaced."""
        return printable(shown(text, mask=self.redact)) if text else ""

    def items(self) -> Sequence[Any]:
        """Transcript entries, then the interim user text if any (the same item while the user
        speaks, so that a new guess redraws only its own lines)."""
        entries: list[Any] = list(self.model.transcript)
        interim = self.model.interim_user_text
        if not interim:
            self._interim = None
            return entries
        if self._interim is None:
            self._interim = InterimUser(interim)
        self._interim.text = interim
        entries.append(self._interim)
        return entries

    def item_key(self, item: Any) -> Hashable:
        """Entries change in place while spoken; the key holds everything that is drawn."""
        if isinstance(item, InterimUser):
            return ("interim", item.text)
        return (id(item), item.ts, item.role, item.text, item.interim, item.interrupted,
                item.unheard_text, item.turn)

    def render_item(self, item: Any) -> tuple[Text, Text]:
        """``HH:MM:SS role text`` with marks for interim, interrupted and tool entries; the text
        wraps with a hanging indent."""
        prefix = Text()
        text = Text()
        if isinstance(item, InterimUser):
            prefix.append("   …     ", style=DIM)
            prefix.append("user  ", style=ROLE_STYLES["user"])
            text.append(self._text(item.text), style=f"italic {DIM}")
            return prefix, text
        prefix.append(fmt_clock(item.ts), style=DIM)
        prefix.append(" ")
        role = item.role
        prefix.append(ROLE_LABELS.get(role, f"{role[:5]:<5}"), style=ROLE_STYLES.get(role, "bold"))
        prefix.append(" ")
        body = self._text(item.text)
        if role == "tool":
            text.append(body, style=WARN)
        elif role == "system":
            text.append(body, style=BAD if body.startswith("error") else DIM)
        elif item.interim:
            text.append(body)
            text.append(" ▍", style=DIM)
        else:
            text.append(body)
        if item.interrupted:
            text.append("  ⚡ interrupted", style=f"bold {WARN}")
            if item.unheard_text:
                text.append("  unheard: ", style=DIM)
                text.append(self._text(item.unheard_text), style=f"strike {DIM}")
        return prefix, text

    def empty_text(self) -> Text:
        """Shown before the first message."""
        return Text("No messages yet.", style=DIM)
