"""Joining events into turns by ``speech_id``, with fallbacks when the key is missing.

The order livekit-agents 1.8.9 emits for a spoken turn (voice/agent_activity.py):
``user_input_transcribed`` (final) -> ``speech_created`` (in ``_generate_reply``) -> EOUMetrics with
the reply's ``speech_id`` (end of ``_user_turn_completed_impl``) -> the user ``ChatMessage`` (added
inside the reply task, once the speech is scheduled) -> LLMMetrics / TTSMetrics (``speech_id`` set
from the speech's context) -> the assistant ``ChatMessage`` with its MetricsReport (after playout)
-> the ``SpeechHandle`` done callback. A tool call re-runs the reply task under the SAME speech
handle: several LLM metrics and possibly several assistant messages share one ``speech_id``.

The joiner does not depend on that order, which is LiveKit's internal business (and the bridge
shifts some events by a loop tick): any event naming a ``speech_id`` creates its turn if it is
the first; a user message that finds no turn waits for the next one (``userturn.PENDING_WINDOW``);
metrics, messages and ``SpeechDone`` join in any order; the user's turn ends at its EOU metric
or, when there is none (yet), at its spoken user message (``userturn.UserSide``), whichever comes
first (``tests/test_join_order.py`` checks each order, and no EOU metric at all). A typed turn
has no EOU metric and a user message without speech timings; a greeting has no user message.

Preemptive generation (on by default in 1.8.9): LiveKit starts a reply on a final transcript and
does not schedule it (``SpeechCreated.scheduled`` False). Such a reply is held apart from
``turns`` (``lkmon.model.preemptive``): kept when the user's turn ends with it (its EOU metric
names it, or it plays), it becomes that turn, marked ``preemptive``; thrown away (done, never
scheduled), it is folded into the user turn it anticipated as one of its ``discarded`` replies.
Journals from before lkmon 0.2 lack ``scheduled``: there a discarded reply is told by its shape.

An agent without an LLM (a transcriber: ``SessionStarted.models`` has no ``llm``) gets no
``speech_created`` at all; each final user transcript is a turn of ``kind="transcript"``.

``TurnJoiner`` is the part of ``SessionModel`` that owns ``turns``. Every join that had to guess
(no ``speech_id``) is counted in ``fallback_joins`` and noted in ``notes`` so it is never silent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from lkmon.model.events import (
    AgentHandedOff,
    AgentTranscript,
    ChatMessageAdded,
    ErrorRaised,
    PluginMetrics,
    SpeechCreated,
    SpeechDone,
    ToolCalled,
    UserTranscribed,
    VadActivity,
)
from lkmon.model.preemptive import PreemptiveReplies, looks_discarded
from lkmon.model.turns import Turn
from lkmon.model.userturn import UserSide

RECENT = 6
"""How many of the newest turns fallbacks look at."""
MAX_NOTES = 200


class TurnJoiner:
    """Owns the list of turns and the joins. Methods return True when turns changed.

    Attributes:
        turns: turns in creation order; ``turns[i].index == i + 1``.
        unjoined: plugin metrics that could not be joined to any turn (bounded).
        fallback_joins: number of joins made without a ``speech_id``.
        notes: one line per fallback or dropped join (bounded).
    """

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.by_speech: dict[str, Turn] = {}
        self.unjoined: deque[PluginMetrics] = deque(maxlen=500)
        self.fallback_joins = 0
        self.notes: deque[str] = deque(maxlen=MAX_NOTES)
        self._item_turn: dict[str, Turn] = {}
        self._playing: Turn | None = None
        self.recent = RECENT
        """How many of the newest turns fallbacks look at."""
        self.preemptive = PreemptiveReplies()
        self.user = UserSide(self)
        """The user's side: user messages, EOU and STT metrics, what waits for a turn."""
        self.speech = self.user.speech
        self.transcribe_only = False
        """True for an agent without an LLM: final transcripts make ``kind="transcript"`` turns."""
        self.on_rejoined: Callable[[str, Turn], None] | None = None
        """Called when ``SpeechDone`` moves an assistant item to another turn."""

    def restore(self, turn: Turn) -> None:
        """Append a turn rebuilt by a loader (a snapshot without its full event record)."""
        turn.index = len(self.turns) + 1
        self.turns.append(turn)
        if turn.speech_id is not None:
            self.by_speech[turn.speech_id] = turn

    # -- lookup ------------------------------------------------------------------------------

    def turn_by_speech_id(self, speech_id: str | None) -> Turn | None:
        """The turn of ``speech_id``, or ``None``."""
        if speech_id is None:
            return None
        return self.by_speech.get(speech_id)

    def _get_or_create(self, speech_id: str, ts: float) -> Turn:
        turn = self.by_speech.get(speech_id)
        if turn is None:
            turn = Turn(index=0, speech_id=speech_id, started_at=ts)
            turn.before_user_speech = not self.speech.spoke
            self.by_speech[speech_id] = turn
            self._append(turn, ts)
        return turn

    def _append(self, turn: Turn, ts: float) -> None:
        """Make ``turn`` the newest turn of ``turns``."""
        turns = self.turns
        turn.index = len(turns) + 1
        if len(turns) > RECENT and turns[-RECENT - 1].done:
            turns[-RECENT - 1].compact()  # past every fallback's reach: keep it lean
        turns.append(turn)
        self.user.adopt(turn, ts)

    def _promote(self, turn: Turn, ts: float) -> Turn:
        """A speculative (preemptive) reply was kept: it becomes a turn. Returns ``turn``."""
        if self.preemptive.release(turn.speech_id) is not None:
            self._append(turn, ts)
        return turn

    def _known(self, speech_id: str | None, ts: float, *, real: bool) -> Turn | None:
        """The turn (or speculative reply) of ``speech_id``; ``real`` promotes a speculative
        one, because the event shows the reply is the turn's (its EOU metric, its playback)."""
        if speech_id is None:
            return None
        turn = self.by_speech.get(speech_id)
        if turn is None:
            return self._get_or_create(speech_id, ts)
        if real and self.preemptive.is_held(speech_id):
            self._promote(turn, ts)
        return turn

    def _hold(self, turn: Turn) -> None:
        """Hold a preemptive reply apart from ``turns`` (``PreemptiveReplies.hold``)."""
        turn.index = 0
        evicted = self.preemptive.hold(turn)
        if evicted is not None:
            self.by_speech.pop(evicted, None)

    def _drop_turn(self, turn: Turn) -> None:
        """Take ``turn`` out of ``turns`` (an old journal's discarded reply) and renumber."""
        try:
            pos = self.turns.index(turn)
        except ValueError:
            return
        del self.turns[pos]
        for i in range(pos, len(self.turns)):
            self.turns[i].index = i + 1
        if self._playing is turn:
            self._playing = None

    def note(self, text: str) -> None:
        """Count a join made without a ``speech_id`` and say so in ``notes``."""
        self.fallback_joins += 1
        self.notes.append(text)

    def _active(self) -> Turn | None:
        """The turn being generated or played: the one playing, else the oldest not done."""
        playing = self._playing
        if playing is not None and not playing.done:
            return playing
        for turn in self.turns[-RECENT:]:
            if not turn.done:
                return turn
        return None

    # -- events --------------------------------------------------------------------------------

    def speech_created(self, ev: SpeechCreated) -> bool:
        """``speech_created``: create (or complete the lazily made) turn of ``ev.speech_id``;
        a preemptive (unscheduled) reply is held apart until it is kept or discarded."""
        turn = self.by_speech.get(ev.speech_id)
        if turn is None:
            turn = Turn(index=0, speech_id=ev.speech_id, started_at=ev.ts)
            turn.before_user_speech = not self.speech.spoke
            self.by_speech[ev.speech_id] = turn
            if ev.scheduled is False:
                self._hold(turn)
            else:
                self._append(turn, ev.ts)
        elif ev.scheduled is False and turn.index > 0:  # an event naming it came first
            if turn.has_eou or turn.user_message or turn.assistant_messages or turn.spoken_text:
                turn.preemptive = True  # kept already (its EOU metric, its messages)
            else:  # only its LLM/TTS metrics so far: a speculative reply, held apart
                self._drop_turn(turn)
                self._hold(turn)
        turn.started_at = ev.ts
        turn.source = ev.source
        turn.user_initiated = ev.user_initiated
        return turn.index > 0

    def speech_done(self, ev: SpeechDone) -> bool:
        """``SpeechHandle`` done: mark the turn done and re-link its items definitively; a
        preemptive reply that was never scheduled is discarded (folded into its user turn)."""
        turn = self.by_speech.get(ev.speech_id)
        if turn is not None and self.preemptive.is_held(ev.speech_id):
            if ev.scheduled or ev.item_ids:
                self._promote(turn, ev.ts)
            else:
                self.preemptive.release(ev.speech_id)
                turn.done = True
                turn.done_at = ev.ts
                turn.interrupted = True
                turn.recompute()
                self.preemptive.discard(turn, self.turns[-RECENT:])
                return False
        if turn is None:
            turn = self._get_or_create(ev.speech_id, ev.ts)
        turn.done = True
        turn.done_at = ev.ts
        if ev.interrupted:
            turn.interrupted = True
        if looks_discarded(ev, turn):  # a journal without `scheduled`: by its shape
            self._drop_turn(turn)
            turn.index = 0
            turn.preemptive = True
            turn.recompute()
            self.notes.append(
                f"speech {ev.speech_id}: taken for a discarded preemptive reply (no scheduled flag)"
            )
            self.preemptive.discard(turn, self.turns[-RECENT:])
            return True
        for item_id in ev.item_ids:
            owner = self._item_turn.get(item_id)
            if owner is None:
                self._item_turn[item_id] = turn  # the message comes later
                if len(self._item_turn) > 1000:  # items that never come (tool calls)
                    del self._item_turn[next(iter(self._item_turn))]
                continue
            if owner is not turn:
                moved = [m for m in owner.assistant_messages if m.item_id == item_id]
                owner.assistant_messages = [
                    m for m in owner.assistant_messages if m.item_id != item_id
                ]
                turn.assistant_messages.extend(moved)
                self._item_turn[item_id] = turn
                self.notes.append(f"assistant item {item_id} re-joined to turn {turn.index}")
                owner.recompute()
                if self.on_rejoined is not None:
                    self.on_rejoined(item_id, turn)
            self._item_turn.pop(item_id, None)
        if self._playing is turn:
            self._playing = None
        turn.recompute()
        return True

    def chat_message(self, ev: ChatMessageAdded) -> Turn | None:
        """A user or assistant ``ChatMessage``: join it; return its turn (``None`` if none)."""
        if ev.role == "user":
            return self.user.user_message(ev)
        if ev.role == "assistant":
            return self._assistant_message(ev)
        return None

    def transcript_message(self, ev: ChatMessageAdded) -> Turn | None:
        """For an agent without an LLM: the transcript turn a user message repeats."""
        return self.user.transcript_message(ev)

    def _assistant_message(self, ev: ChatMessageAdded) -> Turn | None:
        turn = self._item_turn.pop(ev.item_id, None)  # SpeechDone came first: definitive
        if turn is None:
            if ev.speech_id is not None:
                turn = self._known(ev.speech_id, ev.ts, real=True)
                assert turn is not None
            else:
                turn = self._active()
                if turn is None:
                    self.notes.append(f"assistant message {ev.item_id} joined to no turn")
                    return None
                self.note(f"assistant message {ev.item_id} without speech_id -> turn {turn.index}")
            self._item_turn[ev.item_id] = turn  # until SpeechDone confirms or corrects it
            if len(self._item_turn) > 1000:
                del self._item_turn[next(iter(self._item_turn))]
        turn.assistant_messages.append(ev)
        turn.recompute()
        return turn

    def agent_transcript(self, ev: AgentTranscript) -> Turn | None:
        """Agent text as spoken: remember the playing turn and its streamed text."""
        turn = self._known(ev.speech_id, ev.ts, real=True) if ev.speech_id else self._active()
        if turn is None:
            return None
        self._playing = turn
        if ev.text:
            turn.spoken_text += ev.text
        return turn

    def tool_called(self, ev: ToolCalled) -> Turn | None:
        """A tool call: join by ``speech_id``, else to the active turn."""
        turn = self._known(ev.speech_id, ev.ts, real=False)
        if turn is None:
            turn = self._active()
            if turn is None:
                self.notes.append(f"tool call {ev.name} joined to no turn")
                return None
            self.note(f"tool call {ev.name} without speech_id -> turn {turn.index}")
        turn.tool_calls.append(ev)
        return turn

    def handoff(self, ev: AgentHandedOff) -> Turn | None:
        """An agent handoff: join it to the turn that made it (by ``speech_id``, else the
        active turn); the session's first agent (no ``old_agent``) belongs to no turn."""
        if ev.old_agent is None:
            return None
        turn = self._known(ev.speech_id, ev.ts, real=False) or self._active()
        if turn is None and self.turns:
            turn = self.turns[-1]
        if turn is None:
            self.notes.append(f"handoff to {ev.new_agent} joined to no turn")
            return None
        turn.handoffs.append(ev)
        return turn

    # -- user speech (greetings; STT-only agents) ------------------------------------------------

    def vad_activity(self, ev: VadActivity) -> None:
        """Note user speech (``UserSpeech.vad``)."""
        self.speech.vad(ev)

    def user_transcribed(self, ev: UserTranscribed) -> Turn | None:
        """A user transcript: notes user speech; for an agent without an LLM, a final
        transcript becomes a ``kind="transcript"`` turn (returned)."""
        turn = self.user.user_transcribed(ev)
        if turn is None:
            return None
        self._append(turn, ev.ts)
        turn.recompute()
        return turn

    def metrics(self, ev: PluginMetrics) -> Turn | None:
        """An STT/EOU/LLM/TTS metric: join by ``speech_id``; STT by time; else an EOU metric
        to the newest turn that may have one, LLM/TTS to the active turn, or to no turn."""
        kind = ev.kind
        if kind == "stt":
            return self.user.stt_metric(ev)
        sid = ev.speech_id
        if sid is None and kind == "eou":
            turn = self.user.eou_without_id(ev)
            if turn is not None:
                turn.recompute()
            return turn
        if sid is not None:
            turn = self._known(sid, ev.ts, real=kind == "eou")
        else:
            turn = self._active()
            if turn is not None:
                self.note(f"{kind} metric without speech_id -> turn {turn.index}")
        if turn is None:
            self.unjoined.append(ev)
            self.notes.append(f"{kind} metric joined to no turn")
            return None
        if kind == "eou":
            self.user.eou(turn, ev)
        else:
            turn.plugin_metrics.append(ev)
        turn.recompute()
        return turn

    def error(self, ev: ErrorRaised) -> Turn | None:
        """An error: mark its turn failed (by ``speech_id``, else the active turn for LLM/TTS).

        STT and VAD errors hit the user's speech, not the reply that happens to be current (the
        bridge tags errors with ``AgentSession.current_speech``), so they fail no turn here. A
        recoverable STT error (LiveKit retries the recognition) waits, like STT metrics, for the
        EOU metric of the turn that answers that speech (within ``userturn.STT_ERROR_WINDOW`` s)
        and marks that turn failed then. An unrecoverable one means the speech was lost: no turn
        answers it, and the errors waiting for it are dropped (they stay in the error list).
        """
        if ev.source == "stt":
            self.user.stt_error(ev)
            return None
        if ev.source == "vad":
            return None
        turn = self.turn_by_speech_id(ev.speech_id)
        if turn is None and ev.speech_id is None and ev.source in ("llm", "tts", "livekit"):
            turn = self._active()
            if turn is not None:
                self.note(f"{ev.source} error without speech_id -> turn {turn.index}")
        if turn is None:
            return None
        turn.errors.append(ev)
        turn.failed = True
        return turn

