"""Nothing lost: kill -9 leaves a journal that replays; SIGINT/SIGTERM save the snapshot fast.

Real ``lkmon`` processes on real recordings (a real AgentSession with Silero VAD and the scripted
models of ``tests/data/agents/scripted_agent.py``), killed for real.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.models  # five recordings played in real time per run

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
LKMON = str(Path(sys.executable).parent / "lkmon")
SCRIPTED = str(DATA / "agents" / "scripted_agent.py")
WAVS = [str(DATA / f"librivox_sense_{n}.wav") for n in ("0880", "0930", "0880", "0930", "0880")]


def start(tmp_path: Path, journal: Path, export: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    return subprocess.Popen(
        [
            LKMON,
            "run",
            SCRIPTED,
            "--headless",
            "--input",
            *WAVS,
            "--journal",
            str(journal),
            "--export",
            str(export),
        ],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_turns(journal: Path, proc: subprocess.Popen[str], n: int, timeout: float = 60) -> None:
    """Wait until the journal holds ``n`` completed turns (SpeechDone lines)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count('"type":"speech_done"') >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"lkmon exited early: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no {n} turns within {timeout} s")


def test_kill_9_then_replay_recovers_every_completed_turn(tmp_path: Path) -> None:
    journal = tmp_path / "session.journal.jsonl"
    proc = start(tmp_path, journal, tmp_path / "never.json")
    wait_for_turns(journal, proc, 2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "never.json").exists()
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    done_ids = [
        json.loads(line)["speech_id"]
        for line in journal.read_text().splitlines()
        if '"type":"speech_done"' in line
    ]

    # a crash mid-write leaves a torn last line: it is skipped with a warning
    with journal.open("a") as f:
        f.write('{"ts":1,"type":"vad","event":"infer')
    out = tmp_path / "recovered.json"
    replay = subprocess.run(
        [LKMON, "replay", str(journal), "--export", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replay.returncode == 0, replay.stderr
    assert "Traceback" not in replay.stderr
    snap = json.loads(out.read_text())
    complete = [t for t in snap["turns"] if t["complete"]]
    assert [t["speech_id"] for t in complete][: len(done_ids)] == done_ids
    assert len(done_ids) >= 2
    for turn in complete[:2]:
        assert turn["user_text"].startswith("hello number")
        assert turn["agent_text"] == "Nice to hear you. Goodbye for now."
        m = turn["metrics"]
        assert m["e2e_latency"] > 0 and m["llm_ttft"] > 0 and m["tts_ttfb"] > 0
        assert m["eou_delay"] > 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_ends_gracefully_with_a_snapshot(tmp_path: Path, sig: signal.Signals) -> None:
    journal = tmp_path / "session.journal.jsonl"
    export = tmp_path / "out.json"
    proc = start(tmp_path, journal, export)
    wait_for_turns(journal, proc, 1)
    sent = time.monotonic()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=15)
    took = time.monotonic() - sent
    assert took < 5, took
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr + stdout
    assert f"lkmon: {sig.name}: ending the session" in stderr
    snap = json.loads(export.read_text())
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    assert snap["lkmon_snapshot"] == 5 and snap["session"]["closed_at"] is not None
    assert sum(t["complete"] for t in snap["turns"]) >= 1
    assert "p95" in stdout and f"lkmon: snapshot {export}" in stdout


def test_export_never_overwrites(tmp_path: Path) -> None:
    export = tmp_path / "out.json"
    export.write_text("earlier work")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    proc = subprocess.run(
        [LKMON, "run", SCRIPTED, "--headless", "--input", WAVS[0], "--export", str(export)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stderr
    assert export.read_text() == "earlier work"
    written = [p for p in tmp_path.glob("out-*.json")]
    assert len(written) == 1 and json.loads(written[0].read_text())["lkmon_snapshot"] == 5
