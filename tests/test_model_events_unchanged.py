"""The model never changes the events it folds in: the journal thread may be serialising them."""

from __future__ import annotations

import copy

from synthetic import T0, demo_session

from lkmon.model.events import PluginMetrics
from lkmon.model.state import SessionModel


def test_folding_a_session_leaves_every_event_as_it_was() -> None:
    events = demo_session()
    before = copy.deepcopy(events)
    model = SessionModel()
    model.apply_many(events)
    assert model.turns
    assert events == before


def _metric(speech_id: str) -> PluginMetrics:
    # new strings each time, as a journal replay or a bridge makes them
    return PluginMetrics(ts=T0, kind="llm", label="".join(["livekit.plugins.", "openai.llm.LLM"]),
                         provider="".join(["api.", "openai.com"]), model="gpt-4.1",
                         speech_id=speech_id, values={"ttft": 0.3})


def test_plugin_metrics_labels_are_shared_on_a_copy_not_written_back() -> None:
    model = SessionModel()
    first, second = _metric("speech_1"), _metric("speech_2")
    label = second.label
    model.apply(first)
    model.apply(second)
    assert second.label is label  # the event still holds its own string
    kept = model.turns[1].plugin_metrics[0]
    assert kept is not second and kept == second  # a copy, equal in every field...
    assert kept.label is model.turns[0].plugin_metrics[0].label  # ...sharing the first's string
