"""The snapshot format, defined once: pydantic v2 models of the whole document.

``Snapshot`` validates, parses and dumps a snapshot (``Snapshot.model_validate_json(raw)``,
``snap.model_dump_json()``); the JSON Schema ``lkmon/store/snapshot.schema.json`` is generated
from these models (``python -m lkmon.store.format`` rewrites it; a test checks it is current) and
``docs/snapshot-format.md`` describes the meaning of each key. The models accept every format
this lkmon reads (1 to ``SNAPSHOT_VERSION``): keys added after format 1 have defaults.

Conventions: times are epoch seconds, durations seconds, tokens tokens, characters characters;
a figure that is unknown is ``None`` (``null``), never 0. Unknown keys are ignored (a reader of
format N reads a file of format N with keys added later). No textual or livekit import here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, TypeAlias

from pydantic import ConfigDict, Field, model_validator

from lkmon.model.eou import EouParts
from lkmon.model.events import AgentAudible, ErrorRaised, PluginMetrics
from lkmon.model.figures import TurnMetrics
from lkmon.model.transcript import TranscriptEntry
from lkmon.store.events import EventField, Finite, record
from lkmon.store.format_base import Count, Epoch, Part, Seconds, SessionId

SNAPSHOT_VERSION = 5
"""The snapshot format version this lkmon writes (``"lkmon_snapshot"``); it reads 1 to 5.

