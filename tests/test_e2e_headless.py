"""The real thing: agent_entry.py on the offline models, headless, on real recordings.

``lkmon run agent_entry.py --models local --headless --input <3 LibriVox clips>`` in a
subprocess, with no network. Every utterance must become a user turn transcribed within 30 %
word error rate; every reply must carry e2e latency, LLM TTFT and TTS TTFB; usage must count; the
snapshot must hold it all.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jiwer
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
LKMON = str(Path(sys.executable).parent / "lkmon")
CLIPS = ["librivox_sense_0880", "librivox_sense_0890", "librivox_sense_0930"]

pytestmark = pytest.mark.models


def references() -> dict[str, str]:
    """Clip name -> reference transcript, from librivox_transcription.txt."""
    refs = {}
    for line in (DATA / "librivox_transcription.txt").read_text().splitlines():
        m = re.match(r"<s> (.*) </s> \(.*-(\d+)\)", line.strip())
        if m:
            refs[f"librivox_sense_{m.group(2)}"] = m.group(1)
    return refs


def normalise(text: str) -> str:
    text = text.lower().replace("-", " ")
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text).split())


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, Path]:
    tmp = tmp_path_factory.mktemp("e2e")
    export = tmp / "session.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    proc = subprocess.run(
        [
            LKMON,
            "run",
            str(ROOT / "agent_entry.py"),
            "--models",
            "local",
            "--headless",
            "--input",
            *[str(DATA / f"{c}.wav") for c in CLIPS],
            "--export",
            str(export),
            "--journal",
            str(tmp / "session.journal.jsonl"),
        ],
        cwd=tmp,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    return json.loads(export.read_text()), proc.stdout, tmp


def test_every_utterance_became_a_user_turn(session) -> None:
    snap, _, _ = session
    refs = references()
    user_turns = [t for t in snap["turns"] if t["user_text"]]
    assert len(user_turns) == len(CLIPS), [t["user_text"] for t in snap["turns"]]
    for clip, turn in zip(CLIPS, user_turns, strict=True):
        wer = jiwer.wer(normalise(refs[clip]), normalise(turn["user_text"]))
        assert wer <= 0.30, (clip, turn["user_text"], wer)


def test_every_reply_has_its_latencies(session) -> None:
    snap, _, _ = session
    replies = [t for t in snap["turns"] if t["user_text"]]
    for turn in replies:
        m = turn["metrics"]
        assert turn["complete"] and not turn["failed"] and turn["agent_text"]
        assert turn["speech_id"].startswith("speech_")
        for name in ("e2e_latency", "llm_ttft", "tts_ttfb", "eou_delay", "transcription_delay"):
            assert m[name] is not None and 0 < m[name] < 10, (turn["index"], name, m[name])
        assert m["prompt_tokens"] > 0 and m["completion_tokens"] > 0
        kinds = {p["kind"] for p in turn["plugin_metrics"]}
        assert {"eou", "llm", "tts"} <= kinds


def test_usage_counts_are_positive(session) -> None:
    snap, _, _ = session
    usage = {u["kind"]: u for u in snap["usage"]}
    assert usage["llm"]["provider"] == "llama.cpp"
    assert usage["llm"]["input_tokens"] > 0 and usage["llm"]["output_tokens"] > 0
    assert usage["tts"]["characters_count"] > 0 and usage["tts"]["audio_duration"] > 0
    assert usage["stt"]["audio_duration"] > 0


def test_the_snapshot_holds_it_all(session) -> None:
    snap, stdout, tmp = session
    assert snap["lkmon_snapshot"] == 5
    s = snap["session"]
    assert s["models"] == {
        "vad": "ONNX/silero",
        "stt": "faster-whisper/whisper-tiny.en",
        "llm": "llama.cpp/SmolLM2-135M-Instruct-Q4_1",
        "tts": "piper/en_US-joe-medium",
    }
    assert s["input"] == "wav: " + ", ".join(f"{c}.wav" for c in CLIPS)
    assert s["duration"] > sum([7.1, 5.3, 3.29]) * 0.5 and s["closed_at"] is not None
    types = {e["type"] for e in snap["events"]}
    assert {
        "session_started",
        "load_progress",
        "speech_created",
        "speech_done",
        "conversation_item_added",
        "metrics_collected",
        "vad",
        "session_usage_updated",
        "close",
    } <= types
    assert snap["vad"]  # VAD summary present
    # headless printed one line per completed turn and the p50/p95 table
    assert len(re.findall(r"^turn +\d+ ", stdout, re.M)) == len(snap["turns"])
    assert re.search(r"^ p50 ", stdout, re.M) and re.search(r"^ p95 ", stdout, re.M)
    assert (tmp / "session.journal.jsonl").stat().st_size > 0


def test_the_store_rows_are_the_snapshots_figures(session) -> None:
    """Issue 12's first "Done when": the rows ``lkmon run`` stored as the session went (the
    default store, ``lkmon-sessions/lkmon.db`` of the current folder) are the exported snapshot's
    figures for this real session (the local models on the recordings): per turn every stage
    figure (seconds, NULL where the snapshot has null), per chat message LiveKit's
    ``ChatMessage.metrics``, and the usage."""
    from lkmon.store.db import Store
    from lkmon.store.db.schema import MESSAGE_FIGURES, TURN_COUNTS, TURN_FIGURES

    snap, stdout, tmp = session
    sid = snap["session"]["session_id"]
    assert f"lkmon: stored session {sid} ({len(snap['turns'])} turns)" in stdout
    with Store(tmp / "lkmon-sessions" / "lkmon.db") as store:
        (row,) = store.sessions()
        turns = store.rows("turns", sid)
        messages = {m["item_id"]: m for m in store.rows("messages", sid)}
        usage = {(u["kind"], u["model"]): u for u in store.rows("usage", sid)}
    assert row["session_id"] == sid and row["turn_count"] == len(snap["turns"])
    assert row["close_reason"] == snap["session"]["close_reason"]
    assert [t["speech_id"] for t in turns] == [t["speech_id"] for t in snap["turns"]]
    spoken = 0
    for got, want in zip(turns, snap["turns"], strict=True):
        for name in TURN_FIGURES + TURN_COUNTS:
            assert got[name] == want["metrics"].get(name), (want["speech_id"], name)
        spoken += got["e2e_latency"] is not None and got["eou_delay"] is not None
    assert spoken == len(CLIPS)  # every utterance's turn has its e2e and EOU delay stored
    chat = [e for e in snap["events"] if e["type"] == "conversation_item_added"]
    assert len(chat) >= 2 * len(CLIPS)
    figures = 0
    for ev in chat:
        got = messages[ev["item_id"]]
        assert (got["role"], got["text"]) == (ev["role"], ev["text"])
        for name in MESSAGE_FIGURES:
            assert got[name] == (ev.get("metrics") or {}).get(name), name
            figures += got[name] is not None
    assert figures >= 4 * len(CLIPS)  # e2e, TTFT, TTFB of each reply, the user's EOU...
    for u in snap["usage"]:
        got = usage[(u["kind"], u["model"])]
        assert got["input_tokens"] == u.get("input_tokens")
        assert got["audio_duration"] == u.get("audio_duration")
