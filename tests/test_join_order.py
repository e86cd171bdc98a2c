"""The joiner does not depend on the order LiveKit emits a turn's events in.

livekit-agents 1.8.9 emits, for a spoken turn, ``speech_created`` -> EOU metric -> user message
-> LLM/TTS metrics -> assistant message -> ``SpeechDone`` (``lkmon.model.join``), and the bridge
shifts some by a loop tick. Each scripted session here is replayed as LiveKit emits it and
reordered in the ways a release (or the bridge) could reorder it; the turns must come out the
same. Without EOU metrics at all (the session's deprecated ``metrics_collected`` gone) every
figure still comes from the chat messages and discarded preemptive replies still fold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import pytest
from synthetic import demo_session
from test_model_real_agents import eou, greeting, llm, reply, speech, t

from lkmon.model.events import (
    AgentHandedOff,
    ChatMessageAdded,
    Event,
    PluginMetrics,
    SpeechCreated,
    SpeechDone,
    ToolCalled,
    UserTranscribed,
)
from lkmon.model.state import SessionModel

Reorder = Callable[[list[Event]], list[Event]]


def _user(e: Event) -> bool:
    return isinstance(e, ChatMessageAdded) and e.role == "user"


def _eou(e: Event) -> bool:
    return isinstance(e, PluginMetrics) and e.kind == "eou"


def _move_back(events: list[Event], moving: Callable[[Event], bool],
               before: Callable[[Event], bool], reach: int = 8) -> list[Event]:
    """Each event ``moving`` goes just before the nearest earlier ``before`` event (within
    ``reach`` events, not past a ``SpeechDone``)."""
    out = list(events)
    i = 0
    while i < len(out):
        if moving(out[i]):
            for j in range(i - 1, max(i - reach, -1), -1):
                if isinstance(out[j], SpeechDone) or moving(out[j]):
                    break
                if before(out[j]):
                    out.insert(j, out.pop(i))
                    break
        i += 1
    return out


def user_before_eou(events: list[Event]) -> list[Event]:
    """The user message is added before the EOU metric is emitted."""
    return _move_back(events, _user, _eou)


def user_before_speech_created(events: list[Event]) -> list[Event]:
    """The user message is added before the reply's speech is created."""
    return _move_back(events, _user, lambda e: isinstance(e, SpeechCreated))


def eou_before_speech_created(events: list[Event]) -> list[Event]:
    """The EOU metric before ``speech_created`` (the bridge announces a speech a tick late)."""
    return _move_back(events, _eou, lambda e: isinstance(e, SpeechCreated))


def llm_before_speech_created(events: list[Event]) -> list[Event]:
    """A reply's first LLM metric before its ``speech_created`` (announced a tick late)."""
    out = list(events)
    for e in list(out):
        if isinstance(e, PluginMetrics) and e.kind == "llm" and e.speech_id:
            for j in range(out.index(e) - 1, -1, -1):
                c = out[j]
                if isinstance(c, SpeechCreated) and c.speech_id == e.speech_id:
                    out.insert(j, out.pop(out.index(e)))
                    break
                if isinstance(c, PluginMetrics) and c.speech_id == e.speech_id:
                    break
    return out


def plugin_metrics_late(events: list[Event]) -> list[Event]:
    """LLM/TTS metrics after the next assistant message or ``SpeechDone`` (read a tick late).
    Only those with a ``speech_id``: one without is joined by when it comes (to the active turn),
    so its place is its key."""
    out: list[Event] = []
    held: list[Event] = []
    for e in events:
        if isinstance(e, PluginMetrics) and e.kind in ("llm", "tts") and e.speech_id:
            held.append(e)
            continue
        out.append(e)
        if isinstance(e, SpeechDone) or isinstance(e, ChatMessageAdded) and e.role == "assistant":
            out += held
            held = []
    return out + held


def done_before_assistant_message(events: list[Event]) -> list[Event]:
    """``SpeechDone`` before the assistant message it lists."""
    return _move_back(events, lambda e: isinstance(e, SpeechDone),
                      lambda e: isinstance(e, ChatMessageAdded) and e.role == "assistant")


def all_of_them(events: list[Event]) -> list[Event]:
    for reorder in REORDERS[:-1]:
        events = reorder(events)
    return events


REORDERS: list[Reorder] = [user_before_eou, user_before_speech_created,
                           eou_before_speech_created, llm_before_speech_created,
                           plugin_metrics_late,
                           done_before_assistant_message, all_of_them]


