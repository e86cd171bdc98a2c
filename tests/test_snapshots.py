"""SVG snapshots of every pane and screen (pytest-textual-snapshot), fed fixed timestamps.

The scripted session of tests/synthetic.py starts at a fixed epoch second and the app gets a fixed
clock, so times and durations are stable; the time zone is pinned to UTC. Update the snapshots
after a deliberate change with ``pytest tests/test_snapshots.py --snapshot-update`` and look at
the report before committing them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from synthetic import T0, demo_session
from textual.pilot import Pilot

from lkmon.model.events import LoadProgress
from lkmon.model.state import SessionModel
from lkmon.tui.app import LkmonApp


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def demo_app(**kw: object) -> LkmonApp:
    """The replay app on the demo session: greeting, spoken, typed, tool-call, interrupted,
    late-metrics, no-speech_id and failed turns (see ``synthetic.demo_session``)."""
    model = SessionModel()
    model.apply_many(demo_session())
    return LkmonApp(model, clock=lambda: T0 + 60.0, **kw)


def test_full_screen_120x40(snap_compare) -> None:
    """Every pane at 120x40: turns with bars and summary, transcript, VAD, usage, log, banner."""
    assert snap_compare(demo_app(), terminal_size=(120, 40))


def test_full_screen_200x60(snap_compare) -> None:
    """A large terminal: the same panes with room to spare."""
    assert snap_compare(demo_app(), terminal_size=(200, 60))


@pytest.mark.parametrize("key", ["1", "2", "3", "4", "5"])
def test_each_pane_at_80x24(snap_compare, key: str) -> None:
    """80x24: one pane at a time, switched with the number keys."""
    assert snap_compare(demo_app(), press=[key], terminal_size=(80, 24))


def test_turn_cursor_moved(snap_compare) -> None:
    """The cursor on the tool-call turn (4), following off."""
    assert snap_compare(demo_app(), press=["k", "k", "k", "k"], terminal_size=(120, 40))


def test_turn_detail_tool_call(snap_compare) -> None:
    """Turn 4's detail: user/assistant metrics, two LLM calls under one speech_id, the tool."""
    assert snap_compare(demo_app(), press=["k", "k", "k", "k", "enter"],
                        terminal_size=(120, 50))


def test_turn_detail_interrupted(snap_compare) -> None:
    """Turn 5's detail: interrupted, with the unheard part."""
    assert snap_compare(demo_app(), press=["k", "k", "k", "enter"], terminal_size=(120, 40))


def test_help(snap_compare) -> None:
    """The help screen lists every key."""
    assert snap_compare(demo_app(), press=["question_mark"], terminal_size=(120, 50))


def test_too_small(snap_compare) -> None:
    """Below 80x24: a notice instead of broken panes."""
    assert snap_compare(demo_app(), terminal_size=(60, 20))


def test_loading_and_redacted(snap_compare) -> None:
    """Model loading progress before the first turn, and --redact placeholders."""

    async def loading(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, LkmonApp)
        app.apply_events([LoadProgress(ts=T0 + 61, stage="llm: smollm2-135m", done=2, total=4,
                                       seconds=None)])
        await pilot.pause()

    assert snap_compare(demo_app(redact=True), run_before=loading, terminal_size=(120, 40))
