"""The snapshot format defined once: older files load, the schema is generated and current,
session ids, LiveKit's event names in the journal and the old names still read."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lkmon.model.events import EVENT_TYPES, ChatMessageAdded, PluginMetrics, SessionStarted
from lkmon.model.state import SessionModel
from lkmon.store.events import OLD_NAMES, decode, decode_json, encode
from lkmon.store.format import SCHEMA_FILE, SNAPSHOT_VERSION, Snapshot, schema_json
from lkmon.store.journal import JournalWriter, load_journal
from lkmon.store.snapshot import (
    SnapshotError,
    build_snapshot,
    load_session,
    load_snapshot,
    to_snapshot,
    write_snapshot,
)
from tests.synthetic import demo_session

OLD = Path(__file__).parent / "data" / "snapshots"
REPO = Path(__file__).resolve().parents[1]


def _metric(p: dict[str, Any], sid: str | None) -> dict[str, Any]:
    """A format 1/2 plugin metric as format 3 writes it (speech_id and request_id explicit)."""
    return {**p, "speech_id": p.get("speech_id", sid), "request_id": p.get("request_id")}


def _turns(snap: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for t in snap["turns"]:
        t = {**t, "plugin_metrics": [_metric(p, t["speech_id"]) for p in t["plugin_metrics"]]}
        t["discarded"] = [
            {**d, "plugin_metrics": [_metric(p, d["speech_id"]) for p in d["plugin_metrics"]]}
            for d in t.get("discarded", [])
        ]
        out.append(t)
    return out


def test_the_committed_schema_is_the_generated_one() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_json(), (
        "lkmon/store/snapshot.schema.json is out of date: run python -m lkmon.store.format"
    )
    proc = subprocess.run([sys.executable, "-m", "lkmon.store.format", "--check"], cwd=REPO,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in OLD.glob("v*.json")))
def test_real_files_of_every_format_validate_against_the_generated_schema(
    name: str, tmp_path: Path
) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    old = json.loads((OLD / name).read_text())
    validator.validate(old)
    new = json.loads(write_snapshot(load_session(OLD / name), tmp_path / "s.json").read_text())
    validator.validate(new)
    assert new["lkmon_snapshot"] == SNAPSHOT_VERSION == 5


@pytest.mark.parametrize("name", ["v2-demo.json", "v2-demo-sections.json", "v2-agents.json",
                                  "v2-agents-sections.json", "v1-demo-sections.json",
                                  "v3-demo.json", "v3-demo-sections.json", "v4-demo.json",
                                  "v4-demo-sections.json"])
def test_a_format_1_or_2_file_keeps_its_turns(name: str) -> None:
    """Replayed from its events or rebuilt from its sections, a format 2 to 4 file gives back
    the turns it holds, figure for figure (and a format 1 file rebuilt from its sections, too);
    keys added later (format 4's ``summary.interruptions``...) are new, the rest is kept."""
    old = json.loads((OLD / name).read_text())
    new = build_snapshot(load_session(OLD / name))
    for t, n in zip(_turns(old), _turns(new), strict=True):
        # format 1 lacks keys format 2 added: every key it has keeps its value
        kept = [k for k in t if k not in ("metrics", "missing")]
        assert {k: n[k] for k in kept} == {k: t[k] for k in kept}
        assert {k: n["metrics"][k] for k in t["metrics"]} == t["metrics"]
        old_missing = t.get("missing", {})  # format 4 adds heard_gap's reason
        assert {k: n["missing"][k] for k in old_missing} == old_missing
    summary = {k: new["summary"][k] for k in old["summary"]}
    stages = summary["stages"]  # format 4 adds the heard gap's stage (no figure in these)
    if "heard" not in old["summary"]["stages"]:
        assert stages.pop("heard") == {"count": 0, "p50": None, "p95": None, "max": None,
                                       "mean": None}
    assert summary == old["summary"]
    for key in ("errors", "transcript"):
        assert new[key] == old[key], key
    assert [{k: n[k] for k in o} for n, o in zip(new["usage"], old["usage"], strict=True)] == (
        old["usage"])  # format 1: no package/billed_provider/via yet
    s, o = new["session"], old["session"]
    kept = set(o) - {"discarded_reply_count", "event_count"}  # replays count kept events only
    assert {k: s[k] for k in kept} == {k: o[k] for k in kept}
    # counts the sections path lost before format 3's loader: restored now
    assert s["discarded_reply_count"] == sum(len(t["discarded"]) for t in new["turns"])


def test_a_format_1_file_with_events_is_replayed_into_today_s_turns() -> None:
    model = load_session(OLD / "v1-demo.json")
    assert len(model.turns) == 8
    assert model.turns[0].greeting and model.turns[1].agent_text == (
        "The capital of France is Paris.")
    assert [t.index for t in model.turns] == list(range(1, 9))
    old = json.loads((OLD / "v1-demo.json").read_text())
    assert [t.metrics.e2e_latency for t in model.turns] == [
        t["metrics"]["e2e_latency"] for t in old["turns"]]


def test_the_discarded_reply_handoff_and_missing_reasons_survive_format_2() -> None:
    for name in ("v2-agents.json", "v2-agents-sections.json", "v2-agents.journal.jsonl"):
        model = load_session(OLD / name)
        greet, turn, thanks = model.turns
        assert greet.greeting and turn.preemptive, name
        assert [d.speech_id for d in turn.discarded] == ["speech_p1"], name
        assert turn.discarded[0].metrics.llm_ttft_first == 0.25, name
        assert [h.new_agent for h in turn.handoffs] == ["billing"], name
        assert [c.name for c in turn.tool_calls] == ["transfer_to_billing"], name
        assert thanks.metrics.eou_delay is None and "0.0" in thanks.eou_unknown_reason, name
        assert thanks.failed and model.errors_by_source == {"tts": 1}, name
        assert model.discarded_count == 1, name


def test_old_files_get_a_stable_id_shared_by_the_snapshot_and_journal_of_a_session() -> None:
    for version in ("v1", "v2"):
        ids = {load_session(OLD / f"{version}-demo{suffix}").session.session_id
               for suffix in (".json", "-sections.json", ".journal.jsonl")}
        assert len(ids) == 1, (version, ids)
        (sid,) = ids
        assert uuid.UUID(sid).version == 5
        assert load_session(OLD / f"{version}-demo.json").session.session_id == sid  # again
        assert load_snapshot(OLD / f"{version}-demo.json").session.session_id == sid
    assert (load_session(OLD / "v1-demo.json").session.session_id
            == load_session(OLD / "v2-demo.json").session.session_id)  # one synthetic session
    assert (load_session(OLD / "v2-agents.json").session.session_id
            != load_session(OLD / "v2-demo.json").session.session_id)


def test_a_format_1_snapshot_object_given_to_model_from_snapshot_gets_an_id() -> None:
    """A ``Snapshot`` (not a dict) of a format without ids: the model's session id is the
    derived one, as for the same snapshot as a dict (it was ``None``; found by mypy)."""
    from lkmon.store.restore import model_from_snapshot

    raw = (OLD / "v1-demo-sections.json").read_bytes()
    snap = Snapshot.model_validate_json(raw)
    assert snap.session.session_id is None
    sid = model_from_snapshot(snap).session.session_id
    assert sid is not None and uuid.UUID(sid).version == 5
    assert model_from_snapshot(json.loads(raw)).session.session_id == sid


def test_a_new_session_keeps_its_id_through_the_journal_and_the_snapshot(tmp_path: Path) -> None:
    sid = str(uuid.uuid4())
    events = demo_session()
    started = events[0]
    assert isinstance(started, SessionStarted)
    started.session_id = sid
    writer = JournalWriter(tmp_path / "j.jsonl", session_id=sid)
    for ev in events:
        writer.write(ev)
    writer.close()
    journal = load_journal(tmp_path / "j.jsonl")
    assert journal.header is not None and journal.header.session_id == sid
    assert journal.session_id == sid and journal.events == events
    model = load_session(tmp_path / "j.jsonl")
    assert model.session.session_id == sid
    snap = write_snapshot(model, tmp_path / "s.json")
    assert json.loads(snap.read_text())["session"]["session_id"] == sid
    assert load_session(snap).session.session_id == sid
    small = SessionModel(max_events=5)  # rebuilt from its sections, still the same id
    small.apply_many(events)
    assert load_session(write_snapshot(small, tmp_path / "t.json")).session.session_id == sid


def test_a_model_has_an_id_before_any_event_and_exports_keep_it(tmp_path: Path) -> None:
    model = SessionModel()
    assert uuid.UUID(model.session.session_id).version == 4
    assert SessionModel().session.session_id != model.session.session_id
    a = to_snapshot(model).session.session_id
    assert a == to_snapshot(model).session.session_id == model.session.session_id


def test_format_3_requires_a_session_id(tmp_path: Path) -> None:
    model = SessionModel()
    model.apply_many(demo_session())
    data = build_snapshot(model)
    del data["session"]["session_id"]
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SnapshotError, match="session_id is required from format 3"):
        load_session(path)


