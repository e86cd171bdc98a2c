"""Agents written with the real ``livekit-plugins-openai`` classes, run by lkmon, offline.

Each agent file in ``tests/data/agents/openai_*.py`` uses ``openai.STT()``, ``openai.LLM()`` and
``openai.TTS()`` with their default options (and LiveKit's default AgentSession options: its
turn detector, preemptive generation on); ``OPENAI_BASE_URL`` points them at
``tests/openai_server.py`` (the ``openai_server`` fixture), which serves real HTTP (and the
realtime transcription websocket) from the offline models. Every agent runs once per module
under ``lkmon run AGENT --headless --input ... --output null --export snap.json``; the tests
assert on the snapshot what a user of lkmon expects to see.

Ground truth comes from LiveKit's own record and from the server, not from lkmon's joins:
LiveKit's committed user turns are its user ``ChatMessage`` items (``chat_message`` events,
role user, in the snapshot's event record); the replies, transcripts and tool calls that really
went over the wire are in the server's request log (``OpenAIServer.requests()``).

Utterances and pauses (measured on this machine with livekit-agents 1.8.9, Silero VAD with its
default ``min_silence_duration`` of 0.55 s, the default turn detector and endpointing):

* a recording of one clip is one user turn;
* two clips joined by a 0.3 s pause (0.4 s between the words) are ONE turn: the VAD never ends
  the speech, so the STT transcribes it as one segment;
* two clips joined by a 0.6 s pause (0.7 s between the words) are TWO turns, however the turn
  detector judges the first half: either the turn detector commits the first half during the
  pause (a complete sentence) and the second half is a new turn, or it waits and LiveKit
  commits the first half's transcript alone when the VAD ends the second half (the endpointing
  delay counts from the first stop, long gone). Then the second half's transcript arrives
  ("transcript arrives after turn has been committed", LiveKit's own warning), interrupts the
  reply to the first half and becomes a user turn of its own, whose ``EOUMetrics`` say
  ``end_of_utterance_delay=0.0, transcription_delay=0.0`` and whose ChatMessage carries no
  speaking times. The same happens with the realtime STT.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openai_fixture import LkmonRun, OpenAIServer, run_lkmon
from recordings import clip_path, join_with_pauses

pytestmark = pytest.mark.models


# -- what the snapshot says, and what LiveKit and the server say ----------------------------


def speech_turns(snap: dict[str, Any]) -> list[dict[str, Any]]:
    """lkmon's turns that answer user speech (a user text, not typed)."""
    return [t for t in snap["turns"] if t["user_text"] and not t["typed"]]


def livekit_user_turns(snap: dict[str, Any]) -> list[dict[str, Any]]:
    """The user ChatMessages LiveKit committed to the chat history (its user turns)."""
    return [e for e in snap["events"]
            if e["type"] == "conversation_item_added" and e["role"] == "user"]


def first_user_speech(snap: dict[str, Any]) -> float:
    """Epoch seconds of the first ``user_state`` change to speaking."""
    return min(
        e["ts"] for e in snap["events"]
        if e["type"] == "user_state_changed" and e["new_state"] == "speaking"
    )


def chat_replies(run: LkmonRun) -> list[dict[str, Any]]:
    """The server's chat completions of the run (log records)."""
    return [r for r in run.requests if r["path"] == "/v1/chat/completions"]


def describe(snap: dict[str, Any]) -> list[tuple[Any, ...]]:
    """A short view of the turns, for assertion messages."""
    return [
        (t["index"], t["speech_id"], t["greeting"], t["user_text"], t["agent_text"],
         t["metrics"]["eou_delay"], t["metrics"]["e2e_latency"])
        for t in snap["turns"]
    ]


# -- the acceptance checks, shared by the voice agents --------------------------------------


def check_turns_match_utterances(run: LkmonRun, utterances: int) -> None:
    snap = run.snapshot
    committed = livekit_user_turns(snap)
    assert len(committed) == utterances, (
        "LiveKit itself committed another number of user turns than the recordings hold "
        "(the fixture's expectation is wrong, not lkmon)",
        [e["text"] for e in committed],
    )
    turns = speech_turns(snap)
    assert len(turns) == utterances, describe(snap)
    assert [t["user_text"] for t in turns] == [e["text"] for e in committed], describe(snap)


