"""The transcript: user and agent messages, tool calls and errors, in a bounded deque.

Agent text appears as it is spoken (``AgentTranscript`` deltas, an entry with ``interim=True``)
and is replaced by the assistant ``ChatMessage`` text when it arrives (what was heard, with the
unheard rest set apart for an interrupted reply). No textual or livekit import here.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from lkmon.model.events import (
    AgentTranscript,
    ChatMessageAdded,
    ErrorRaised,
    ToolCalled,
    UserTranscribed,
)
from lkmon.model.turns import Turn

MAX_TRANSCRIPT = 2000
"""Transcript entries kept in memory (the journal keeps them all)."""


@dataclass(slots=True, eq=False)
class TranscriptEntry:
    """One line of the transcript.

    Attributes:
        ts: epoch seconds (``ChatMessage.created_at`` when known).
        role: ``"user"``, ``"agent"``, ``"tool"`` or ``"system"``.
        text: the text (for an interrupted agent reply: what was heard).
        interim: True while the agent text is still being spoken (or user text is interim).
        interrupted: the agent reply was interrupted.
        unheard_text: the part of an interrupted reply that was not heard, when known.
        speech_id: the turn's ``speech_id``, when known.
        turn: the turn index, when joined.
        item_id: the ``ChatMessage.id``, once the message arrived.
    """

    ts: float
    role: str
    text: str
    interim: bool = False
    interrupted: bool = False
    unheard_text: str | None = None
    speech_id: str | None = None
    turn: int | None = None
    item_id: str | None = None


class TranscriptBook:
    """Builds ``entries`` from events; methods return True when the transcript changed.

    Attributes:
        entries: the bounded deque of ``TranscriptEntry`` (``SessionModel.transcript``).
        interim_user_text: final-but-unsent and interim user text while the user speaks.
    """

    def __init__(self, maxlen: int = MAX_TRANSCRIPT) -> None:
        self.entries: deque[TranscriptEntry] = deque(maxlen=maxlen)
        self.interim_user_text = ""
        self._finals = ""
        self._open_agent: dict[str | None, TranscriptEntry] = {}
        self._awaiting_message: dict[str | None, list[TranscriptEntry]] = {}
        self._unjoined_user: TranscriptEntry | None = None

    def user_transcribed(self, ev: UserTranscribed) -> None:
        """Interim or final user text: shown dimmed until the user ``ChatMessage`` arrives."""
        if ev.is_final:
            self._finals = f"{self._finals} {ev.text}".strip() if ev.text else self._finals
            self.interim_user_text = self._finals
        else:
            self.interim_user_text = f"{self._finals} {ev.text}".strip()

    def user_message(self, ev: ChatMessageAdded, turn: Turn | None) -> None:
        """The user's message: a user entry; clears the interim text."""
        self._finals = ""
        self.interim_user_text = ""
        entry = TranscriptEntry(
            ev.created_at or ev.ts,
            "user",
            ev.text,
            speech_id=turn.speech_id if turn else None,
            turn=turn.index if turn else None,
            item_id=ev.item_id,
        )
        self.entries.append(entry)
        self._unjoined_user = entry if turn is None else None

    def user_joined(self, ev: ChatMessageAdded, turn: Turn) -> None:
        """A user message was joined to ``turn`` after its entry was made (a pending join)."""
        entry = self._unjoined_user
        if entry is not None and entry.item_id == ev.item_id:
            entry.turn = turn.index
            entry.speech_id = turn.speech_id
            self._unjoined_user = None

    def agent_transcript(self, ev: AgentTranscript, turn: Turn | None) -> None:
        """A delta of agent text as spoken; ``final`` closes the entry."""
        sid = turn.speech_id if turn is not None else ev.speech_id
        entry = self._open_agent.get(sid)
        if entry is None:
            if ev.final and not ev.text:
                return
            entry = TranscriptEntry(
                ev.ts, "agent", "", interim=True, speech_id=sid, turn=turn.index if turn else None
            )
            self.entries.append(entry)
            self._open_agent[sid] = entry
            self._awaiting_message.setdefault(sid, []).append(entry)
        if ev.text:
            entry.text += ev.text
        if ev.final:
            entry.interim = False
            del self._open_agent[sid]

    def assistant_message(self, ev: ChatMessageAdded, turn: Turn | None) -> None:
        """The assistant message: fill the oldest entry of its speech waiting for a message."""
        sid = turn.speech_id if turn is not None else ev.speech_id
        waiting = self._awaiting_message.get(sid)
        if waiting:
            entry = waiting.pop(0)
            if not waiting:
                del self._awaiting_message[sid]
            if self._open_agent.get(sid) is entry:
                del self._open_agent[sid]
        else:
            entry = TranscriptEntry(ev.created_at or ev.ts, "agent", "")
            self.entries.append(entry)
        spoken = entry.text
        entry.text = ev.text
        entry.interim = False
        entry.interrupted = ev.interrupted
        entry.item_id = ev.item_id
        entry.speech_id = sid
        entry.turn = turn.index if turn is not None else None
        if ev.interrupted:
            rest = spoken.strip()
            heard = ev.text.strip()
            if rest.startswith(heard) and len(rest) > len(heard):
                entry.unheard_text = rest[len(heard) :].strip() or None

    def relink_item(self, turn: Turn, item_id: str) -> None:
        """Give the user entry of ``turn`` (a transcript turn) its chat item id."""
        for entry in reversed(self.entries):
            if entry.role == "user" and entry.turn == turn.index:
                entry.item_id = item_id
                return

    def relink(self, item_id: str, turn: Turn) -> None:
        """An assistant item moved to ``turn``: fix its entry (searched among the newest 50)."""
        for n, entry in enumerate(reversed(self.entries)):
            if n >= 50:
                break
            if entry.item_id == item_id:
                entry.turn = turn.index
                entry.speech_id = turn.speech_id
                return

    def speech_done(self, turn: Turn) -> None:
        """The speech ended: close its open entry and mark an interruption."""
        entry = self._open_agent.pop(turn.speech_id, None)
        if entry is not None:
            entry.interim = False
            if turn.interrupted:
                entry.interrupted = True
        self._awaiting_message.pop(turn.speech_id, None)

    def tool_called(self, ev: ToolCalled, turn: Turn | None) -> None:
        """A tool call: ``name(arguments) -> output``."""
        out = "(no output)" if ev.output is None else ev.output
        status = "error: " if ev.is_error else ""
        self.entries.append(
            TranscriptEntry(
                ev.ts,
                "tool",
                f"{ev.name}({ev.arguments}) -> {status}{out}",
                speech_id=turn.speech_id if turn else ev.speech_id,
                turn=turn.index if turn else None,
            )
        )

    def error(self, ev: ErrorRaised, turn: Turn | None) -> None:
        """An error, as a system line."""
        self.entries.append(
            TranscriptEntry(
                ev.ts,
                "system",
                f"error [{ev.source}]: {ev.message}",
                speech_id=ev.speech_id,
                turn=turn.index if turn else None,
            )
        )
