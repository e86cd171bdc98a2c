"""``lkmon run --headless`` and ``lkmon replay`` through the real console script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
LKMON = str(Path(sys.executable).parent / "lkmon")
SCRIPTED = DATA / "agents" / "scripted_agent.py"
WAV = str(DATA / "librivox_sense_0880.wav")


def run(
    args: list[str],
    cwd: Path,
    *,
    stdin: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    full_env.update(env or {})
    return subprocess.run(
        [LKMON, *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_python_m_lkmon(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "lkmon", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and re.fullmatch(r"lkmon \d+\.\d+\.\d+\n", proc.stdout)


def test_typed_turns_from_stdin(tmp_path: Path) -> None:
    proc = run(
        [
            "run",
            str(SCRIPTED),
            "--headless",
            "--input",
            "text",
            "--export",
            str(tmp_path / "s.json"),
            "--gap",
            "0.2",
        ],
        tmp_path,
        stdin="hello there\n\nwhat time is it\n",
    )
    assert proc.returncode == 0, proc.stderr
    lines = re.findall(r"^turn +(\d+) +(speech_\w+) +user: (.*?)  e2e latency (\S+)",
                       proc.stdout, re.M)
    assert [(n, user, e2e) for n, _, user, e2e in lines] == [
        ("1", "hello there", "-"),
        ("2", "what time is it", "-"),  # typed: no e2e latency
    ]
    turn_lines = [line for line in proc.stdout.splitlines() if line.startswith("turn ")]
    assert "tools:" not in turn_lines[0]
    assert turn_lines[1].endswith("  tools: current_time")  # the scripted LLM calls it
    snap = json.loads((tmp_path / "s.json").read_text())
    assert [t["user_text"] for t in snap["turns"]] == ["hello there", "what time is it"]
    assert all(t["metrics"]["llm_ttft"] > 0 for t in snap["turns"])
    # --gap 0.2: the second line went 0.2-0.9 s after the first reply ended (the default: 1 s)
    first_done = snap["turns"][0]["done_at"]
    asked = [e["created_at"] for e in snap["events"] if e["type"] == "conversation_item_added"
             and e.get("role") == "user"][1]
    assert 0.2 <= asked - first_done < 0.9, asked - first_done
    # the journal's default place, printed at start
    journal = re.search(r"^lkmon: journal (\S+)$", proc.stdout, re.M)
    assert journal and (tmp_path / journal.group(1)).is_file()
    assert journal.group(1).startswith("lkmon-sessions/")


@pytest.mark.models  # replies played in real time (test_secrets_e2e scans in the fast lane)
def test_secrets_never_reach_any_file(tmp_path: Path) -> None:
    """Planted secrets (environment and .env), spoken by the agent and logged: all redacted."""
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    agent = agent_dir / "agent.py"
    agent.write_text(SCRIPTED.read_text())
    (agent_dir / ".env").write_text("PLAIN_SETTING=dotenv-value-7f3a91\n")
    env_secret = "sk-live-93b1c0de55aa"
    reply = f"The token is {env_secret} and the setting is dotenv-value-7f3a91 ok."
    proc = run(
        [
            "run",
            str(agent),
            "--headless",
            "--input",
            "text",
            "--gap",
            "0.3",
            "--export",
            str(tmp_path / "out.json"),
        ],
        tmp_path,
        stdin="what is the token\n",
        env={"ACME_API_KEY": env_secret, "SCRIPTED_REPLY": reply},
    )
    assert proc.returncode == 0, proc.stderr
    written = list((tmp_path / "lkmon-sessions").iterdir()) + [tmp_path / "out.json"]
    assert len(written) >= 2
    assert (tmp_path / "lkmon-sessions" / "lkmon.db").is_file()  # the store is scanned too
    for f in written:
        text = f.read_bytes().decode("utf-8", errors="replace")
        assert env_secret not in text and "dotenv-value-7f3a91" not in text, f
        assert "[REDACTED]" in text
        assert f.stat().st_mode & 0o077 == 0  # 0600


@pytest.mark.models  # replies played in real time (the console script's run is in the fast lane)
def test_redact_keeps_lengths_and_timings(tmp_path: Path) -> None:
    proc = run(
        [
            "run",
            str(SCRIPTED),
            "--headless",
            "--input",
            "text",
            "--gap",
            "0.3",
            "--redact",
            "--export",
            str(tmp_path / "r.json"),
        ],
        tmp_path,
        stdin="my secret plan\n",
    )
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "r.json").read_text()
    assert "my secret plan" not in text and "Nice to hear you" not in text
    turn = json.loads(text)["turns"][0]
    assert len(turn["user_text"]) == len("my secret plan")
    assert turn["metrics"]["llm_ttft"] > 0


@pytest.mark.models  # a recording in real time
def test_replay_export_round_trip(tmp_path: Path) -> None:
    first = tmp_path / "first.json"
    proc = run(
        ["run", str(SCRIPTED), "--headless", "--input", WAV, "--gap", "0.3", "--export",
         str(first)], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    again = tmp_path / "again.json"
    proc = run(["replay", str(first), "--export", str(again)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    a, b = json.loads(first.read_text()), json.loads(again.read_text())
    assert [t["speech_id"] for t in a["turns"]] == [t["speech_id"] for t in b["turns"]]
    assert a["turns"][0]["metrics"] == b["turns"][0]["metrics"]
    assert a["turns"][0]["metrics"]["e2e_latency"] > 0


def test_replay_export_into_a_folder(tmp_path: Path) -> None:
    """--export DIR/ creates the folder and writes a time-stamped snapshot into it, never over
    another; an existing folder without the slash works the same."""
    from lkmon.model.state import SessionModel
    from lkmon.store.snapshot import write_snapshot
    from tests.synthetic import demo_session

    model = SessionModel()
    model.apply_many(demo_session())
    snap = write_snapshot(model, tmp_path / "s.json")
    for arg in ("newdir/", "newdir/", "newdir"):
        proc = run(["replay", str(snap), "--export", arg], tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert re.fullmatch(r"lkmon: 8 turns -> newdir/lkmon-\d{8}-\d{6}(-\d+)?\.snapshot\.json\n",
                            proc.stdout), proc.stdout
    assert (tmp_path / "newdir").is_dir()
    written = sorted((tmp_path / "newdir").iterdir())
    assert len(written) == 3
    for f in written:
        assert len(json.loads(f.read_text())["turns"]) == 8


@pytest.mark.models  # replies played in real time
def test_run_export_and_journal_into_a_folder(tmp_path: Path) -> None:
    proc = run(
        ["run", str(SCRIPTED), "--headless", "--input", "text", "--gap", "0.3", "--export",
         "out/", "--journal", "out/"],
        tmp_path,
        stdin="hello there\n",
    )
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(names) == 2, names
    assert re.fullmatch(r"lkmon-\d{8}-\d{6}\.journal\.jsonl", names[0])
    assert re.fullmatch(r"lkmon-\d{8}-\d{6}\.snapshot\.json", names[1])
    assert f"lkmon: snapshot out/{names[1]}" in proc.stdout
    snap = json.loads((tmp_path / "out" / names[1]).read_text())
    assert [t["user_text"] for t in snap["turns"]] == ["hello there"]


def test_a_repeated_input_adds_its_recordings_in_order() -> None:
    """``--input a.wav --input b.wav`` is both recordings, as ``--input a.wav b.wav`` is; before,
    argparse kept the last ``--input`` alone and the first recording was silently dropped."""
    from lkmon.cli import build_parser

    parser = build_parser()
    repeated = parser.parse_args(["run", "--input", "a.wav", "--input", "b.wav", "c.wav"])
    assert repeated.input == ["a.wav", "b.wav", "c.wav"]
    assert parser.parse_args(["run", "--input", "a.wav", "b.wav"]).input == ["a.wav", "b.wav"]
    assert parser.parse_args(["run"]).input is None  # the default (mic, else text) applies
