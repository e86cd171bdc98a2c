"""The model on a journal recorded from a real session, beside the hand-ordered scripts.

``tests/data/real_session_0870.journal.jsonl`` was written by lkmon 0.1.0 on livekit-agents
1.8.9 with the default agent on the offline models, a recording as the caller:

    lkmon run --headless --models local --output null \\
        --input tests/data/librivox_sense_0870.wav --journal real_session_0870.journal.jsonl

(a greeting, then one spoken user turn answered by a preemptive reply LiveKit kept). The figures
asserted here are the ones LiveKit measured in that session; the test checks that lkmon joins
them into the turns it shows, by LiveKit's own definitions, and keeps them through a snapshot.
Re-record it (same command, under the models lock) when the journal format or LiveKit's event
order changes, and update the figures below from the new file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lkmon.store.restore import load_session
from lkmon.store.snapshot import write_snapshot

JOURNAL = Path(__file__).parent / "data" / "real_session_0870.journal.jsonl"
TRANSCRIPT = (Path(__file__).parent / "data" / "librivox_transcription.txt").read_text()


def journal_lines() -> list[dict]:
    return [json.loads(line) for line in JOURNAL.read_text().splitlines()]


def messages(role: str) -> list[dict]:
    return [
        e for e in journal_lines()
        if e.get("type") == "conversation_item_added" and e.get("role") == role
    ]


def test_the_recorded_turns_and_their_figures() -> None:
    model = load_session(JOURNAL)
    assert model.session.session_id == journal_lines()[0]["session_id"]
    assert model.session.models == {
        "vad": "ONNX/silero",
        "stt": "faster-whisper/whisper-tiny.en",
        "llm": "llama.cpp/SmolLM2-135M-Instruct-Q4_1",
        "tts": "piper/en_US-joe-medium",
    }
    greeting, spoken = model.turns
    assert [t.speech_id for t in model.turns] == ["speech_dc71169061dc", "speech_80542b05f423"]
    # the greeting: a reply before any user speech, no user timings, no e2e latency
    assert greeting.user_text is None and greeting.before_user_speech
    assert greeting.metrics.e2e_latency is None and greeting.metrics.eou_delay is None
    assert greeting.metrics.llm_ttft == pytest.approx(0.0827, abs=1e-4)
    assert greeting.metrics.tts_ttfb == pytest.approx(0.1245, abs=1e-4)
    # the spoken turn: Whisper's words of the recording, LiveKit's figures
    assert spoken.user_text is not None
    words = spoken.user_text.lower().replace(".", "").replace("mr", "mister").split()
    assert " ".join(words) in TRANSCRIPT
    assert spoken.preemptive and not spoken.interrupted and spoken.complete
    m = spoken.metrics
    assert m.eou_delay == pytest.approx(0.5051, abs=1e-4)
    assert m.transcription_delay == pytest.approx(0.4974, abs=1e-4)
    assert m.llm_ttft == pytest.approx(0.1655, abs=1e-4)
    assert m.tts_ttfb == pytest.approx(0.1620, abs=1e-4)
    assert m.e2e_latency == pytest.approx(0.9466, abs=1e-4)
    assert (m.prompt_tokens, m.completion_tokens, m.llm_calls) == (56, 33, 1)


def test_figures_follow_livekits_definitions() -> None:
    """e2e latency is the agent's first audio minus the user's end of speech (LiveKit's
    ``e2e_latency``), and it holds the EOU delay; the turn's EOU delay is the user message's
    ``end_of_turn_delay``, which LiveKit's EOUMetrics of the same speech_id also reports."""
    spoken = load_session(JOURNAL).turns[1]
    m = spoken.metrics
    assert m.agent_started_speaking_at is not None and m.user_stopped_speaking_at is not None
    assert m.e2e_latency == pytest.approx(
        m.agent_started_speaking_at - m.user_stopped_speaking_at, abs=1e-3
    )
    assert m.eou_delay is not None and m.e2e_latency > m.eou_delay
    (user,) = messages("user")
    assert m.eou_delay == user["metrics"]["end_of_turn_delay"]
    eou = [
        e for e in journal_lines()
        if e.get("type") == "metrics_collected" and e.get("kind") == "eou"
    ]
    assert [e["speech_id"] for e in eou] == [spoken.speech_id]
    assert eou[0]["values"]["end_of_utterance_delay"] == pytest.approx(m.eou_delay)
    replies = messages("assistant")
    assert [r["speech_id"] for r in replies] == ["speech_dc71169061dc", spoken.speech_id]
    assert spoken.agent_text == replies[1]["text"]


def test_percentiles_and_usage_of_the_recorded_session() -> None:
    model = load_session(JOURNAL)
    summary = model.summary()
    assert summary.turns == 2
    assert summary["e2e"].p50 == pytest.approx(0.9466, abs=1e-4)  # only the spoken turn has one
    assert summary["llm_ttft"].max == pytest.approx(0.1655, abs=1e-4)
    assert summary.worst_turn == 2
    llm = [u for u in model.usage if u.kind == "llm"]
    assert sum(u.input_tokens for u in llm) == 39 + 56
    assert sum(u.output_tokens for u in llm) == 19 + 33
    assert model.total_cost() == 0  # the offline models cost nothing


def test_a_snapshot_of_it_keeps_every_figure(tmp_path: Path) -> None:
    model = load_session(JOURNAL)
    again = load_session(write_snapshot(model, tmp_path / "s.json"))
    assert [t.metrics for t in again.turns] == [t.metrics for t in model.turns]
    assert [(t.user_text, t.agent_text) for t in again.turns] == [
        (t.user_text, t.agent_text) for t in model.turns
    ]
    assert again.session.session_id == model.session.session_id
