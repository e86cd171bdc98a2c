"""What a full (gen-2) collection walks during a session: nothing lkmon or LiveKit builds once
and keeps for good (docs/benchmarks.md, part 6's gen-2 pause).

The runner freezes everything alive before the session (``gc.freeze()``), so a full collection
later walks only what was made since; these tests check two things that were made since and
walked by every collection."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from lkmon import paths
from lkmon.agent.host.runner import RunOptions, SessionRunner
from lkmon.model.events import ChatMessageAdded, SessionClosed

SCRIPTED = Path(__file__).parent / "data" / "agents" / "scripted_agent.py"


def test_a_free_name_is_found_without_building_every_candidate(tmp_path: Path) -> None:
    # a list of all 10,000 candidate paths (~30,000 tracked objects) on every save set off
    # young collections by the dozen and then a full one with the TUI's objects in it
    young = [0]

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            young[0] += 1

    (tmp_path / "s.json").write_text("{}")
    gc.collect()
    gc.callbacks.append(count)
    try:
        for _ in range(20):
            assert paths.next_free(tmp_path, "s", ".json") == tmp_path / "s-1.json"
    finally:
        gc.callbacks.remove(count)
    assert young[0] <= 2, f"{young[0]} collections for 20 free names"


def test_livekit_hyphenation_trie_is_built_before_the_freeze() -> None:
    # LiveKit's transcript synchronizer builds it on the first reply: ~13,000 dicts and lists
    # that every later full collection walked (+5 ms a pause with the TUI, bench uicost)
    from livekit.agents.tokenize import _basic_hyphenator

    _basic_hyphenator._get_hyphenator.cache_clear()
    events: list = []
    seen: dict[str, int] = {}

    def on_event(ev: object) -> None:
        events.append(ev)
        if isinstance(ev, SessionClosed):
            seen["walked"] = sum(isinstance(o, _basic_hyphenator.Hyphenator)
                                 for o in gc.get_objects())

    options = RunOptions(agent_file=SCRIPTED, inputs=["text"], text_lines=["hi there"], gap=0.3)
    asyncio.run(asyncio.wait_for(SessionRunner(options, on_event).run(), 60))
    assert [e.role for e in events if isinstance(e, ChatMessageAdded)] == ["user", "assistant"]
    assert _basic_hyphenator._get_hyphenator.cache_info().currsize == 1  # it was used
    assert seen == {"walked": 0}  # and frozen: not among what a full collection walks
