"""``AgentWatcher``: tells a caller when the agent has replied and is quiet, from a LiveKit
``AgentSession`` in this process (``attach``) or from lkmon events (``observe``: an agent in
another process, over LiveKit's session protocol)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lkmon.model.events import (
    AgentStateChanged,
    ChatMessageAdded,
    Event,
    SpeechCreated,
    SpeechDone,
    UserTranscribed,
)

GREETING_WAIT = 30.0
"""Seconds at most ``AgentWatcher.observe`` holds the agent busy while its greeting is made.
Over the session protocol nothing says a reply is being made before it plays (no
``speech_created``), and LiveKit's session start reports ``listening`` over the ``thinking`` of a
greeting begun in ``on_enter`` (livekit-agents 1.8.9: ``initializing``, ``thinking``,
``listening``, then ``speaking`` 0.65 s later for ``agent_entry.py``; an agent that does not greet
goes from ``initializing`` to ``listening``)."""


class AgentWatcher:
    """Follows the session to tell when the agent has replied and is quiet.

    Subscribes (plain functions) to LiveKit ``agent_state_changed``, ``speech_created``,
    ``conversation_item_added`` and ``user_input_transcribed``. A reply is counted when a
    ``SpeechHandle`` that was scheduled is done (played, interrupted or cancelled); a preemptive
    generation that LiveKit threw away without scheduling it (``SpeechHandle.scheduled`` False)
    is no reply. ``idle`` means: agent state ``listening`` or ``idle`` and no speech handle
    pending (a preemptive one in flight counts as pending).

    Attributes:
        replies: scheduled speeches done.
        pending: speeches created and not done.
        user_turns: user messages added to the chat (a committed user turn).
        finals: final user transcripts.
    """

    def __init__(self) -> None:
        self.session: Any = None
        self.state = "initializing"
        self.replies = 0
        self.pending = 0
        self.user_turns = 0
        self.finals = 0
        self._idle_since: float | None = None
        self._opening_until: float | None = None  # observe: monotonic end of the opening hold

    _EVENTS = (
        "agent_state_changed",
        "speech_created",
        "conversation_item_added",
        "user_input_transcribed",
    )

    def attach(self, session: Any) -> None:
        """Start following ``session`` (a ``livekit.agents.AgentSession``)."""
        self.session = session
        self.state = session.agent_state
        self._update()
        for name, fn in zip(self._EVENTS, self._handlers(), strict=True):
            session.on(name, fn)

    def detach(self) -> None:
        """Stop following the session."""
        if self.session is not None:
            for name, fn in zip(self._EVENTS, self._handlers(), strict=True):
                self.session.off(name, fn)

    def _handlers(self) -> tuple[Callable[[Any], None], ...]:
        return (self._on_state, self._on_speech, self._on_item, self._on_transcribed)

    def has_llm(self) -> bool:
        """True when the running agent (or the session) has an LLM: a reply can follow."""
        session = self.session
        if session is None:
            return True
        try:
            llm = getattr(session.current_agent, "llm", None)
        except RuntimeError:  # no agent running yet
            llm = None
        if llm is None or type(llm).__name__ == "NotGiven":
            llm = getattr(session, "llm", None)
        return llm is not None

    def _on_state(self, ev: Any) -> None:
        self.state = ev.new_state
        self._update()

    def _on_speech(self, ev: Any) -> None:
        self.pending += 1
        ev.speech_handle.add_done_callback(self._on_speech_done)
        self._update()

    def _on_speech_done(self, handle: Any) -> None:
        self.pending -= 1
        if handle.scheduled:
            self.replies += 1
        self._update()

    def _on_item(self, ev: Any) -> None:
        if getattr(ev.item, "role", None) == "user":
            self.user_turns += 1

    def _on_transcribed(self, ev: Any) -> None:
        if ev.is_final and ev.transcript.strip():
            self.finals += 1

    def observe(self, event: Event) -> None:
        """Follow the session from lkmon events instead of a LiveKit session (an agent in
        another process, over the session protocol: ``lkmon.sources.ProtocolSource``):
        ``AgentStateChanged``, ``SpeechCreated`` / ``SpeechDone`` (a reply pending, then done),
        a user ``ChatMessageAdded`` and a final ``UserTranscribed``; other events are ignored.

        An agent ``thinking`` before its first ``listening`` is making its greeting: it counts
        as busy (the opening hold) until it first speaks, or for ``GREETING_WAIT`` seconds."""
        if isinstance(event, AgentStateChanged):
            self.state = event.new_state
            if event.new_state == "speaking":
                self._opening_until = 0.0  # the greeting speaks: no hold (or its end)
            elif self._opening_until is None and event.new_state == "thinking":
                self._opening_until = time.monotonic() + GREETING_WAIT
            elif self._opening_until is None and event.new_state in ("listening", "idle"):
                self._opening_until = 0.0  # listening first: no greeting in the making
        elif isinstance(event, SpeechCreated):
            self.pending += 1
        elif isinstance(event, SpeechDone):
            self.pending = max(0, self.pending - 1)
            if event.scheduled is not False:  # a discarded preemptive reply is no reply
                self.replies += 1
        elif isinstance(event, ChatMessageAdded) and event.role == "user":
            self.user_turns += 1
        elif isinstance(event, UserTranscribed) and event.is_final and event.text.strip():
            self.finals += 1
        else:
            return
        self._update()

    def _update(self) -> None:
        if not self.idle():
            self._idle_since = None
        elif self._idle_since is None:
            self._idle_since = time.monotonic()

    def idle(self) -> bool:
        """True when the agent neither thinks nor speaks, nor has a speech pending (nor, when
        observed, is still within its opening hold: ``observe``)."""
        opening = self._opening_until is not None and time.monotonic() < self._opening_until
        return self.state in ("listening", "idle") and self.pending <= 0 and not opening

    def quiet_for(self) -> float:
        """Seconds the agent has been idle without a break (0 when busy now)."""
        self._update()
        return 0.0 if self._idle_since is None else time.monotonic() - self._idle_since
