"""``.env`` values are redacted inside free text only, never in keys, ids or fixed values; short
and plain values are settings, not secrets (issue 11, point 2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lkmon import redact
from lkmon.agent.host.options import RunOptions
from lkmon.cli import main
from lkmon.headless import run_headless
from lkmon.redact import Redactor, looks_secret
from lkmon.sources import InProcessSource
from lkmon.store.journal import load_journal

AGENTS = Path(__file__).parent / "data" / "agents"
SETTING = "eu-west-7f3a91"  # a .env value not named like a secret that could be a credential
CREDENTIAL = "pg-pass-55aa19"


@pytest.fixture
def fresh_redactor(monkeypatch: pytest.MonkeyPatch) -> Redactor:
    redactor = Redactor()
    monkeypatch.setattr(redact, "_default", redactor)  # the process-wide one, for this test
    return redactor


def test_dotenv_settings_never_touch_lkmon_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fresh_redactor: Redactor,
) -> None:
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    for name in ("misbehaving_agent.py", "scripted_agent.py"):
        shutil.copy(AGENTS / name, agent_dir / name)
    (agent_dir / ".env").write_text(
        f"POSTGRES_USER=user\nLOG_LEVEL=INFO\nDEBUG=true\nREGION={SETTING}\n"
        f"POSTGRES_PASSWORD={CREDENTIAL}\n"
    )
    export, journal = tmp_path / "s.json", tmp_path / "j.jsonl"
    options = RunOptions(agent_file=agent_dir / "misbehaving_agent.py", inputs=["text"],
                         text_lines=[f"user INFO true {SETTING} {CREDENTIAL}"], journal=journal,
                         gap=0.1, capture_root_logs=True)  # LiveKit's own close: user_initiated
    assert run_headless(InProcessSource(options), export) == export  # the runner reads the .env
    raw = export.read_text()
    assert SETTING not in raw and CREDENTIAL not in raw
    snap = json.loads(raw)
    assert snap["turns"][0]["user_text"] == "user INFO true [REDACTED] [REDACTED]"
    assert snap["session"]["close_reason"] == "user_initiated"
    assert snap["session"]["user_state"] == "listening" and "user_text" in snap["turns"][0]
    assert "INFO" in {e["level"] for e in snap["events"] if e["type"] == "log"}
    events = load_journal(journal).events
    assert "INFO" in {getattr(e, "level", None) for e in events}
    assert SETTING not in journal.read_text()
    capsys.readouterr()
    assert main(["replay", str(export), "--export", str(tmp_path / "again.json")]) == 0
    assert main(["replay", str(journal), "--export", str(tmp_path / "again2.json")]) == 0


def test_the_minimum_lengths() -> None:
    assert not any(map(looks_secret, ["user", "INFO", "true", "localhost", "8080", "0.25",
                                      "postgres", "WARNING"]))
    assert all(map(looks_secret, ["dotenv-7f3a91", "hunter22x", "postgres://u:p@db/x"]))
    assert Redactor(["on", "abc"]).active is False and Redactor(["abcd"]).active


def test_where_each_kind_is_replaced() -> None:
    r = Redactor(["sk-credential-1"])
    r.add(["user-setting-9"], anywhere=False)
    event = {
        "type": "conversation_item_added", "role": "user", "user-setting-9": 1,
        "text": "sk-credential-1 and user-setting-9",
        "models": {"llm": "x/user-setting-9", "tts": "x/sk-credential-1"},
        "speech_id": "sk-credential-1",
        "turns": [{"tool_calls": [{"arguments": '{"q": "user-setting-9"}'}]}],
    }
    assert r.redact_obj(event) == {
        "type": "conversation_item_added", "role": "user", "user-setting-9": 1,  # keys: never
        "text": "[REDACTED] and [REDACTED]",  # free text: both
        "models": {"llm": "x/user-setting-9", "tts": "x/[REDACTED]"},  # others: credentials
        "speech_id": "sk-credential-1",  # ids and fixed values: never
        "turns": [{"tool_calls": [{"arguments": '{"q": "[REDACTED]"}'}]}],
    }
