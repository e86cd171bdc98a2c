"""``lkmon.tui.refresh.PaneRefresh``: throttled panes wait for the app's next flush, no timers."""

from __future__ import annotations

from lkmon.tui.refresh import PaneRefresh


class Pane:
    MIN_INTERVAL = 0.25

    def __init__(self, fail: bool = False) -> None:
        self.renders = 0
        self.fail = fail

    def update_view(self) -> None:
        self.renders += 1
        if self.fail:
            raise ValueError("boom")


def test_throttled_pane_waits_for_a_flush_after_its_interval() -> None:
    now = [100.0]
    errors: list[str] = []
    refresh = PaneRefresh(lambda where, e: errors.append(where), clock=lambda: now[0])
    pane = Pane()
    refresh.pane(pane, force=False)  # first time: at once
    assert pane.renders == 1
    for _ in range(5):  # a burst within the interval: one pending render
        now[0] += 0.02
        refresh.pane(pane, force=False)
    assert (pane.renders, refresh.pending) == (1, 1)
    refresh.flush()  # still within the interval: nothing yet
    assert (pane.renders, refresh.pending) == (1, 1)
    now[0] = 100.3
    refresh.flush()
    assert (pane.renders, refresh.pending) == (2, 0)
    refresh.flush()  # nothing pending: nothing drawn
    assert pane.renders == 2
    refresh.pane(pane)  # force: at once, whatever the interval
    assert pane.renders == 3
    assert errors == []


def test_a_failing_pane_is_reported_and_not_retried() -> None:
    errors: list[str] = []
    refresh = PaneRefresh(lambda where, e: errors.append(where), clock=lambda: 0.0)
    pane = Pane(fail=True)
    refresh.pane(pane)
    refresh.flush()
    assert errors == ["Pane.update_view"]
    assert refresh.pending == 0
