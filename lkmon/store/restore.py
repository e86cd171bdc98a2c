"""Reading session snapshots and journals back into a ``SessionModel``.

``load_session(path)`` detects a snapshot (``{"lkmon_snapshot": 1, ...}``, see
``docs/snapshot-format.md``) or a journal (JSON Lines of events) by content, validates a snapshot
against ``lkmon/store/snapshot.schema.json`` and raises ``SnapshotError`` (one line) for anything it
cannot load. ``lkmon.store.snapshot`` re-exports these names. No textual or livekit import here.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from lkmon.model.events import (
    EVENT_TYPES,
    AgentHandedOff,
    ErrorRaised,
    Event,
    LogRecord,
    ModelUsage,
    PluginMetrics,
    ToolCalled,
    event_from_dict,
)
from lkmon.model.state import SessionModel
from lkmon.model.transcript import TranscriptEntry
from lkmon.model.turns import TURN_METRIC_FIELDS, Turn, TurnMetrics

try:  # optional speed-up: a 10,000-turn snapshot parses in half the time, writes 7x faster
    import orjson
except ImportError:  # pragma: no cover - the standard library does the same, slower
    orjson = None  # type: ignore[assignment]

SNAPSHOT_VERSION = 2
"""The snapshot format version this lkmon writes (``"lkmon_snapshot"``); it reads 1 and 2.

2 (lkmon 0.2): discarded preemptive replies are folded into the turn they anticipated
(``turns[].discarded``) instead of being turns; an STT-only agent's final transcripts are turns
of ``kind: "transcript"``; ``greeting`` only before any user speech (``agent_initiated``
otherwise); an EOU figure LiveKit reported as 0.0 is ``null`` with its reason in
``turns[].missing``; new turn fields ``kind``, ``preemptive``, ``empty_reply``, ``handoffs``,
``missing``, ``metrics.llm_ttft_first``, ``metrics.llm_calls``."""

log = logging.getLogger("lkmon.store.snapshot")


class SnapshotError(ValueError):
    """A file that is not a loadable lkmon snapshot or journal; ``str()`` is one line."""


def _loads(raw: bytes) -> Any:
    """Parse JSON (orjson when installed, twice as fast); raises ``json.JSONDecodeError``."""
    if orjson is not None:
        return orjson.loads(raw)
    return json.loads(raw)


# -- loading ---------------------------------------------------------------------------------


@cache
def schema() -> dict[str, Any]:
    """The snapshot JSON Schema (``lkmon/store/snapshot.schema.json``)."""
    schema = resources.files("lkmon.store").joinpath("snapshot.schema.json")
    text = schema.read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


@cache
def _validator() -> Any:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema())
    return cls(schema())


def validate_snapshot(data: Any, *, where: str = "snapshot") -> None:
    """Check a parsed snapshot against the schema.

    Raises:
        SnapshotError: not an lkmon snapshot, a newer format version, or a schema violation.
    """
    if not isinstance(data, dict) or "lkmon_snapshot" not in data:
        raise SnapshotError(f"{where}: not an lkmon snapshot")
    version = data["lkmon_snapshot"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise SnapshotError(f"{where}: bad lkmon_snapshot version {version!r}")
    if version > SNAPSHOT_VERSION:
        raise SnapshotError(
            f"{where}: snapshot format {version} is newer than this lkmon reads "
            f"({SNAPSHOT_VERSION}); upgrade lkmon"
        )
    sample, index_maps = _sample(data)
    error = next(iter(_validator().iter_errors(sample)), None)
    if error is not None:
        path = list(error.absolute_path)
        if len(path) >= 2 and path[0] in index_maps and isinstance(path[1], int):
            path[1] = index_maps[path[0]][path[1]]
        at = "/".join(str(p) for p in path) or "top level"
        msg = error.message.splitlines()[0][:160]
        raise SnapshotError(f"{where}: invalid snapshot at {at}: {msg}")


SCHEMA_SAMPLE = 60
"""Items of each long array (turns, events, transcript) that the schema check covers: the
first and last 20 and an even spread between. jsonschema is pure Python (about 8 s for 10,000
turns); the loader's own field checks cover the rest."""