def check_no_greeting_after_first_user_speech(run: LkmonRun, allowed: int = 0) -> None:
    snap = run.snapshot
    spoke = first_user_speech(snap)
    late = [t for t in snap["turns"] if t["greeting"] and t["started_at"] > spoke]
    assert len(late) <= allowed, describe(snap)


def check_no_zero_eou(run: LkmonRun) -> None:
    zero = [t for t in run.snapshot["turns"] if t["metrics"]["eou_delay"] == 0.0]
    assert not zero, ("an unknown EOU delay must be null, not 0.0", describe(run.snapshot))


def check_e2e_on_played_replies(run: LkmonRun) -> None:
    played = [
        t for t in speech_turns(run.snapshot)
        if t["metrics"]["agent_started_speaking_at"] is not None and t["agent_text"]
    ]
    assert played, describe(run.snapshot)
    missing = [t["index"] for t in played if not t["metrics"]["e2e_latency"]]
    assert not missing, ("no e2e latency on played replies", missing, describe(run.snapshot))
    for t in played:
        assert 0 < t["metrics"]["e2e_latency"] < 15, (t["index"], t["metrics"])


def check_cost_priced(run: LkmonRun, server: OpenAIServer) -> None:
    snap = run.snapshot
    provider = f"127.0.0.1:{server.port}"  # livekit-plugins-openai labels usage with host:port
    rows = [u for u in snap["usage"] if u["provider"] == provider]
    assert rows, snap["usage"]
    unpriced = [(u["kind"], u["model"]) for u in rows if u["cost"] is None]
    assert not unpriced, ("openai usage rows without a cost", unpriced, snap["usage"])
    assert snap["cost"]["total"] is not None, snap["cost"]


# -- openai_voice_tools.py: STT, LLM with function tools, TTS; a greeting -------------------

TOOLS_UTTERANCES = 4
"""goforward.wav (1), 0880+0.3 s+0930 (1: one VAD segment), 0880+0.6 s+0930 (2, see above)."""


@pytest.fixture(scope="module")
def tools_run(openai_server: OpenAIServer, tmp_path_factory: pytest.TempPathFactory) -> LkmonRun:
    tmp = tmp_path_factory.mktemp("openai_tools")
    one = join_with_pauses(
        ["librivox_sense_0880", "librivox_sense_0930"], [0.3], tmp / "pause_0.3s.wav")
    two = join_with_pauses(
        ["librivox_sense_0880", "librivox_sense_0930"], [0.6], tmp / "pause_0.6s.wav")
    return run_lkmon(
        openai_server, "openai_voice_tools.py", [clip_path("goforward"), one.path, two.path], tmp
    )


def test_tools_greets_first(tools_run: LkmonRun) -> None:
    first = tools_run.snapshot["turns"][0]
    assert first["greeting"] and first["agent_text"], describe(tools_run.snapshot)
    assert first["started_at"] < first_user_speech(tools_run.snapshot)


def test_tools_turns_match_utterances(tools_run: LkmonRun) -> None:
    check_turns_match_utterances(tools_run, TOOLS_UTTERANCES)


def test_tools_no_greeting_after_first_user_speech(tools_run: LkmonRun) -> None:
    check_no_greeting_after_first_user_speech(tools_run)


def test_tools_no_zero_eou(tools_run: LkmonRun) -> None:
    check_no_zero_eou(tools_run)


def test_tools_e2e_on_played_replies(tools_run: LkmonRun) -> None:
    check_e2e_on_played_replies(tools_run)


def test_tools_cost_priced(tools_run: LkmonRun, openai_server: OpenAIServer) -> None:
    check_cost_priced(tools_run, openai_server)


def test_tools_tool_call_in_its_turn(tools_run: LkmonRun) -> None:
    snap = tools_run.snapshot
    with_calls = [t for t in snap["turns"] if t["tool_calls"]]
    assert len(with_calls) == 1, describe(snap)
    turn = with_calls[0]
    assert "forward" in turn["user_text"].lower()
    (call,) = turn["tool_calls"]
    assert call["name"] == "go_forward" and json.loads(call["arguments"]) == {"meters": 10}
    assert call["output"] == "Moved forward 10 meters." and not call["is_error"]
    assert "Moved forward 10 meters" in (turn["agent_text"] or "")
    # over the wire: one scripted tool call, then the reply after its output
    kinds = [r["info"]["kind"] for r in chat_replies(tools_run) if r["status"] == 200]
    assert kinds.count("tool_call") == 1 and kinds.count("tool_result") == 1, kinds