def preemptive_kept_and_discarded() -> list[Event]:
    """A discarded preemptive reply, then a kept one (test_model_real_agents' first case)."""
    return [
        *greeting(), *speech(3, 3.0, 5.0),
        UserTranscribed(t(5.6), "he was not", True),
        SpeechCreated(t(5.6), "speech_p1", "generate_reply", True, scheduled=False),
        llm(5.9, "speech_p1", 0.25),
        *speech(6, 6.0, 8.0),
        SpeechDone(t(6.2), "speech_p1", True, [], scheduled=False),
        UserTranscribed(t(8.6), "he was not an ill disposed young man", True),
        SpeechCreated(t(8.6), "speech_p2", "generate_reply", True, scheduled=False),
        llm(8.9, "speech_p2", 0.3),
        eou(9.2, "speech_p2", 0.9, 0.6),
        *reply("speech_p2", 9.21, 8.0, ttft=0.3, e2e=1.6),
    ]


def preemptive_invalidated() -> list[Event]:
    """The preemptive reply is cancelled after the turn ended and a new reply made."""
    return [
        *greeting(), *speech(3, 3.0, 5.0),
        UserTranscribed(t(5.6), "what time is it", True),
        SpeechCreated(t(5.6), "speech_p1", "generate_reply", True, scheduled=False),
        eou(6.0, "speech_n", 0.7, 0.5),
        SpeechCreated(t(6.0), "speech_n", "generate_reply", True, scheduled=True),
        SpeechDone(t(6.05), "speech_p1", True, [], scheduled=False),
        llm(6.2, "speech_p1", 0.2),
        *reply("speech_n", 6.01, 5.0),
    ]


def handoff_with_a_tool() -> list[Event]:
    first = reply("speech_1", 5.71, 5.0, ttft=0.35, e2e=2.1)
    return [
        *greeting(), *speech(3, 3.0, 5.0),
        AgentHandedOff(t(0.05), "item_h0", None, "triage"),
        eou(5.7, "speech_1", 0.6, 0.4),
        SpeechCreated(t(5.7), "speech_1", "generate_reply", True, scheduled=True),
        first[0],
        llm(6.0, "speech_1", 0.5),
        ToolCalled(t(6.3), "call_1", "transfer_to_billing", "{}", "ok", False, "speech_1"),
        AgentHandedOff(t(6.31), "item_h1", "triage", "billing", "speech_1"),
        llm(6.6, "speech_1", 0.35),
        *first[2:],
    ]


SESSIONS: dict[str, Callable[[], list[Event]]] = {
    "demo": demo_session,
    "preemptive": preemptive_kept_and_discarded,
    "invalidated": preemptive_invalidated,
    "handoff": handoff_with_a_tool,
}


def turns_of(events: list[Event], *, eou_fields: bool = True) -> list[tuple[Any, ...]]:
    """What a reader sees of each turn: ids, texts, marks, joins and every figure (without
    ``eou_fields``, the EOU delay is the user message's ``end_of_turn_delay``: these scripts
    give the two different values, LiveKit the same)."""
    model = SessionModel()
    model.apply_many(events)
    rows = []
    for turn in model.turns:
        figures = {k: round(v, 6) for k, v in asdict(turn.metrics).items() if v is not None}
        if not eou_fields:
            figures.pop("eou_delay", None)
        row: tuple[Any, ...] = (
            turn.index, turn.speech_id, turn.kind, turn.user_text, turn.agent_text,
            turn.complete, turn.interrupted, turn.failed, turn.preemptive,
            [c.name for c in turn.tool_calls], [h.new_agent for h in turn.handoffs],
            [d.speech_id for d in turn.discarded], turn.measured, figures,
        )
        rows.append(row + ((turn.has_eou,) if eou_fields else ()))
    return rows


@pytest.mark.parametrize("reorder", REORDERS, ids=[r.__name__ for r in REORDERS])
@pytest.mark.parametrize("session", list(SESSIONS), ids=list(SESSIONS))
def test_turns_do_not_depend_on_the_order_of_events(session: str, reorder: Reorder) -> None:
    events = SESSIONS[session]()
    reordered = reorder(events)
    assert sorted(map(id, reordered)) == sorted(map(id, events))  # the same events
    assert turns_of(reordered) == turns_of(events)


@pytest.mark.parametrize("reorder", REORDERS, ids=[r.__name__ for r in REORDERS])
def test_each_reorder_changes_some_session(reorder: Reorder) -> None:
    assert any(reorder(make()) != make() for make in SESSIONS.values())


@pytest.mark.parametrize("session", list(SESSIONS), ids=list(SESSIONS))
def test_without_eou_metrics_the_figures_come_from_the_chat_messages(session: str) -> None:
    events = SESSIONS[session]()
    without = [e for e in events if not _eou(e)]
    assert len(without) < len(events)
    assert turns_of(without, eou_fields=False) == turns_of(events, eou_fields=False)
    model = SessionModel()
    model.apply_many(without)
    spoken = [t for t in model.turns if t.metrics.end_of_turn_delay is not None]
    assert spoken and all(t.metrics.eou_delay == t.metrics.end_of_turn_delay for t in spoken)