def test_the_journal_uses_livekit_s_event_names_and_reads_the_old_ones(tmp_path: Path) -> None:
    names = set(EVENT_TYPES)
    for livekit in ("conversation_item_added", "user_input_transcribed", "speech_created",
                    "metrics_collected", "session_usage_updated", "agent_state_changed",
                    "user_state_changed", "function_tools_executed", "error", "close"):
        assert livekit in names
    assert not names & set(OLD_NAMES)
    msg = ChatMessageAdded(ts=1.0, item_id="i", role="user", text="hi", metrics={"x": 0.5})
    assert encode(msg)["type"] == "conversation_item_added"
    for new in OLD_NAMES.values():
        assert EVENT_TYPES[new].type == new
    old_line = {"type": "chat_message", "ts": 1.0, "item_id": "i", "role": "user", "text": "hi",
                "metrics": {"x": 0.5}}
    assert decode(old_line) == msg == decode_json(json.dumps(encode(msg)))
    for name in ("v1-demo.journal.jsonl", "v2-demo.journal.jsonl"):
        text = (OLD / name).read_text()
        assert '"type":"chat_message"' in text.replace(" ", "")
        assert len(load_session(OLD / name).turns) == 8


def test_bad_events_say_what_and_where_in_one_line() -> None:
    with pytest.raises(ValueError, match="unknown event type 'nope'"):
        decode({"type": "nope", "ts": 1.0})
    with pytest.raises(ValueError, match=r"bad metrics_collected event: ts") as info:
        decode({"type": "metrics_collected", "ts": "soon", "kind": "llm"})
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="kind"):
        decode({"type": "metrics", "ts": 1.0, "kind": "gpu"})
    assert decode({"type": "metrics", "ts": 1, "kind": "llm"}) == PluginMetrics(1.0, "llm")


