"""The app's key bindings: shown in the footer and listed by the help screen.

Each binding has an ``id`` (so a keymap can rebind it) and a tooltip (the help screen's text).
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

PANES = ["turns", "transcript", "vad", "usage", "log"]
"""Pane ids in number-key order (1..5)."""
MOVE = Binding.Group("Turns ")
"""Footer group of the turn cursor keys."""

APP_BINDINGS: list[BindingType] = [
    Binding("q", "quit", "Quit", tooltip="Stop the agent, save the snapshot and exit "
            "(also Ctrl+C).", id="quit"),
    Binding("ctrl+c,ctrl+q", "quit", "Quit", show=False, priority=True, id="quit-ctrl"),
    Binding("question_mark", "help", "Help", key_display="?", tooltip="Keys and panes.",
            id="help"),
    Binding("up,k", "cursor(-1)", "Prev turn", key_display="↑k",
            tooltip="Move the turn cursor up.", id="cursor-up", group=MOVE),
    Binding("down,j", "cursor(1)", "Next turn", key_display="↓j",
            tooltip="Move the turn cursor down.", id="cursor-down", group=MOVE),
    Binding("g", "cursor('first')", "First turn", tooltip="First turn.", id="cursor-first",
            group=MOVE),
    Binding("G", "cursor('last')", "Last turn", key_display="G", tooltip="Last turn.",
            id="cursor-last", group=MOVE),
    Binding("f", "toggle_follow", "Follow", tooltip="Follow the newest turn on/off.",
            id="follow"),
    Binding("enter", "open_detail", "Detail", key_display="⏎",
            tooltip="Everything known about the turn under the cursor.", id="detail"),
    Binding("t", "type_message", "Type", tooltip="Type a user message to the agent.",
            id="type"),
    Binding("m", "toggle_mute", "Mute", tooltip="Mute or unmute the microphone.", id="mute"),
    Binding("s", "list_sessions", "Sessions", tooltip="lkmon watch: the sessions (journals) "
            "seen, the one followed now last.", id="sessions"),
    Binding("w", "endpointing_whatif", "What-if", tooltip="The endpointing what-if: early "
            "cuts and EOU added per min delay, from this session's own pauses.", id="whatif"),
    Binding("e", "export", "Export",
            tooltip="Write snapshot JSON, SVG screenshot and HTML report.", id="export"),
    Binding("x", "dismiss_banner", "Hide error",
            tooltip="Hide the error banner until the next error.", id="dismiss"),
    Binding("z", "zoom", "Zoom", tooltip="Maximise the active pane, or restore the layout.",
            id="zoom"),
    *[
        Binding(str(i + 1), f"show_pane('{pane}')", "Panes" if i == 0 else pane.capitalize(),
                show=i == 0, key_display="1-5" if i == 0 else None,
                tooltip="Show and focus a pane: 1 turns, 2 transcript, 3 VAD, 4 usage, 5 log."
                if i == 0 else f"Show and focus the {pane} pane.", id=f"pane-{pane}")
        for i, pane in enumerate(PANES)
    ],
]

MAIN_ONLY = frozenset({
    "cursor", "toggle_follow", "open_detail", "type_message", "endpointing_whatif",
    "toggle_mute", "show_pane", "zoom", "dismiss_banner",
})
"""Actions that only make sense on the main screen (hidden on the detail and help screens)."""
LIVE_ONLY = frozenset({"type_message", "toggle_mute"})
"""Actions that need a running agent (hidden in replay)."""
WATCH_ONLY = frozenset({"list_sessions"})
"""Actions of ``lkmon watch`` only (hidden, and left out of the help, elsewhere)."""
