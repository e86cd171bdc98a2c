"""Snapshots: round trip, schema, atomic 0600 writes, bad files, secrets and --redact."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import jsonschema
import pytest

from lkmon.model.state import SessionModel
from lkmon.redact import Redactor
from lkmon.store.events import encode as event_to_dict
from lkmon.store.snapshot import (
    SNAPSHOT_VERSION,
    SnapshotError,
    build_snapshot,
    load_session,
    schema,
    validate_snapshot,
    write_snapshot,
)
from tests.synthetic import demo_session, synthetic_session

SECRET = "sk-live-PLANTED-0123456789abcdef"


@pytest.fixture(scope="module")
def demo() -> SessionModel:
    model = SessionModel()
    model.apply_many(demo_session())
    return model


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> Redactor:
    """The process-wide redactor with one planted secret, restored afterwards."""
    redactor = Redactor([SECRET])
    monkeypatch.setattr("lkmon.store.snapshot.default_redactor", lambda: redactor)
    monkeypatch.setattr("lkmon.report.html.default_redactor", lambda: redactor)
    return redactor


def test_snapshot_shape_follows_issue_3(demo: SessionModel) -> None:
    snap = build_snapshot(demo)
    assert snap["lkmon_snapshot"] == SNAPSHOT_VERSION == 5
    assert {"session", "turns", "usage", "vad", "events", "summary", "errors"} <= set(snap)
    s = snap["session"]
    assert s["agent_file"] == "agent_entry.py" and s["models"]["llm"].startswith("llama.cpp")
    assert s["duration"] > 0 and s["close_reason"] == "user_initiated"
    turn = snap["turns"][1]
    for key in (
        "index",
        "speech_id",
        "user_text",
        "agent_text",
        "started_at",
        "interrupted",
        "tool_calls",
        "metrics",
        "plugin_metrics",
    ):
        assert key in turn
    for key in (
        "eou_delay",
        "transcription_delay",
        "llm_ttft",
        "tts_ttfb",
        "e2e_latency",
        "prompt_tokens",
        "completion_tokens",
    ):
        assert turn["metrics"][key] is not None
    typed = snap["turns"][2]
    assert typed["typed"] and typed["metrics"]["e2e_latency"] is None  # null, never 0
    assert typed["metrics"]["eou_delay"] is None
    assert snap["turns"][3]["tool_calls"][0]["name"] == "get_time"
    assert len([p for p in snap["turns"][3]["plugin_metrics"] if p["kind"] == "llm"]) == 2
    usage = {u["kind"]: u for u in snap["usage"]}
    assert usage["llm"]["input_tokens"] > 0 and usage["tts"]["characters_count"] > 0
    assert usage["stt"]["audio_duration"] > 0 and usage["llm"]["cost"] == 0.0
    assert snap["summary"]["stages"]["e2e"]["count"] == 5
    assert snap["vad"]["speech_count"] == 6
    assert snap["errors"][0]["source"] == "llm"
    assert snap["events_complete"] is True and len(snap["events"]) == len(demo.events) + 1
    assert snap["events"][-1]["type"] == "session_usage_updated"  # the latest, added back


def test_snapshot_validates_against_the_shipped_schema(demo: SessionModel) -> None:
    snap = json.loads(json.dumps(build_snapshot(demo)))
    jsonschema.validate(snap, schema())
    validate_snapshot(snap)


def test_events_section_is_event_to_dict(demo: SessionModel) -> None:
    snap = build_snapshot(demo)
    assert snap["events"] == [event_to_dict(e) for e in demo.record()]


def test_write_is_atomic_0600_and_round_trips(demo: SessionModel, tmp_path: Path) -> None:
    path = write_snapshot(demo, tmp_path / "s.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temp file left behind
    loaded = load_session(path)
    a, b = build_snapshot(demo), build_snapshot(loaded)
    for key in ("session", "turns", "usage", "summary", "vad", "errors", "transcript"):
        if key == "session":
            a[key].pop("event_count"), b[key].pop("event_count")
        assert a[key] == b[key], key


def test_long_snapshot_loads_from_sections(tmp_path: Path) -> None:
    model = SessionModel(max_events=300)
    model.apply_many(synthetic_session(turns=80))
    assert not model.events_complete
    path = write_snapshot(model, tmp_path / "long.json")
    loaded = load_session(path)
    a, b = build_snapshot(model), build_snapshot(loaded)
    assert a["turns"] == b["turns"]
    assert a["summary"] == b["summary"] and a["usage"] == b["usage"] and a["vad"] == b["vad"]
    assert [t.speech_id for t in loaded.turns] == [t.speech_id for t in model.turns]
    assert loaded.turn_by_speech_id(model.turns[40].speech_id).index == 41
    assert loaded.session.duration == pytest.approx(model.session.duration)


def test_errors_are_counted_by_source_and_failed_turns(tmp_path: Path) -> None:
    from lkmon.model.events import ErrorRaised
    from tests.synthetic import Script

    s = Script(background=False).start()
    s.greeting("Hello.", llm_error="injected fault llm_raise at llm call 1")
    s.emit(s.now, ErrorRaised, source="stt", message="retrying")
    s.spoken_turn("hi", "Hi there.")
    s.emit(s.now, ErrorRaised, source="lkmon", message="TurnsPane.update_view: boom")
    model = SessionModel(max_events=5)  # sections, not events, carry it on load
    model.apply_many(s.close())
    snap = build_snapshot(model)
    validate_snapshot(snap)
    assert snap["session"]["error_count"] == 3
    assert snap["session"]["errors_by_source"] == {"llm": 1, "stt": 1, "lkmon": 1}
    assert snap["session"]["failed_turn_count"] == 2  # the greeting (llm), the spoken turn (stt)
    assert [t["failed"] for t in snap["turns"]] == [True, True]
    loaded = load_session(write_snapshot(model, tmp_path / "s.json"))
    assert loaded.errors_by_source == model.errors_by_source
    assert build_snapshot(loaded)["session"]["failed_turn_count"] == 2
    # written before errors were counted by source: counted from the errors section
    old = json.loads((tmp_path / "s.json").read_text())
    del old["session"]["errors_by_source"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert load_session(tmp_path / "old.json").errors_by_source == {"llm": 1, "stt": 1, "lkmon": 1}


def test_failed_write_leaves_nothing(demo: SessionModel, tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_snapshot(demo, tmp_path / "missing-dir" / "s.json")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(OSError):
            write_snapshot(demo, ro / "s.json")
    finally:
        ro.chmod(0o700)


def test_journal_loads_and_a_torn_last_line_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events = demo_session()
    lines = [json.dumps(event_to_dict(e)) for e in events]
    path = tmp_path / "j.jsonl"
    path.write_text("\n".join(lines) + "\n" + lines[-1][: len(lines[-1]) // 2])
    model = load_session(path)
    assert len(model.turns) == 8
    assert model.turns[1].agent_text == "The capital of France is Paris."
    assert "torn last line" in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("", "empty file"),
        ("   \n", "empty file"),
        ('{"lkmon_snapshot": 1, "session": {"started_at": 1', "truncated snapshot"),
        ('{"hello": "world"}', "not an lkmon snapshot"),
        ("[1, 2, 3]", "not an lkmon snapshot"),
        ("just some text\n", "not an lkmon snapshot"),
        ('{"lkmon_snapshot": 6, "session": {}}', "newer than this lkmon reads"),
        ('{"lkmon_snapshot": "1"}', "bad lkmon_snapshot version"),
        ('{"lkmon_snapshot": 1, "session": {}}', "invalid snapshot"),
    ],
)
def test_bad_files_raise_one_line_snapshot_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SnapshotError) as info:
        load_session(path)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    assert isinstance(info.value, ValueError)


def test_binary_and_directory_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "x.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SnapshotError, match="not an lkmon"):
        load_session(binary)
    with pytest.raises(SnapshotError, match="directory"):
        load_session(tmp_path)


def test_schema_violation_in_a_turn_names_its_path(demo: SessionModel, tmp_path: Path) -> None:
    snap = json.loads(json.dumps(build_snapshot(demo)))
    snap["turns"][3]["metrics"]["llm_ttft"] = "fast"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(snap))
    with pytest.raises(SnapshotError, match="turns/3/metrics/llm_ttft"):
        load_session(path)


def test_corrupt_turn_in_a_long_snapshot_is_caught(tmp_path: Path) -> None:
    """Long snapshots are schema-checked on a sample; the loader checks every turn."""
    model = SessionModel(max_events=100)
    model.apply_many(synthetic_session(turns=300, background=False))
    snap = json.loads(json.dumps(build_snapshot(model)))
    snap["turns"][137]["metrics"]["e2e_latency"] = "slow"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(snap))
    with pytest.raises(SnapshotError, match="turns/137"):
        load_session(path)


def test_no_secret_in_snapshot(tmp_path: Path, planted: Redactor) -> None:
    model = SessionModel()
    model.apply_many(demo_session())
    model.turns[1].user_text = f"my key is {SECRET}"
    model.transcript[0].text = f"agent said {SECRET}"
    model.session.agent_file = f"/home/{SECRET}/agent.py"
    path = write_snapshot(model, tmp_path / "s.json")
    text = path.read_text()
    assert SECRET not in text
    assert "[REDACTED]" in text
    json.loads(text)  # still valid JSON


def test_secret_with_json_escapes_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = 'pa"ss\\word-42'
    redactor = Redactor([secret])
    monkeypatch.setattr("lkmon.store.snapshot.default_redactor", lambda: redactor)
    model = SessionModel()
    model.apply_many(demo_session())
    model.turns[0].agent_text = f"the password is {secret}"
    path = write_snapshot(model, tmp_path / "s.json")
    assert secret not in json.dumps(json.loads(path.read_text()))
    assert secret not in path.read_text() and json.dumps(secret)[1:-1] not in path.read_text()


def test_redact_text_keeps_lengths_and_timings(demo: SessionModel, tmp_path: Path) -> None:
    plain = build_snapshot(demo)
    red = build_snapshot(demo, redact_text=True)
    assert red["redacted_text"] is True
    for a, b in zip(plain["turns"], red["turns"], strict=True):
        assert a["metrics"] == b["metrics"] and a["started_at"] == b["started_at"]
        for key in ("user_text", "agent_text"):
            if a[key] is None:
                assert b[key] is None
            else:
                assert len(a[key]) == len(b[key]) and a[key] != b[key] or not a[key].strip()
                assert a[key].count(" ") == b[key].count(" ")
    path = write_snapshot(demo, tmp_path / "r.json", redact_text=True)
    text = path.read_text()
    for phrase in ("capital of France", "Paris", "long story", "get_time({})", "09:10"):
        assert phrase not in text
    loaded = load_session(path)
    assert loaded.turns[1].metrics.e2e_latency == demo.turns[1].metrics.e2e_latency


@pytest.mark.parametrize("use_orjson", [True, False])
def test_non_finite_figures_are_written_as_null(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_orjson: bool
) -> None:
    if not use_orjson:
        monkeypatch.setattr("lkmon.store.snapshot.orjson", None)
        monkeypatch.setattr("lkmon.store.parse.orjson", None)
    model = SessionModel()
    model.apply_many(demo_session())
    model.turns[1].metrics.llm_tps = float("inf")
    model.turns[2].metrics.llm_tps = float("nan")
    path = write_snapshot(model, tmp_path / "s.json")
    data = json.loads(path.read_text())  # strict JSON: no NaN/Infinity tokens
    assert "Infinity" not in path.read_text() and "NaN" not in path.read_text()
    assert data["turns"][1]["metrics"]["llm_tps"] is None
    assert data["turns"][2]["metrics"]["llm_tps"] is None
    assert load_session(path).turns[1].agent_text == model.turns[1].agent_text


def test_a_format_1_snapshot_still_loads(tmp_path: Path) -> None:
    """lkmon 0.1 wrote format 1: no kind/preemptive/discarded/missing keys; its `greeting`
    meant "no user message". Rebuilt from its sections, it keeps its turns as recorded."""
    model = SessionModel()
    model.apply_many(demo_session())
    snap = build_snapshot(model)
    snap["lkmon_snapshot"] = 1
    snap["events_complete"] = snap["session"]["events_complete"] = False
    snap["events"] = []
    del snap["session"]["discarded_reply_count"]
    for turn in snap["turns"]:
        for key in ("kind", "agent_initiated", "before_user_speech", "preemptive",
                    "empty_reply", "handoffs", "missing", "discarded"):
            del turn[key]
        del turn["metrics"]["llm_ttft_first"], turn["metrics"]["llm_calls"]
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(snap))
    loaded = load_session(path)
    assert len(loaded.turns) == len(model.turns)
    assert [t.greeting for t in loaded.turns] == [t["greeting"] for t in snap["turns"]]
    assert [t.metrics.e2e_latency for t in loaded.turns] == [
        t.metrics.e2e_latency for t in model.turns]
    assert build_snapshot(loaded)["lkmon_snapshot"] == SNAPSHOT_VERSION
