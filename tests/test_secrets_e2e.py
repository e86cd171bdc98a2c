"""Planted secrets through a real session in the TUI: nothing lkmon shows in its log pane or
writes to disk holds them.

The agent (tests/data/agents/leaky_agent.py) logs the secret values, speaks them, returns one from
a tool call, puts one in a tool call's arguments and in a TTS error. The session runs in the app
under Textual's test driver with the real ``SessionRunner``; the user sends two turns from the
typing box, presses ``e`` (snapshot, SVG and HTML) and ``q`` (snapshot on quit). Then every file
under the test's folder (the journal, the exports, the quit snapshot and anything else lkmon wrote
there, such as ``lkmon-sessions/``: the test runs in that folder) is scanned for every secret
value, and the places where each one was leaked are checked to hold ``[REDACTED]`` instead, so the
scan cannot pass by the leak not happening.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from test_app import text_of
from textual.widgets import Input

from lkmon.model.areas import Area
from lkmon.tui.app import LkmonApp

ROOT = Path(__file__).resolve().parents[1]
LEAKY = ROOT / "tests" / "data" / "agents" / "leaky_agent.py"

SECRETS = {
    "LIVEKIT_API_KEY": "APIleakKey0c7d1e",
    "LIVEKIT_API_SECRET": "leakSecret5678abcdef",
    "OPENAI_API_KEY": "sk-openai-leak-99f1e2",
    "SOME_TOKEN": "tok-leak-4242zz",
}
DOTENV_VALUE = "dotenv-leak-7f3a91"  # LEAKY_DOTENV in the agent's .env: not secret by name


def _flat(text: str) -> str:
    """Screen text without line wrapping (a value may be split over two lines)."""
    return "".join(text.split())


async def test_no_secret_in_anything_lkmon_shows_or_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lkmon.agent.host.options import RunOptions
    from lkmon.sources import InProcessSource

    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    agent = agent_dir / "leaky_agent.py"
    shutil.copy(LEAKY, agent)
    (agent_dir / ".env").write_text(f"LEAKY_DOTENV={DOTENV_VALUE}\n")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    assert "LEAKY_DOTENV" not in os.environ
    values = [*SECRETS.values(), DOTENV_VALUE]

    out = tmp_path / "out"
    out.mkdir()
    options = RunOptions(agent_file=agent, inputs=["text"], output="null", models="local",
                         journal=out / "session.journal.jsonl", capture_root_logs=True)
    source = InProcessSource(options)
    model = source.open()
    quit_snapshot = out / "quit.json"
    app = LkmonApp(model, source, export_dir=out, snapshot_path=quit_snapshot)

    async def wait_for(cond, seconds: float) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + seconds
        while not cond() and time.monotonic() < deadline:
            await pilot.pause(0.2)
        return bool(cond())

    def replies() -> int:
        return sum(1 for t in model.turns if t.complete and t.user_text)

    try:
        async with app.run_test(size=(160, 50)) as pilot:
            assert await wait_for(lambda: model.session.started_at is not None, 60)
            for n, line in enumerate(["what time is it", "tell me the token"], start=1):
                await pilot.press("t")
                # the line put in the box at once (typing it key by key costs ~65 ms a key in
                # Textual's pilot; test_app_typing types keys), then sent with enter
                app.query_one("#say", Input).value = line
                await pilot.press("enter", "escape")  # sent; the box closed (it stays open)
                assert await wait_for(lambda n=n: replies() >= n, 60), [
                    (t.user_text, t.agent_text) for t in model.turns]
            await pilot.pause(0.5)
            app.drain()
            app.refresh_areas(set(Area), force=True)
            await pilot.pause(0.3)

            # on screen: the log pane, the transcript, the banner
            log_pane = _flat(app.log_pane.rendered_text())
            transcript = _flat(app.transcript_pane.rendered_text())
            banner = _flat(text_of(app.banner))
            for value in values:
                assert value not in log_pane, value
                assert value not in transcript, value
                assert value not in banner, value
            assert "OPENAI_API_KEY=[REDACTED]SOME_TOKEN=[REDACTED]" in log_pane
            assert "credentials[REDACTED]/[REDACTED],setting[REDACTED]" in log_pane
            assert "rejectedkey[REDACTED]" in log_pane + banner

            await pilot.press("e")
            assert await wait_for(lambda: len(app.exported) == 3, 30), app.exported
            await pilot.press("q")
            assert await wait_for(lambda: not app.is_running, 20)
    finally:
        os.environ.pop("LEAKY_DOTENV", None)
    assert app.return_value == quit_snapshot and source.error is None

    # every file lkmon wrote anywhere under the test's folder (its working directory too)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and agent_dir not in p.parents]
    suffixes = sorted(p.suffix for p in written)
    assert suffixes.count(".json") >= 2 and {".svg", ".html", ".jsonl"} <= set(suffixes), written
    for path in written:
        text = path.read_bytes().decode("utf-8", errors="replace")
        for value in values:
            assert value not in text, f"{value} in {path}"
        assert "[REDACTED]" in text, path
    for path in [quit_snapshot, options.journal, *app.exported]:
        assert path.stat().st_mode & 0o777 == 0o600, path

    # each leak happened, redacted: the reply, the tool call, the error, the logs
    snap = json.loads(quit_snapshot.read_text())
    tool_turn, token_turn = [t for t in snap["turns"] if t["user_text"]]
    call = tool_turn["tool_calls"][0]
    assert call["output"] == "12:00 (served with key [REDACTED])"
    assert call["arguments"] == '{"auth": "[REDACTED]"}'
    assert "[REDACTED]" in tool_turn["agent_text"]
    assert token_turn["agent_text"] == "Your token is [REDACTED] and the setting is [REDACTED]."
    assert any(e["message"].endswith("rejected key [REDACTED]") for e in snap["errors"])
    journal = options.journal.read_text()
    assert "starting with OPENAI_API_KEY=[REDACTED] SOME_TOKEN=[REDACTED]" in journal


def test_headless_verbose_stderr_and_files_hold_no_secret(tmp_path: Path) -> None:
    """Headless with ``-v``: the agent's own root-logger output reaches stderr only redacted, and
    the journal and snapshot hold no secret either."""
    import subprocess
    import sys

    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    agent = agent_dir / "leaky_agent.py"
    shutil.copy(LEAKY, agent)
    (agent_dir / ".env").write_text(f"LEAKY_DOTENV={DOTENV_VALUE}\n")
    env = {**os.environ, **SECRETS}
    snapshot = tmp_path / "s.json"
    proc = subprocess.run(
        [sys.executable, "-m", "lkmon", "run", str(agent), "--headless", "-v", "--models",
         "local", "--input", "text", "--gap", "0.2", "--output", "null", "--export", str(snapshot),
         "--journal", str(tmp_path / "j.jsonl")],
        input="what time is it\n", capture_output=True, text=True, env=env, cwd=agent_dir,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[REDACTED]" in proc.stderr  # the agent's warnings did reach stderr, redacted
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.parent != agent_dir]
    assert snapshot in written
    for value in [*SECRETS.values(), DOTENV_VALUE]:
        assert value not in proc.stdout + proc.stderr
        for path in written:
            assert value not in path.read_text(errors="replace"), path