def _sample(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """``data`` with long arrays cut to a sample, and each sample's original indexes."""
    out = dict(data)
    maps: dict[str, list[int]] = {}
    for key in ("turns", "events", "transcript"):
        items = data.get(key)
        if not isinstance(items, list) or len(items) <= SCHEMA_SAMPLE:
            continue
        n = len(items)
        step = max((n - 40) // (SCHEMA_SAMPLE - 40), 1)
        idx = sorted({*range(20), *range(20, n - 20, step), *range(n - 20, n)})
        out[key] = [items[i] for i in idx]
        maps[key] = idx
    return out, maps


def load_session(path: str | Path) -> SessionModel:
    """Load a snapshot (``write_snapshot``) or a session journal (JSON Lines of events).

    The kind is detected from the content. A snapshot whose ``events`` are complete is replayed
    event by event (an exact rebuild); otherwise the model is rebuilt from its ``turns``,
    ``usage``, ``vad``, ``errors`` and ``transcript`` sections. A journal is replayed; a torn
    last line (a crash mid-write) is skipped with a warning.

    Raises:
        SnapshotError: missing, unreadable, empty, truncated, not lkmon, or a newer format.
    """
    with no_gc():
        return _load(Path(path))


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: building hundreds of thousands of objects triggers
    full collections that cost more than the building itself (10,000 turns: 1.0 s -> 0.4 s).
    Nothing built here forms reference cycles that need it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load(p: Path) -> SessionModel:
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise SnapshotError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise SnapshotError(f"{p}: is a directory, not a snapshot") from None
    except OSError as e:
        raise SnapshotError(f"{p}: cannot read: {e.strerror or e}") from None
    if not raw.strip():
        raise SnapshotError(f"{p}: empty file")
    try:
        data = _loads(raw)
    except json.JSONDecodeError:
        data = None
    try:
        text = raw.decode("utf-8") if data is None else ""
    except UnicodeDecodeError:
        raise SnapshotError(f"{p}: not an lkmon snapshot or journal (not UTF-8 text)") from None
    if isinstance(data, dict) and "lkmon_snapshot" in data:
        validate_snapshot(data, where=str(p))
        return model_from_snapshot(data)
    if isinstance(data, dict) and data.get("type") in EVENT_TYPES:
        return _model_from_events(_journal_events(p))
    first = text.lstrip().split("\n", 1)[0]
    if data is None and _is_event_line(first):
        return _model_from_events(_journal_events(p))
    if data is None and '"lkmon_snapshot"' in text[:200]:
        raise SnapshotError(f"{p}: truncated snapshot (invalid JSON)")
    raise SnapshotError(f"{p}: not an lkmon snapshot or journal")


def _is_event_line(line: str) -> bool:
    try:
        obj = _loads(line.encode("utf-8"))
    except json.JSONDecodeError:
        return False
    return isinstance(obj, dict) and obj.get("type") in EVENT_TYPES


def _journal_events(p: Path) -> list[Event]:
    """Events of a journal (``lkmon.store.journal.read_journal``; a torn last line is skipped)."""
    from lkmon.store.journal import read_journal

    try:
        events = read_journal(p)
    except ValueError as e:  # read_journal's message names the journal already
        raise SnapshotError(str(e).splitlines()[0]) from None
    except OSError as e:
        raise SnapshotError(f"{p}: cannot read: {e.strerror or e}") from None
    if not events:
        raise SnapshotError(f"{p}: journal has no events")
    return events


def _model_from_events(events: list[Event]) -> SessionModel:
    model = SessionModel()
    model.apply_many(events)
    return model


def model_from_snapshot(data: dict[str, Any]) -> SessionModel:
    """Rebuild a model from a validated snapshot dict (see ``load_session``)."""
    events_data = data.get("events") or []
    complete = data.get("events_complete", data["session"].get("events_complete", False))
    if complete and events_data:
        try:
            events = [event_from_dict(e) for e in events_data]
        except (ValueError, TypeError) as e:
            raise SnapshotError(f"snapshot events are corrupt: {e}") from None
        return _model_from_events(events)
    return _model_from_sections(data, events_data)


def _model_from_sections(data: dict[str, Any], events_data: list[dict[str, Any]]) -> SessionModel:
    model = SessionModel()
    s = data["session"]
    info = model.session
    info.started_at = s.get("started_at")
    info.agent_file = s.get("agent_file", "")
    info.models = dict(s.get("models", {}))
    info.input = s.get("input", "")
    info.output = s.get("output", "")
    info.lkmon_version = s.get("lkmon_version", "")
    info.closed_at = s.get("closed_at")
    info.close_reason = s.get("close_reason")
    info.close_error = s.get("close_error")
    if info.started_at is not None and s.get("duration") is not None:
        info.last_event_at = info.started_at + s["duration"]
    model.agent_state = s.get("agent_state", "idle")
    model.user_state = s.get("user_state", "listening")
    model.event_count = s.get("event_count", 0)
    model.error_count = s.get("error_count", len(data["errors"]))
    by_source = s.get("errors_by_source")
    if by_source is None:  # written before lkmon counted errors by source
        by_source = {}
        for e in data["errors"]:
            by_source[e["source"]] = by_source.get(e["source"], 0) + 1
    model.errors_by_source = dict(by_source)
    model.events_dropped = max(model.event_count - len(events_data), 1)
    turns = data["turns"]
    try:
        model.restore_turns(_turn_from_dict(t, i) for i, t in enumerate(turns))
        model.usage = [
            ModelUsage(**{f: u[f] for f in ModelUsage.__slots__ if f in u}) for u in data["usage"]
        ]
        for u in data["usage"]:  # the plugin package behind each row (older snapshots: none)
            if isinstance(u.get("package"), str) and u["package"]:
                model.packages.set(u["provider"], u["model"], u["package"])
        model.errors.extend(ErrorRaised(**e) for e in data["errors"])
        for e in data.get("transcript", []):
            model.transcript.append(TranscriptEntry(**e))
        vad = model.vad
        for key, value in data["vad"].items():
            if key != "audio_seconds" and hasattr(vad, key):
                setattr(vad, key, value)
        for e in events_data:
            if e.get("type") == "log":
                ev = event_from_dict(e)
                assert isinstance(ev, LogRecord)
                model.logs.append(ev)
    except SnapshotError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise SnapshotError(f"snapshot sections are corrupt: {type(e).__name__}: {e}") from None
    return model


_NUM_TYPES = (int, float, type(None))


def _check_turn(d: Any, i: int) -> None:
    """Cheap type checks of one turn (the schema check only samples long snapshots)."""
    ok = (
        isinstance(d, dict)
        and isinstance(d.get("index"), int)
        and isinstance(d.get("started_at"), int | float)
        and isinstance(d.get("metrics"), dict)
        and all(type(v) in _NUM_TYPES for v in d["metrics"].values())
        and isinstance(d.get("plugin_metrics"), list)
        and all(
            isinstance(p, dict) and isinstance(p.get("values"), dict) for p in d["plugin_metrics"]
        )
        and isinstance(d.get("tool_calls"), list)
        and isinstance(d.get("user_text"), str | None)
        and isinstance(d.get("agent_text"), str | None)
    )
    if not ok:
        raise SnapshotError(f"invalid snapshot at turns/{i}: malformed turn")


def _turn_from_dict(d: dict[str, Any], i: int = 0) -> Turn:
    """Rebuild a turn from its snapshot entry, figures as recorded (a restored turn is final)."""
    _check_turn(d, i)
    m = d["metrics"]
    sid = d.get("speech_id")
    ts = d["started_at"]
    turn = Turn(
        d["index"],
        sid,
        ts,
        d.get("source", "generate_reply"),
        d.get("user_initiated", False),
        d["user_text"],
        d["agent_text"],
        d.get("unheard_text"),
        d["interrupted"],
        [
            ToolCalled(
                c.get("ts", ts),
                c.get("call_id", ""),
                c["name"],
                c["arguments"],
                c.get("output"),
                c.get("is_error", False),
                sid,
            )
            for c in d["tool_calls"]
        ],
        TurnMetrics(*[m.get(f) for f in TURN_METRIC_FIELDS]),
        [
            PluginMetrics(
                p["ts"],
                p["kind"],
                p.get("label", ""),
                p.get("provider", ""),
                p.get("model", ""),
                p.get("speech_id", sid),
                p.get("request_id"),
                p["values"],
            )
            for p in d["plugin_metrics"]
        ],
        [ErrorRaised(**e) for e in d.get("errors", ())],
        d.get("complete", False),
        d.get("done", d.get("complete", False)),
        d.get("done_at"),
        d["failed"],
    )
    turn.has_eou = any(p.kind == "eou" for p in turn.plugin_metrics)
    turn.kind = d.get("kind", "reply")
    turn.preemptive = d.get("preemptive", False)
    # format 1 had no before_user_speech: its "greeting" meant "no user message"
    turn.before_user_speech = d.get("before_user_speech", d.get("greeting", False))
    turn.eou_zero = "eou_delay" in d.get("missing", {}) and "0.0" in d["missing"]["eou_delay"]
    turn.handoffs = [
        AgentHandedOff(h["ts"], h.get("item_id", ""), h.get("old_agent"), h["new_agent"], sid)
        for h in d.get("handoffs", ())
    ]
    turn.discarded = [_discarded_from_dict(x) for x in d.get("discarded", ())]
    turn.measured = tuple(d.get("measured_by_lkmon", ()))
    turn.restored = True
    return turn


def _discarded_from_dict(d: dict[str, Any]) -> Turn:
    sid = d.get("speech_id")
    turn = Turn(0, sid, d["started_at"], preemptive=True, interrupted=True, done=True)
    turn.done_at = d.get("done_at")
    turn.plugin_metrics = [
        PluginMetrics(
            p["ts"], p["kind"], p.get("label", ""), p.get("provider", ""), p.get("model", ""),
            p.get("speech_id", sid), p.get("request_id"), p["values"],
        )
        for p in d.get("plugin_metrics", ())
    ]
    turn.recompute()
    turn.restored = True
    return turn
