"""Control characters never reach the terminal raw (issue 11, point 13).

An agent's exception text, logs and transcript may hold ESC, BEL, CR, C1 controls (CSI) or
bidirectional overrides: ``ESC ] 0 ; ... BEL`` sets the window title, ``ESC [ 2 J`` clears the
screen. Rich's ``Text`` passes ESC through (it strips only BEL, BS, VT, FF and CR), so lkmon
escapes them itself (``vocab.printable``) in every line it prints (the ``lkmon: error:`` line, the
headless lines and tables, logs on stderr) and in every pane that shows such text.
"""

from __future__ import annotations

import io
from pathlib import Path

from rich.text import Text
from test_app import settle, text_of
from test_cli_bad_input import assert_one_line_error, lkmon

from lkmon.headless import HeadlessPrinter
from lkmon.model.events import (
    ChatMessageAdded,
    ErrorRaised,
    Event,
    LogRecord,
    SessionClosed,
    SessionStarted,
    SpeechCreated,
    SpeechDone,
    ToolCalled,
)
from lkmon.model.state import SessionModel
from lkmon.model.vocab import printable
from lkmon.report.text import turn_table
from lkmon.store.convert import to_snapshot
from lkmon.tui.app import LkmonApp

TITLE = "\x1b]0;pwned\x07"
"""Sets the terminal window's title."""
NASTY = f"{TITLE}boom\x1b[2J\x9b31m\r\u202eevil"
RAW = ("\x1b", "\x07", "\x9b", "\r", "\u202e")


def test_printable_escapes_every_control_but_tab_and_newline() -> None:
    assert printable(NASTY) == "\\x1b]0;pwned\\x07boom\\x1b[2J\\x9b31m\\x0d\\u202eevil"
    assert printable("plain é 你好\tand\nlines") == "plain é 你好\tand\nlines"
    assert "\x1b" in Text(NASTY).plain  # why: Rich lets ESC through


def test_the_error_line_of_an_agent_that_raises_escape_text(tmp_path: Path) -> None:
    agent = tmp_path / "nasty_agent.py"
    agent.write_text(
        "from livekit.agents import AgentServer, JobContext\n"
        "server = AgentServer()\n"
        "@server.rtc_session()\n"
        "async def entrypoint(ctx: JobContext) -> None:\n"
        f"    raise RuntimeError({NASTY!r})\n"
    )
    result = lkmon(["run", str(agent), "--headless", "--input", "text"], tmp_path)
    assert_one_line_error(result, "its entrypoint raised RuntimeError: \\x1b]0;pwned\\x07boom")
    for c in RAW:
        assert c not in result.stderr + result.stdout


def _nasty_events() -> list[Event]:
    return [
        SessionStarted(ts=100.0, agent_file="agent.py", models={"llm": f"openai/{NASTY}"},
                       input="text", output="null",
                       lkmon_version="0", session_id="6c6b6d6f-6e00-4e55-9a11-5e5510000001"),
        ChatMessageAdded(ts=101.0, item_id="u1", role="user", text=f"hello {NASTY}"),
        SpeechCreated(ts=101.1, speech_id="sp1"),
        ToolCalled(ts=101.2, call_id="c1", name=f"lookup{NASTY}", arguments='{"q": "x"}',
                   output=f"out {NASTY}", speech_id="sp1"),
        ChatMessageAdded(ts=101.5, item_id="a1", role="assistant", text=f"reply {NASTY}",
                         metrics={"e2e_latency": 0.5}, speech_id="sp1"),
        SpeechDone(ts=101.6, speech_id="sp1", item_ids=["a1"]),
        LogRecord(ts=102.0, level="WARNING", logger="agent", message=f"listing {NASTY}"),
        ErrorRaised(ts=103.0, source="llm", message=f"APIError: {NASTY}", recoverable=True),
        SessionClosed(ts=104.0, reason="error", error=f"RuntimeError: {NASTY}"),
    ]


def _nasty_model() -> SessionModel:
    model = SessionModel()
    model.apply_many(_nasty_events())
    return model


def test_the_headless_lines_escape_text() -> None:
    out = io.StringIO()
    printer = HeadlessPrinter(SessionModel(), out)
    for event in _nasty_events():
        printer(event)
    lines = out.getvalue()
    assert "lkmon: ! llm error: APIError: \\x1b]0;pwned\\x07boom" in lines
    assert "session closed (error: RuntimeError: \\x1b]0;pwned" in lines
    for c in RAW:
        assert c not in lines


def test_the_headless_table_escapes_text() -> None:
    raw = turn_table(to_snapshot(_nasty_model()))
    assert "\x1b" in raw  # the agent's text is in the table...
    table = printable(raw)
    assert "hello \\x1b]0;pwned" in table  # ... and printed escaped
    for c in RAW:
        assert c not in table


async def test_no_pane_shows_a_raw_control_character(tmp_path: Path) -> None:
    app = LkmonApp(_nasty_model(), export_dir=tmp_path, clock=lambda: 110.0)
    async with app.run_test(size=(160, 50)) as pilot:
        await settle(pilot)
        for screen in ("main", "turn detail"):
            shown = "\n".join(text_of(w) for w in app.screen.query("*") if w.display)
            assert "\\x1b]0;pwned\\x07" in shown, screen  # banner, log, transcript, tools...
            for c in RAW:
                assert c not in shown, (screen, repr(c))
            if screen == "turn detail":
                assert "lookup\\x1b]0;pwned" in shown  # the tool call's name
            await pilot.press("enter")
            await pilot.pause()
