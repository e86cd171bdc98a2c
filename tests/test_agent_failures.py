"""The agent's own failures (issue 11, points 11 and 12): ``sys.exit()`` in the entrypoint or in
prewarm, a ``KeyboardInterrupt`` raised by the agent, an exception whose ``__str__`` raises: one
line each, exit 2, with the snapshot of what was seen; an exception in a thread the agent
started: one redacted line in the log pane and the journal, no traceback on stderr. The agent
is ``tests/data/agents/misbehaving_agent.py`` (scripted models, no network)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from lkmon import redact
from lkmon.agent.host.options import RunOptions
from lkmon.agent.host.runner import SessionRunner
from lkmon.cli import main
from lkmon.errors import UsageError
from lkmon.model.events import LogRecord
from lkmon.redact import Redactor
from lkmon.store.journal import load_journal

AGENT = Path(__file__).parent / "data" / "agents" / "misbehaving_agent.py"


@pytest.mark.parametrize(("mode", "line"), [
    ("exit_entrypoint", "its entrypoint called sys.exit(3)"),
    ("interrupt_entrypoint", "its entrypoint raised KeyboardInterrupt"),
    ("bad_str", "its entrypoint raised Unprintable (its message could not be read: ValueError)"),
    ("exit_prewarm", "prewarm called sys.exit(3)"),
])
async def test_each_is_one_line(mode: str, line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISBEHAVE", mode)
    runner = SessionRunner(RunOptions(agent_file=AGENT, inputs=["text"], start_timeout=10),
                           lambda e: None)
    with pytest.raises(UsageError) as raised:
        await runner.run()
    assert raised.value.message == f"agent file {AGENT}: {line}"


def test_sys_exit_after_the_session_started_is_exit_2_with_its_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MISBEHAVE", "exit_after_start")
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
    code = main(["run", str(AGENT), "--headless", "--input", "text", "--export",
                 str(tmp_path / "s.json"), "--no-db"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.splitlines()[-1] == (
        f"lkmon: error: agent file {AGENT}: its entrypoint called sys.exit(3)")
    assert "Traceback" not in err and "second signal" not in err + out
    snap = json.loads((tmp_path / "s.json").read_text())
    assert snap["session"]["started_at"] is not None  # what was seen is saved


async def test_a_thread_the_agent_started_fails_in_one_redacted_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    token = "tok-thread-55aa77"
    monkeypatch.setattr(redact, "_default", Redactor())  # the process-wide one, for this test
    monkeypatch.setenv("WORKER_TOKEN", token)  # a secret by its name
    monkeypatch.setenv("MISBEHAVE", "thread")
    events: list = []
    journal = tmp_path / "j.jsonl"
    runner = SessionRunner(RunOptions(agent_file=AGENT, inputs=["text"], text_lines=["hello"],
                                      journal=journal, gap=0.1, close_timeout=1.0,
                                      capture_root_logs=True), events.append)
    await runner.run()
    err = capsys.readouterr().err
    assert token not in err and "Traceback" not in err
    expected = ("thread agent-worker raised RuntimeError: worker thread lost its token "
                "[REDACTED] (at misbehaving_agent.py:")
    shown = [e.message for e in events if isinstance(e, LogRecord)]  # what the log pane gets
    assert any(m.startswith(expected) for m in shown), shown
    written = [e.message for e in load_journal(journal).events if isinstance(e, LogRecord)]
    assert any(m.startswith(expected) for m in written)
    assert token not in journal.read_text()
