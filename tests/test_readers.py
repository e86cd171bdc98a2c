"""Readers that never traceback (issue 11, point 8): every file lkmon cannot load is one
``lkmon: error:`` line saying what and where (the file, the JSON path of a snapshot, the line of
a journal), exit 2; "truncated" only when the text ends early; and what lkmon writes, lkmon reads
(a plugin's NaN, infinite, fractional or huge figures included).

In-process (``lkmon.cli.main``), on a real session: the journal of tests/data and the snapshot
lkmon writes from it.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_cli_bad_input import assert_one_line_error, lkmon

from lkmon.agent.observe.convert import metrics_event, usage_list
from lkmon.model.events import Event, PluginMetrics, UsageUpdated
from lkmon.model.figures import num
from lkmon.model.state import SessionModel
from lkmon.store.journal import JournalWriter, read_journal
from lkmon.store.snapshot import load_session, write_snapshot

DATA = Path(__file__).resolve().parent / "data"
JOURNAL = DATA / "real_session_0870.journal.jsonl"


@pytest.fixture(scope="module")
def snapshot_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The snapshot lkmon writes of the real session (format 3, events complete)."""
    path = tmp_path_factory.mktemp("snap") / "real.json"
    write_snapshot(load_session(JOURNAL), path)
    return path.read_bytes()