5: the session's tags (``session.tags``: ``lkmon run --tag``, ``record(session, tags=...)``),
so ``lkmon import`` of a snapshot stores them as it does a journal's (``{}`` in older files).
4: why turns waited and what the caller heard: ``turns[].interruption`` and the session's
interruption counts, ``turns[].metrics.heard_gap`` (measured by lkmon on the audio) with
``turns[].heard``, the endpointing what-if (``summary.endpointing_*``); each with a default.
3 (lkmon 0.2): ``session.session_id`` (a UUID; the journal header's); events use LiveKit's
event names (``conversation_item_added``, ``metrics_collected``...; see
``lkmon.store.events``); the schema is generated from ``lkmon.store.format``.
2: discarded preemptive replies fold into their turn (``turns[].discarded``), STT-only turns
(``kind: "transcript"``), ``greeting`` only before user speech, EOU 0.0 is ``null`` with its
reason in ``turns[].missing``. See docs/snapshot-format.md."""

TURNS_SPEECH_ID = "<the turn's speech_id>"
"""Marks a plugin metric written without ``speech_id`` (formats 1 and 2 left it out when it
was the turn's) until its turn's validator gives it the turn's."""

if TYPE_CHECKING:
    # To a type checker each record is the dataclass it validates into (``record``'s ``build``
    # returns a ``cls`` instance); at run time it is the pydantic type ``record`` builds.
    PluginMetricRecord: TypeAlias = PluginMetrics
    ErrorRecord: TypeAlias = ErrorRaised
    TurnFigures: TypeAlias = TurnMetrics
    TranscriptRecord: TypeAlias = TranscriptEntry
    EouPartsRecord: TypeAlias = EouParts
    HeardRecord: TypeAlias = AgentAudible
else:
    PluginMetricRecord = record(
        PluginMetrics, name="PluginMetric", absent={"speech_id": TURNS_SPEECH_ID}
    )
    """A plugin metric joined to a turn (``lkmon.model.events.PluginMetrics``: LiveKit's STT,
    LLM, TTS, EOU metrics; ``values`` by their LiveKit field names)."""
    ErrorRecord = record(ErrorRaised, name="Error")
    """An error (``lkmon.model.events.ErrorRaised``)."""
    TurnFigures = record(TurnMetrics, name="TurnFigures")
    """A turn's figures (``lkmon.model.figures.TurnMetrics``: seconds, epoch seconds, tokens)."""
    TranscriptRecord = record(TranscriptEntry, name="TranscriptLine")
    """One transcript line (``lkmon.model.transcript.TranscriptEntry``)."""
    EouPartsRecord = record(EouParts, name="EouParts")
    """The parts of a turn's EOU delay (``lkmon.model.eou.EouParts``: epoch seconds, seconds,
    the turn detector's predictions)."""
    HeardRecord = record(AgentAudible, name="HeardAudio")
    """The reply's first audible sample and the caller's last voiced sample before it
    (``lkmon.model.measurements.AgentAudible``: epoch seconds, seconds, dBFS)."""


class ToolCallEntry(Part):
    """One tool call of a turn (LiveKit ``FunctionCall`` and its ``FunctionCallOutput``)."""

    ts: Finite | None = None
    """When it ran; ``None`` in format 1 files that lack it (the turn's start is used)."""
    call_id: str = ""
    name: str
    arguments: str
    """JSON text of the arguments, as the LLM produced it."""
    output: str | None = None
    is_error: bool = False


class HandoffEntry(Part):
    """An agent handoff made in the turn (LiveKit ``AgentHandoff`` chat item)."""

    ts: Finite
    item_id: str = ""
    old_agent: str | None = None
    new_agent: str


class DiscardedReply(Part):
    """A preemptive reply LiveKit started for this user turn and threw away (in no percentile)."""

    speech_id: str | None = None
    started_at: Finite
    done_at: Epoch = None
    llm_ttft: Seconds = None
    """Its first ``LLMMetrics.ttft``."""
    tts_ttfb: Seconds = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    plugin_metrics: list[PluginMetricRecord] = []


class SnapshotTurn(Part):
    """One agent reply (one LiveKit ``SpeechHandle``), or one final transcript of an agent
    without an LLM (``kind: "transcript"``)."""

    index: Annotated[int, Field(ge=1)]
    kind: Literal["reply", "transcript"] = "reply"
    speech_id: str | None
    started_at: Finite
    """``speech_created`` time."""
    source: str = "generate_reply"
    user_initiated: bool = False
    user_text: str | None
    """The user message this reply answers; ``None`` for a greeting."""
    agent_text: str | None
    """What the agent said (for an interrupted reply: what was heard)."""
    unheard_text: str | None = None
    interrupted: bool
    typed: bool = False
    greeting: bool = False
    """Format 1: no user message; from format 2: also made before any user speech."""
    agent_initiated: bool = False
    before_user_speech: bool = False
    preemptive: bool = False
    empty_reply: bool = False
    complete: bool = False
    done: bool = False
    done_at: Epoch = None
    failed: bool
    dominant_stage: Literal["eou", "llm_ttft", "tts_ttfb"] | None = None
    tool_calls: list[ToolCallEntry]
    handoffs: list[HandoffEntry] = []
    metrics: TurnFigures
    missing: dict[str, str] = {}
    """Why a figure is ``None``, by figure name (``eou_delay``, ``e2e_latency``, ``heard_gap``)."""
    discarded: list[DiscardedReply] = []
    measured_by_lkmon: list[str] = []
    """Figures lkmon measured itself where LiveKit gave none (e.g. from the VAD)."""
    plugin_metrics: list[PluginMetricRecord]
    errors: list[ErrorRecord] = []
    eou_parts: EouPartsRecord | None = None
    """The parts of the turn's EOU delay from LiveKit's spans (docs/metrics.md, "The EOU
    decision"); ``None`` when lkmon saw no spans for it."""
    interruption: Literal["false_interruption", "cut_in_early", "barge_in"] | None = None
    """Why the played reply stopped (docs/metrics.md, "Interruptions"); ``None``: it was not
    interrupted (format 4; ``None`` in older files)."""
    heard: HeardRecord | None = None
    """What ``metrics.heard_gap`` was measured from (docs/metrics.md, "The silence the caller
    hears"); ``None`` when lkmon did not measure the turn's audio (format 4)."""

    @model_validator(mode="after")
    def _fill_older(self) -> SnapshotTurn:
        """What formats 1 and 2 left out: a metric's ``speech_id`` when it was the turn's (or
        the discarded reply's), a format 1 tool call's ``ts`` (the turn's start)."""
        sid = self.speech_id
        for p in self.plugin_metrics:
            if p.speech_id is TURNS_SPEECH_ID:
                p.speech_id = sid
        for d in self.discarded:
            for p in d.plugin_metrics:
                if p.speech_id is TURNS_SPEECH_ID:
                    p.speech_id = d.speech_id
        for c in self.tool_calls:
            if c.ts is None:
                c.ts = self.started_at
        return self


class UsageEntry(Part):
    """Usage of one provider and model (LiveKit ``AgentSessionUsage.model_usage``) and its cost."""

    kind: str
    """``llm``, ``tts`` or ``stt``."""
    provider: str
    model: str
    input_tokens: Count = 0
    input_cached_tokens: Count = 0
    output_tokens: Count = 0
    characters_count: Count = 0
    audio_duration: Finite = 0.0
    """Seconds of audio (TTS produced, STT consumed)."""
    cost: Finite | None = None
    """Estimated, in ``cost.currency``; 0.0 when local; ``None`` when the price is unknown."""
    local: bool = False
    billed_provider: str | None = None
    via: str = ""
    package: str | None = None


class CostEntry(Part):
    currency: str = "USD"
    total: Finite | None = None
    prices: str = ""
    """Where the price table came from."""


class StageEntry(Part):
    """One stage's statistics over the turns that have it, seconds (``None`` when count 0)."""

    count: Count
    p50: Seconds
    p95: Seconds
    max: Seconds
    mean: Seconds = None


class WhatIfRowEntry(Part):
    """One setting of the endpointing what-if (``lkmon.model.whatif.WhatIfRow``)."""

    min_delay: Finite
    """The minimum endpointing delay tried, seconds."""
    early_cuts: Count
    """This session's pauses inside utterances that it would have cut."""
    added_eou: Seconds
    """Mean seconds it adds to an end of turn's EOU delay against the session's own setting
    (negative: saves); ``None`` when the session had no end of turn."""


class WhatIfBasis(Part):
    """What the endpointing what-if compares with and was computed from."""

    min_delay: Finite = 0.5
    """The session's own min endpointing delay, seconds."""
    assumed: bool = True
    """``min_delay`` is LiveKit's default: no span gave the session's."""
    pauses: Count = 0
    """Pauses inside utterances in this session (the early cuts' sample); turn_ends: its ends
    of turn (the added EOU's)."""
    turn_ends: Count = 0
    turn_detector: bool = False
    """The session ran a turn detector, whose longer delays the table does not model."""


class SummaryEntry(Part):
    stages: dict[str, StageEntry]
    """``eou``, ``llm_ttft``, ``tts_ttfb``, ``e2e``; ``heard`` (format 4: the heard gap)."""
    turns: Count
    worst_turn: int | None
    worst_e2e: Seconds
    worst_stage: str | None
    interruptions: dict[str, Count] = {}
    """Turns of each ``turns[].interruption`` class (format 4; empty in older files)."""
    endpointing_whatif: list[WhatIfRowEntry] = []
    """The endpointing what-if over this session's own pauses: one row per min delay, 0.2 to
    2.0 s in 0.1 s steps (format 4; docs/metrics.md, "Endpointing what-if")."""
    endpointing_recommended: Seconds = None
    """The smallest min delay of the what-if that would have cut no pause, seconds, or
    ``None`` (none would, or no speech segments)."""
    endpointing_basis: WhatIfBasis | None = None


class VadEntry(Part):
    """VAD health (``lkmon.model.vad.VadState``)."""

    speech_count: Count
    speech_total: Finite
    silence_total: Finite
    inference_count: Count
    inference_seconds: Finite
    audio_seconds: Finite = 0.0
    idle_time: Seconds
    inference_per_audio_second: Finite | None = None
    realtime_factor: Finite | None
    metrics_count: Count = 0


class SnapshotSession(Part):
    """The session as a whole."""

    session_id: SessionId | None = None
    """Unique id of the session (also in the journal's header); required from format 3. Older
    files get a stable id derived from their content when loaded."""
    started_at: Epoch
    duration: Seconds
    closed_at: Epoch = None
    agent_file: str
    models: dict[str, str]
    """Role (``vad``/``stt``/``llm``/``tts``) -> ``"provider/model"``."""
    input: str
    output: str
    lkmon_version: str
    close_reason: str | None
    close_error: str | None = None
    agent_state: str = "idle"
    user_state: str = "listening"
    turn_count: Count = 0
    error_count: Count | None = None
    """Errors of the whole session (``None`` in files without it: ``len(errors)``)."""
    errors_by_source: dict[str, Count] | None = None
    """``None`` in files written before errors were counted by source."""
    failed_turn_count: Count = 0
    discarded_reply_count: Count = 0
    event_count: Count = 0
    events_complete: bool | None = None
    fallback_joins: Count = 0
    join_notes: list[str] = []
    false_interruptions: Count = 0
    """LiveKit ``agent_false_interruption`` events (format 4); false_resumed: those resumed."""
    false_resumed: Count = 0
    overlapping_speech: Count = 0
    """LiveKit ``overlapping_speech`` events (its adaptive interruption detector's verdicts;
    none without it); overlapping_interruptions: those that were interruptions."""
    overlapping_interruptions: Count = 0
    tags: dict[str, str] = {}
    """Free ``KEY: VALUE`` labels of the session (``lkmon run --tag``, ``record(session,
    tags=...)``; the journal header's): what ``lkmon import`` stores in ``sessions.tags``
    (format 5; ``{}`` in older files)."""


class Snapshot(Part):
    """A session snapshot (``{"lkmon_snapshot": 5, ...}``), see docs/snapshot-format.md."""

    model_config = ConfigDict(
        title=f"lkmon session snapshot, format {SNAPSHOT_VERSION}",
        json_schema_extra={
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"lkmon-snapshot-{SNAPSHOT_VERSION}.schema.json",
        },
    )

    lkmon_snapshot: Annotated[int, Field(ge=1, le=SNAPSHOT_VERSION)]
    """The format version."""
    redacted_text: bool = False
    """True when text was replaced by same-length placeholders (``--redact``)."""
    session: SnapshotSession
    turns: list[SnapshotTurn]
    usage: list[UsageEntry]
    cost: CostEntry = CostEntry()
    summary: SummaryEntry
    vad: VadEntry
    errors: list[ErrorRecord]
    transcript: list[TranscriptRecord] = []
    events_complete: bool | None = None
    """True when ``events`` holds every kept event (replaying them rebuilds the session)."""
    events: list[EventField]
    """lkmon events as in the journal: ``{"type": <LiveKit's event name>, "ts", ...}``."""

    @model_validator(mode="after")
    def _fill_session(self) -> Snapshot:
        """Format 3 has a ``session_id``; older files' missing counts come from their lists."""
        s = self.session
        if s.session_id is None and self.lkmon_snapshot >= 3:
            raise ValueError("session.session_id is required from format 3")
        if s.error_count is None:
            s.error_count = len(self.errors)
        if s.errors_by_source is None:  # written before lkmon counted errors by source
            by_source: dict[str, int] = {}
            for e in self.errors:
                by_source[e.source] = by_source.get(e.source, 0) + 1
            s.errors_by_source = by_source
        if self.events_complete is None:
            self.events_complete = bool(s.events_complete)
        return self


SCHEMA_FILE = Path(__file__).with_name("snapshot.schema.json")


def schema_json() -> str:
    """The JSON Schema of ``Snapshot`` as the text committed in ``snapshot.schema.json``."""
    return json.dumps(Snapshot.model_json_schema(), indent=1, ensure_ascii=False) + "\n"


def main() -> int:
    """``python -m lkmon.store.format [--check]``: (re)write or check the schema file."""
    text = schema_json()
    if "--check" in sys.argv[1:]:
        current = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
        if current != text:
            print(f"{SCHEMA_FILE} is out of date: run python -m lkmon.store.format")
            return 1
        return 0
    SCHEMA_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
