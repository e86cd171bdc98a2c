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


def test_pending_panes_past_half_their_interval_join_a_frame() -> None:
    """Once one pane draws, the pending ones past half their interval draw in the same flush;
    those under half wait for their own interval."""
    now = [100.0]
    refresh = PaneRefresh(lambda where, e: None, clock=lambda: now[0])
    status, vad, late = Pane(), Pane(), Pane()
    vad.MIN_INTERVAL = 0.3  # type: ignore[misc]
    for pane in (status, vad, late):
        refresh.pane(pane, force=False)
    now[0] = 100.2
    refresh.flush()  # a flush with nothing drawn since the last: nothing joins
    refresh.pane(vad, force=False)  # 0.2 s: past half of 0.3, pending
    refresh.pane(status, force=False)  # 0.2 s of 0.25: pending
    refresh.flush()  # nothing due, nothing drawn: all wait
    assert (status.renders, vad.renders) == (1, 1)
    now[0] = 100.26
    refresh.flush()  # status is due; vad (0.26 of 0.3) joins it in the same flush
    assert (status.renders, vad.renders, refresh.pending) == (2, 2, 0)
    now[0] = 100.3
    refresh.pane(late, force=False)  # 0.3 s: due, drawn at once
    refresh.pane(vad, force=False)  # 0.04 s of 0.3: pending, under half
    refresh.flush()
    assert (late.renders, vad.renders, refresh.pending) == (2, 2, 1)
    now[0] = 100.41
    refresh.flush()  # 0.15 s of 0.3 and nothing drew: still waits
    assert vad.renders == 2
    now[0] = 100.56
    refresh.flush()
    assert (vad.renders, refresh.pending) == (3, 0)