def _edit(raw: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    data = json.loads(raw)
    change(data)
    return json.dumps(data).encode()


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = data
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        node[int(last) if isinstance(node, list) else last] = value

    return change


SNAPSHOT_ERRORS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "ts is text": (
        lambda r: _edit(r, _set("events/1/ts", "abc")),
        "invalid snapshot at events/1/log/ts: Input should be a valid number",
    ),
    "type is a list": (
        lambda r: _edit(r, _set("events/1/type", [])),
        "invalid snapshot at events/1: unknown event type '[]'",
    ),
    "false for an object": (
        lambda r: _edit(r, _set("session", False)),
        "invalid snapshot at session: Input should be an object",
    ),
    "a list for a speech_id": (
        lambda r: _edit(r, _set("turns/0/speech_id", ["a"])),
        "invalid snapshot at turns/0/speech_id: Input should be a valid string",
    ),
    "NaN for a count": (
        lambda r: r.replace(b'"turn_count":', b'"turn_count":NaN,"_":', 1),
        "invalid snapshot at session/turn_count: Input should be a valid integer",
    ),
    "NaN for a time": (
        lambda r: r.replace(b'"ts":', b'"ts":NaN,"_":', 1),
        "invalid snapshot at turns/0/plugin_metrics/0/ts: Input should be a finite number",
    ),
    "1e400 for a figure": (
        lambda r: r.replace(b'"llm_node_ttft":', b'"llm_node_ttft":1e400,"_":', 1),
        "invalid snapshot at events/46/conversation_item_added/metrics/llm_node_ttft: "
        "Input should be a finite number",
    ),
    "nesting over 1,024": (
        lambda r: r[:-1] + b',"x":' + b"[" * 1100 + b"]" * 1100 + b"}",
        "invalid JSON: nested deeper than 200 levels at line 1 column",
    ),
    "deep enough for a RecursionError": (
        lambda r: r[:-1] + b',"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "invalid JSON: nested deeper than 200 levels",
    ),
    "not UTF-8": (
        lambda r: r.replace(b'"lkmon.local"', b'"lkmon.\xff"', 1),
        "invalid JSON: invalid unicode code point at line 1 column",
    ),
    "trailing text": (lambda r: r + b"}", "invalid JSON: trailing characters at line 1"),
    "truncated": (
        lambda r: r[: len(r) // 2],
        "truncated snapshot (invalid JSON: EOF while parsing",
    ),
}


@pytest.mark.parametrize("case", SNAPSHOT_ERRORS, ids=list(SNAPSHOT_ERRORS))
def test_a_bad_snapshot_is_one_line_saying_what_and_where(
    tmp_path: Path, snapshot_bytes: bytes, case: str
) -> None:
    mutate, expected = SNAPSHOT_ERRORS[case]
    path = tmp_path / "bad.json"
    path.write_bytes(mutate(snapshot_bytes))
    result = lkmon(["replay", str(path), "--export", str(tmp_path / "out.json")], tmp_path)
    assert_one_line_error(result, f"{path}: {expected}")
    if case != "truncated":
        assert "truncated" not in result.stderr


SNAPSHOTS_THAT_LOAD: dict[str, Callable[[bytes], bytes]] = {
    "a UTF-8 BOM": lambda r: b"\xef\xbb\xbf" + r,
    "a lone surrogate escape": lambda r: r.replace(b'"lkmon.local"', b'"bad\\udcffname"', 1),
    "a huge integer": lambda r: r.replace(b'"turn_count":', b'"turn_count":1' + b"0" * 40 + b","
                                          b'"_":', 1),
}


@pytest.mark.parametrize("case", SNAPSHOTS_THAT_LOAD, ids=list(SNAPSHOTS_THAT_LOAD))
def test_valid_json_odd_but_lkmons_loads(tmp_path: Path, snapshot_bytes: bytes, case: str) -> None:
    path = tmp_path / "odd.json"
    path.write_bytes(SNAPSHOTS_THAT_LOAD[case](snapshot_bytes))
    model = load_session(path)
    assert len(model.turns) == 2
    if case == "a lone surrogate escape":  # U+FFFD stands for it: the text can be written
        assert any(r.logger == "bad\ufffdname" for r in model.logs)
    out = tmp_path / "again.json"
    write_snapshot(model, out)
    assert len(load_session(out).turns) == 2


def _journal_lines() -> list[bytes]:
    return JOURNAL.read_bytes().split(b"\n")


def test_journal_errors_name_the_line(tmp_path: Path) -> None:
    lines = _journal_lines()
    cases = {
        "deep": (lines[3][:-1] + b',"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                 "line 4 is not JSON (nested too deeply)"),
        "false": (b"false", "line 4 is not an event object"),
    }
    for name, (line, expected) in cases.items():
        path = tmp_path / f"{name}.journal.jsonl"
        path.write_bytes(b"\n".join([*lines[:3], line, *lines[4:]]))
        assert_one_line_error(lkmon(["replay", str(path), "--export", str(tmp_path)], tmp_path),
                              f"journal {path}: {expected}")


def test_a_journal_with_a_bom_and_a_lone_surrogate_loads(tmp_path: Path) -> None:
    lines = _journal_lines()
    log = json.loads(lines[2])
    assert log["type"] == "log"
    odd = lines[2].replace(log["message"].encode(), b"listing bad\\udcffname")
    path = tmp_path / "odd.journal.jsonl"
    path.write_bytes(b"\n".join([b"\xef\xbb\xbf" + lines[0], lines[1], odd, *lines[3:]]))
    model = load_session(path)
    assert model.session.session_id == json.loads(lines[0])["session_id"]
    assert model.logs[0].message == "listing bad\ufffdname"
    assert len(read_journal(path)) == len(read_journal(JOURNAL))


class _LiveKitMetric:
    """A LiveKit metrics object as the bridge sees it (``type``, ``model_dump``...)."""

    def __init__(self, pm: PluginMetrics, bad: Any) -> None:
        self.type = f"{pm.kind}_metrics"
        self.label, self.speech_id, self.request_id = pm.label, pm.speech_id, pm.request_id
        self.timestamp, self.metadata = bad, None
        self._values = {
            k: bad if isinstance(v, int | float) and not isinstance(v, bool) else v
            for k, v in pm.values.items()
        }

    def model_dump(self, exclude: Any = ()) -> dict[str, Any]:
        return dict(self._values)


def _with_bad_figures(events: list[Event], bad: Any) -> list[Event]:
    """The session's events as the bridge makes them from plugins that report ``bad`` for every
    figure: each metric's values and timestamp, each usage count and duration."""
    out: list[Event] = []
    for e in events:
        if isinstance(e, PluginMetrics):
            fresh = metrics_event(_LiveKitMetric(e, bad))
            assert fresh is not None
            fresh.speech_id = e.speech_id
            e = fresh
        elif isinstance(e, UsageUpdated):
            rows = [
                SimpleNamespace(type=f"{u.kind}_usage", provider=u.provider, model=u.model,
                                input_tokens=bad, input_cached_tokens=bad, output_tokens=bad,
                                characters_count=bad, audio_duration=bad)
                for u in e.usage
            ]
            e = UsageUpdated(ts=e.ts, usage=usage_list(SimpleNamespace(model_usage=rows)))
        out.append(copy.copy(e))
    return out


@pytest.mark.parametrize(
    "bad", [math.nan, math.inf, -math.inf, 1e300, 10**30, 10**400, -5, 2.5],
    ids=["nan", "inf", "-inf", "1e300", "1e30 int", "1e400 int", "negative", "fraction"],
)
def test_what_lkmon_writes_lkmon_reads(tmp_path: Path, bad: Any) -> None:
    """A plugin's absurd figures: the snapshot and the journal lkmon writes load back, with the
    same turns and usage (lkmon 0.1 refused its own NaN token count; a 400-digit integer was an
    OverflowError)."""
    events = _with_bad_figures(read_journal(JOURNAL), bad)
    live = SessionModel()
    live.apply_many(events)
    snap = write_snapshot(live, tmp_path / "s.json")
    writer = JournalWriter(tmp_path / "s.journal.jsonl")
    for e in events:
        writer.write(e)
    writer.close()
    for path in (snap, writer.path):
        again = load_session(path)
        assert [t.metrics for t in again.turns] == [t.metrics for t in live.turns], path
        assert again.usage == live.usage, path
    assert len(read_journal(writer.path)) == len(events)
    for u in live.usage:  # counts stay counts
        assert isinstance(u.input_tokens, int) and u.input_tokens >= 0


def test_a_figure_is_a_finite_float_or_unknown() -> None:
    assert num(0.25) == 0.25 and num(3) == 3.0
    for bad in (math.nan, math.inf, 10**400, True, "1", None):
        assert num(bad) is None, bad
