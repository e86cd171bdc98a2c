"""The message box that ``t`` opens: a typed user turn for the agent (Enter sends, Esc cancels)."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class SayBox(Input):
    """An input docked at the bottom, hidden until opened; posts ``SayBox.Said`` on Enter."""

    BINDINGS = [Binding("escape", "close", "Cancel", tooltip="Close without sending.",
                        id="say-cancel")]

    class Said(Message):
        """The user typed ``text`` (stripped, never empty) for the agent."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Closed(Message):
        """The box was closed (sent or cancelled); focus should go back to the panes."""

    def __init__(self) -> None:
        super().__init__(placeholder="Message to the agent; Enter sends, Esc cancels", id="say")
        self.display = False

    def open(self) -> None:
        """Show the box and give it the keyboard."""
        self.value = ""
        self.display = True
        self.focus()

    def action_close(self) -> None:
        """Hide the box without sending."""
        self.value = ""
        self.display = False
        self.post_message(self.Closed())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter: post the text (if any) and close."""
        event.stop()
        text = event.value.strip()
        if text:
            self.post_message(self.Said(text))
        self.action_close()