def test_a_bad_event_in_a_snapshot_names_its_place(tmp_path: Path) -> None:
    model = SessionModel()
    model.apply_many(demo_session())
    data = build_snapshot(model)
    data["events"][7]["ts"] = "later"
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    with pytest.raises(SnapshotError, match=r"invalid snapshot at events/7/.*/ts"):
        load_session(path)


def test_the_snapshot_object_is_what_gets_written(tmp_path: Path) -> None:
    model = SessionModel()
    model.apply_many(demo_session())
    snap = to_snapshot(model)
    assert isinstance(snap, Snapshot)
    written = json.loads(write_snapshot(model, tmp_path / "s.json").read_text())
    assert written == json.loads(snap.model_dump_json())
    turn = snap.turns[1]
    assert turn.metrics.e2e_latency == model.turns[1].metrics.e2e_latency
    assert all(p.speech_id == turn.speech_id for p in turn.plugin_metrics if p.kind != "stt")
    assert turn.plugin_metrics[0] is not model.turns[1].plugin_metrics[0]  # copies
    assert snap.events[0] == model.record()[0] and snap.events[0] is not model.record()[0]


def test_a_format_3_snapshot_and_its_journal_read_as_format_4_with_no_interruption_known() -> None:
    models = [load_session(OLD / f"v3-demo{suffix}")
              for suffix in (".json", "-sections.json", ".journal.jsonl")]
    assert models[0].session.session_id == models[2].session.session_id  # the same session
    for m in models:
        assert len(m.turns) == 8 and [t.interrupted for t in m.turns].count(True) == 1
        assert [t.interruption for t in m.turns] == [None] * 8  # no user speech over it
        snap = build_snapshot(m)
        assert snap["lkmon_snapshot"] == 5 and snap["session"]["false_interruptions"] == 0


def test_format_5_carries_the_session_s_tags_and_format_4_files_read_with_none(
    tmp_path: Path,
) -> None:
    """A format 4 snapshot has no tags (read as ``{}``), its journal's header has: the journal's
    export (format 5) carries them in ``session.tags``, and so does a live session's (from
    ``SessionStarted.tags``); each reloads with them, replayed from its events or rebuilt from
    its sections, and ``--tag`` values travel as the text they are (a secret redacted)."""
    import dataclasses

    header_tags = {"branch": "main", "run": "4"}
    assert load_session(OLD / "v4-demo.json").session.tags == {}
    assert load_session(OLD / "v4-demo-sections.json").session.tags == {}
    journal = load_session(OLD / "v4-demo.journal.jsonl")
    assert journal.session.tags == header_tags
    out = write_snapshot(journal, tmp_path / "j.json")
    data = json.loads(out.read_text())
    assert data["lkmon_snapshot"] == 5 and data["session"]["tags"] == header_tags
    assert load_session(out).session.tags == header_tags
    tags = {"commit": "abc123", "note": "a b=c", "empty": ""}
    events = demo_session()
    assert isinstance(events[0], SessionStarted)
    events[0] = dataclasses.replace(events[0], tags=tags)
    for kw, complete in (({}, True), ({"max_events": 5}, False)):
        model = SessionModel(**kw)
        model.apply_many(events)
        assert model.session.tags == tags
        path = write_snapshot(model, tmp_path / f"live-{complete}.json")
        data = json.loads(path.read_text())
        assert data["events_complete"] is complete and data["session"]["tags"] == tags
        again = load_session(path)
        assert again.session.tags == tags and len(again.turns) == 8
    bad = {**json.loads(out.read_text())}
    bad["session"]["tags"] = {"n": 7}
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(SnapshotError, match="session/tags/n"):
        load_session(tmp_path / "bad.json")
