"""Typed text never triggers the app's bindings (issue 11, point 16).

lkmon 0.1 closed the message box on Enter, so the keys of the next message went to the global
bindings: 200 messages at 50 ms gaps delivered 1 and made 792 exports through ``e``, and a
``q`` quit. The box now stays open and focused after Enter; Esc closes it.
"""

from __future__ import annotations

from pathlib import Path

from test_app import CLOCK, RecordingSource

from lkmon.model.state import SessionModel
from lkmon.tui.app import LkmonApp

MESSAGES = ["q", "e", "quit", "eq e"]


async def test_keys_typed_right_after_enter_are_the_next_message(tmp_path: Path) -> None:
    source = RecordingSource()
    app = LkmonApp(SessionModel(), source, export_dir=tmp_path, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press(*_keys(MESSAGES))  # each message's first key right after Enter
        await pilot.pause()
        assert app.is_running and source.stopped == 0  # no "q" quit
        assert source.texts == MESSAGES
        assert not list(tmp_path.iterdir())  # no "e" export
        await pilot.press("escape", "e")  # once the box is closed, the keys are bindings again
        await pilot.pause()
        assert any(tmp_path.iterdir())


def _keys(messages: list[str]) -> list[str]:
    """``t``, then each message's keys and Enter, with no pause between."""
    keys = ["t"]
    for text in messages:
        keys += ["space" if c == " " else c for c in text]
        keys.append("enter")
    return keys
