"""The conversation: turns joined by ``speech_id`` and the transcript, kept in step.

``Conversation`` wires a ``TurnJoiner`` (``lkmon.model.join``) to a ``TranscriptBook``
(``lkmon.model.transcript``) and folds the conversation events into both: user transcripts,
speeches, chat messages, agent transcripts, tool calls, handoffs and each reply's first audible
sample (``AgentAudible``, joined by ``lkmon.model.heard.HeardJoin``). Each method returns the
areas that changed; ``SessionModel`` (``lkmon.model.state``) dispatches these events here. No
textual or livekit import here.
"""

from __future__ import annotations

from collections import deque

from lkmon.model.areas import Area
from lkmon.model.events import (
    AgentAudible,
    AgentHandedOff,
    AgentTranscript,
    ChatMessageAdded,
    SpeechCreated,
    SpeechDone,
    ToolCalled,
    UserTranscribed,
)
from lkmon.model.heard import HeardJoin
from lkmon.model.join import TurnJoiner
from lkmon.model.transcript import MAX_TRANSCRIPT, TranscriptBook, TranscriptEntry
from lkmon.model.turns import Turn

__all__ = ["Conversation"]

_T = Area.TRANSCRIPT
_TURNS = Area.TURNS
_TT = frozenset({Area.TRANSCRIPT, Area.TURNS})


class Conversation:
    """The turns and the transcript of one session.

    Attributes:
        joiner: the ``TurnJoiner``; turns: its turns, ordered by ``index`` (1-based).
        book: the ``TranscriptBook``; transcript: its bounded deque of ``TranscriptEntry``.
        heard: the ``HeardJoin`` that gives each turn its ``AgentAudible``.

    Args:
        max_transcript: how many lines ``transcript`` keeps (the newest).
    """

    def __init__(self, max_transcript: int = MAX_TRANSCRIPT) -> None:
        self.joiner = TurnJoiner()
        self.turns: list[Turn] = self.joiner.turns
        self.book = TranscriptBook(max_transcript)
        self.transcript: deque[TranscriptEntry] = self.book.entries
        self.joiner.user.on_user_joined = self.book.user_joined
        self.joiner.on_rejoined = self.book.relink
        self.heard = HeardJoin()

    def user_transcribed(self, ev: UserTranscribed) -> tuple[Area, ...]:
        """Interim or final user text (for an STT-only agent, a final one is a turn)."""
        turn = self.joiner.user_transcribed(ev)
        if turn is not None:  # an STT-only agent: the final transcript is the turn
            self.book.user_message(
                ChatMessageAdded(ts=ev.ts, item_id=ev.item_id or "", role="user", text=ev.text),
                turn,
            )
            return (_T, _TURNS)
        self.book.user_transcribed(ev)
        return (_T,)

    def speech_created(self, ev: SpeechCreated) -> tuple[Area, ...]:
        """A reply was scheduled (or a preemptive one started)."""
        self.joiner.speech_created(ev)
        return (_TURNS,)

    def speech_done(self, ev: SpeechDone) -> frozenset[Area]:
        """A speech finished: its turn and transcript lines are closed."""
        self.joiner.speech_done(ev)
        turn = self.joiner.turn_by_speech_id(ev.speech_id)
        if turn is not None:
            self.book.speech_done(turn)
        return _TT

    def chat_message(self, ev: ChatMessageAdded) -> frozenset[Area]:
        """A user or assistant ``ChatMessage``: joined to its turn, shown in the transcript."""
        if ev.role == "user" and self.joiner.transcribe_only:
            turn = self.joiner.transcript_message(ev)
            if turn is not None:  # the message of a transcript turn: already shown
                self.book.relink_item(turn, ev.item_id)
                return _TT
        turn = self.joiner.chat_message(ev)
        if ev.role == "user":
            self.book.user_message(ev, turn)
        elif ev.role == "assistant":
            self.book.assistant_message(ev, turn)
            self.heard.attach(self.turns)  # the turn's playback start is known now
        return _TT

    def agent_audible(self, ev: AgentAudible) -> tuple[Area, ...]:
        """A reply's first audible sample (lkmon's own measurement): joined to its turn once
        the turn's playback start is known."""
        self.heard.add(ev)
        return (_TURNS,) if self.heard.attach(self.turns) else ()

    def agent_transcript(self, ev: AgentTranscript) -> tuple[Area, ...]:
        """Agent text as it is spoken."""
        turn = self.joiner.agent_transcript(ev)
        self.book.agent_transcript(ev, turn)
        return (_T,)

    def handoff(self, ev: AgentHandedOff) -> frozenset[Area]:
        """An agent handoff, kept with the turn that made it."""
        self.joiner.handoff(ev)
        return _TT

    def tool_called(self, ev: ToolCalled) -> frozenset[Area]:
        """A tool call, kept with its turn and shown in the transcript."""
        turn = self.joiner.tool_called(ev)
        self.book.tool_called(ev, turn)
        return _TT