# -- openai_streaming_stt.py: openai.STT(use_realtime=True) ---------------------------------


@pytest.fixture(scope="module")
def realtime_run(
    openai_server: OpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> LkmonRun:
    tmp = tmp_path_factory.mktemp("openai_realtime")
    # a 0.45 s gap inside the second utterance: longer than the server's 350 ms silence (it
    # commits "Go forward 10 meters." on its own) and shorter than Silero's 0.55 s (LiveKit's
    # user turn goes on). LiveKit starts a preemptive reply on that first final transcript and
    # throws it away when the second one comes: measured twice, one discarded reply each time.
    paused = join_with_pauses(["goforward", "something"], [0.35], tmp / "pause_0.35s.wav")
    clips = [clip_path("librivox_sense_0880"), paused.path]
    return run_lkmon(openai_server, "openai_streaming_stt.py", clips, tmp)


def test_realtime_uses_the_websocket(realtime_run: LkmonRun) -> None:
    (ws,) = [r for r in realtime_run.requests if r["path"] == "/v1/realtime"]
    assert ws["status"] == 101 and ws["info"]["intent"] == "transcription"
    assert ws["info"]["events"].get("input_audio_buffer.append", 0) > 100
    texts = [s["text"] for s in ws["info"]["segments"]]
    assert len(texts) == 3  # the server split the second utterance at its pause
    turns = [t["user_text"] for t in speech_turns(realtime_run.snapshot)]
    assert " ".join(turns) == " ".join(texts)
    assert not [r for r in realtime_run.requests if r["path"] == "/v1/audio/transcriptions"]


def test_realtime_discarded_preemptive_reply_is_no_turn(realtime_run: LkmonRun) -> None:
    """0.1 made the discarded speculative reply a turn of its own ("(no user turn)", greeting,
    interrupted) and put its TTFT in the percentiles."""
    snap = realtime_run.snapshot
    turns = snap["turns"]
    assert all(t["user_text"] for t in turns), describe(snap)  # no turn without a user turn
    discarded = [d for t in turns for d in t["discarded"]]
    assert len(discarded) >= 1 and snap["session"]["discarded_reply_count"] == len(discarded)
    owner = next(t for t in turns if t["discarded"])
    assert owner["user_text"].lower().startswith("go forward"), describe(snap)
    assert all(d["started_at"] < owner["metrics"]["agent_started_speaking_at"] for d in discarded)
    assert {d["speech_id"] for d in discarded}.isdisjoint(t["speech_id"] for t in turns)
    # the journal shows LiveKit's own view: every discarded speech was never scheduled
    done = {e["speech_id"]: e for e in snap["events"] if e["type"] == "speech_done"}
    assert all(done[d["speech_id"]]["scheduled"] is False for d in discarded)
    assert snap["summary"]["stages"]["llm_ttft"]["count"] == sum(
        1 for t in turns if t["metrics"]["llm_ttft"] is not None)


def test_realtime_turns_match_utterances(realtime_run: LkmonRun) -> None:
    check_turns_match_utterances(realtime_run, 2)


def test_realtime_no_greeting_after_first_user_speech(realtime_run: LkmonRun) -> None:
    check_no_greeting_after_first_user_speech(realtime_run)


def test_realtime_no_zero_eou(realtime_run: LkmonRun) -> None:
    check_no_zero_eou(realtime_run)


def test_realtime_e2e_on_played_replies(realtime_run: LkmonRun) -> None:
    check_e2e_on_played_replies(realtime_run)


def test_realtime_cost_priced(realtime_run: LkmonRun, openai_server: OpenAIServer) -> None:
    check_cost_priced(realtime_run, openai_server)


# -- openai_handoff.py: a function tool returns the next Agent -------------------------------


@pytest.fixture(scope="module")
def handoff_run(
    openai_server: OpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> LkmonRun:
    tmp = tmp_path_factory.mktemp("openai_handoff")
    clips = [clip_path("something"), clip_path("librivox_sense_0930")]
    return run_lkmon(openai_server, "openai_handoff.py", clips, tmp)


def test_handoff_appears_in_its_turn(handoff_run: LkmonRun) -> None:
    snap = handoff_run.snapshot
    (turn,) = [t for t in snap["turns"] if t["tool_calls"]]
    assert [c["name"] for c in turn["tool_calls"]] == ["go_somewhere"]
    assert "somewhere" in turn["user_text"].lower()
    # LiveKit records the switch as an AgentHandoff item (old_agent_id "receptionist",
    # new_agent_id "travel_agent"); the turn that made it must show it
    others = [t for t in snap["turns"] if t is not turn]
    assert "travel_agent" in json.dumps(turn), ("the handoff is not in its turn", turn)
    assert not any("travel_agent" in json.dumps(t) for t in others)


def test_handoff_turns_match_utterances(handoff_run: LkmonRun) -> None:
    check_turns_match_utterances(handoff_run, 2)


def test_handoff_no_greeting_after_first_user_speech(handoff_run: LkmonRun) -> None:
    # the travel agent's on_enter reply is the only agent-initiated turn after user speech
    check_no_greeting_after_first_user_speech(handoff_run, allowed=1)


def test_handoff_no_zero_eou(handoff_run: LkmonRun) -> None:
    check_no_zero_eou(handoff_run)


def test_handoff_e2e_on_played_replies(handoff_run: LkmonRun) -> None:
    check_e2e_on_played_replies(handoff_run)


def test_handoff_cost_priced(handoff_run: LkmonRun, openai_server: OpenAIServer) -> None:
    check_cost_priced(handoff_run, openai_server)


# -- openai_text_only.py and openai_legacy_text_only.py: typed in, text out, no TTS ---------

TYPED = ["Hello, who are you?", "Tell me a joke about cats."]


@pytest.fixture(scope="module", params=["openai_text_only.py", "openai_legacy_text_only.py"])
def text_run(
    request: pytest.FixtureRequest,
    openai_server: OpenAIServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> LkmonRun:
    tmp = tmp_path_factory.mktemp(Path(request.param).stem)
    return run_lkmon(
        openai_server, request.param, ["text"], tmp, stdin="\n".join(TYPED) + "\n"
    )


def test_text_every_reply_in_the_snapshot(text_run: LkmonRun) -> None:
    snap = text_run.snapshot
    typed = [t for t in snap["turns"] if t["typed"]]
    assert [t["user_text"] for t in typed] == TYPED, describe(snap)
    replies = chat_replies(text_run)
    # the replies were streamed to the end, not cut off
    assert [r["status"] for r in replies] == [200] * len(TYPED), replies
    sent = [r["info"]["text"] for r in replies]
    assert all(sent), replies
    assert [t["agent_text"] for t in typed] == sent, describe(snap)
    agent_lines = [e["text"] for e in snap["transcript"] if e["role"] == "agent"]
    assert all(any(s in line for line in agent_lines) for s in sent), snap["transcript"]


def test_text_no_tts_node_error(text_run: LkmonRun) -> None:
    # LiveKit's own error when a reply is sent to audio with no TTS: "`tts_node` called but no
    # TTS node is available"
    assert "no TTS node" not in json.dumps(text_run.snapshot)
    assert "no TTS node" not in text_run.stderr + text_run.stdout
    assert not text_run.snapshot["errors"], text_run.snapshot["errors"]


def test_text_cost_priced(text_run: LkmonRun, openai_server: OpenAIServer) -> None:
    check_cost_priced(text_run, openai_server)


# -- openai_stt_only.py: a transcriber (STT and VAD, no LLM, no TTS) -------------------------


@pytest.fixture(scope="module")
def stt_only_run(
    openai_server: OpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> LkmonRun:
    tmp = tmp_path_factory.mktemp("openai_stt_only")
    # one recording, two utterances (1.5 s apart: two VAD segments, two transcriptions); one
    # recording because lkmon's caller waits for a reply to each one (30 s without)
    rec = join_with_pauses(["something", "librivox_sense_0930"], [1.5], tmp / "two.wav")
    return run_lkmon(openai_server, "openai_stt_only.py", [rec.path], tmp)


def test_stt_only_every_transcript_with_its_delay(stt_only_run: LkmonRun) -> None:
    snap = stt_only_run.snapshot
    said = [
        r["info"]["text"] for r in stt_only_run.requests
        if r["path"] == "/v1/audio/transcriptions" and r["info"].get("text")
    ]
    assert len(said) == 2, stt_only_run.requests
    finals = [e for e in snap["transcript"] if e["role"] == "user" and not e["interim"]]
    assert [e["text"] for e in finals] == said, snap["transcript"]
    for text, entry in zip(said, finals, strict=True):
        delays = [entry.get("transcription_delay")] + [
            t["metrics"]["transcription_delay"] for t in snap["turns"] if t["user_text"] == text
        ]
        known = [d for d in delays if d is not None]
        assert known and 0 < known[0] < 5, ("no transcription delay for", text, entry)


def test_stt_only_cost_priced(stt_only_run: LkmonRun, openai_server: OpenAIServer) -> None:
    check_cost_priced(stt_only_run, openai_server)


# -- openai_structured.py: response_format, the reply parsed out of the JSON ----------------


@pytest.fixture(scope="module")
def structured_run(
    openai_server: OpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> LkmonRun:
    tmp = tmp_path_factory.mktemp("openai_structured")
    return run_lkmon(
        openai_server, "openai_structured.py", [clip_path("librivox_sense_0880")], tmp
    )


def test_structured_reply_is_the_response_field(structured_run: LkmonRun) -> None:
    (chat,) = [r for r in chat_replies(structured_run) if r["status"] == 200]
    assert chat["info"]["kind"] == "json"
    reply = json.loads(chat["info"]["text"])
    (turn,) = speech_turns(structured_run.snapshot)
    assert turn["agent_text"] == reply["response"], describe(structured_run.snapshot)
    spoken = [r["info"] for r in structured_run.requests if r["path"] == "/v1/audio/speech"]
    assert " ".join(s["text"] for s in spoken) == reply["response"]
    assert spoken[-1]["instructions"] == reply["voice_instructions"]


def test_structured_turns_match_utterances(structured_run: LkmonRun) -> None:
    check_turns_match_utterances(structured_run, 1)


def test_structured_no_zero_eou(structured_run: LkmonRun) -> None:
    check_no_zero_eou(structured_run)


def test_structured_e2e_on_played_replies(structured_run: LkmonRun) -> None:
    check_e2e_on_played_replies(structured_run)


def test_structured_cost_priced(structured_run: LkmonRun, openai_server: OpenAIServer) -> None:
    check_cost_priced(structured_run, openai_server)



EOU_PARTS_TOLERANCE = 0.01
"""Seconds: the EOU parts (from LiveKit's spans) add up to LiveKit's EOU delay within this (the
span ends a few microseconds after LiveKit computes ``end_of_turn_delay``)."""


def test_tools_eou_parts_add_up_to_livekits_eou_delay(tools_run: LkmonRun) -> None:
    """LiveKit's spans are captured in-process and journaled; replayed, every spoken turn with
    an EOU delay gets its parts, which add up to that delay, with the turn detector's
    predictions (this agent runs one)."""
    from lkmon.model.state import SessionModel
    from lkmon.store.events import decode

    spans = [e for e in tools_run.journal if e.get("type") == "otel_span"]
    names = {e["name"] for e in spans}
    assert {"user_turn", "eou_wait", "eou_detection", "on_user_turn_completed"} <= names, names
    assert not any(k.startswith("lk.pii.") for e in spans for k in e["attributes"])
    model = SessionModel()
    model.apply_many(decode(e) for e in tools_run.journal if "type" in e)
    timed = [t for t in model.turns if t.metrics.eou_delay is not None]
    assert timed, describe(tools_run.snapshot)
    for turn in timed:
        parts = turn.eou_parts
        assert parts is not None, f"turn {turn.index}: no EOU parts"
        seg = parts.segments()
        total = sum(seg[k] or 0.0 for k in ("silence", "transcript", "decision"))
        assert abs(total - turn.metrics.eou_delay) <= EOU_PARTS_TOLERANCE, (turn.index, seg)
        assert parts.vad_silence is not None and 0.2 < parts.vad_silence < 1.0, parts
        assert parts.endpointing_delay is not None and parts.hook is not None
        assert any(p.committed and p.probability is not None for p in parts.predictions), parts
