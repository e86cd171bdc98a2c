"""The message box that ``t`` opens: typed user turns for the agent (Enter sends one and the box
stays open for the next; Esc closes it). While it is open every key typed is text: none reaches
the app's bindings (``q`` quit, ``e`` export), however fast the next message follows Enter."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class SayBox(Input):
    """An input docked at the bottom, hidden until opened; posts ``SayBox.Said`` on Enter and
    stays open, focused, for the next message (Esc closes it)."""

    BINDINGS = [Binding("escape", "close", "Close", tooltip="Close the box (what is typed and "
                        "not sent is dropped).", id="say-cancel")]

    class Said(Message):
        """The user typed ``text`` (stripped, never empty) for the agent."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Closed(Message):
        """The box was closed (sent or cancelled); focus should go back to the panes."""

    def __init__(self) -> None:
        super().__init__(placeholder="Message to the agent; Enter sends, Esc closes", id="say")
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
        """Enter: post the text (if any) and empty the box, which keeps the keyboard: a key
        typed right after Enter is the next message's, never a binding's (lkmon 0.1 closed
        the box, so a ``q`` in the next message quit and each ``e`` exported)."""
        event.stop()
        text = event.value.strip()
        self.value = ""
        if text:
            self.post_message(self.Said(text))
