"""Constructed sessions for ``lkmon compare`` and ``lkmon check``: scripted turns (tests/synthetic)
whose stage figures are drawn around a base with a fixed seed and scaled, so one session is
clearly faster, clearly slower or the same as another."""

from __future__ import annotations

import random
from pathlib import Path

from lkmon.model.state import SessionModel
from lkmon.store.snapshot import write_snapshot
from tests.synthetic import Script


def session(turns: int = 30, *, scale: float = 1.0, seed: int = 1, tools_every: int = 0,
            t0: float = 1_767_225_600.0) -> SessionModel:
    """A greeting then ``turns`` spoken turns; EOU delay, LLM TTFT and TTS TTFB (and so the e2e
    latency) near 0.5 / 0.3 / 0.2 s with +-20 % jitter from ``seed``, times ``scale``; every
    ``tools_every``-th turn makes a tool call."""
    rnd = random.Random(seed)
    s = Script(t0=t0, background=False).start()
    s.greeting()
    for i in range(turns):
        s.idle(0.5)

        def j(base: float) -> float:
            return round(base * scale * rnd.uniform(0.8, 1.2), 4)

        tool = ("get_time", "{}", "09:10") if tools_every and i % tools_every == 0 else None
        s.spoken_turn(f"Question {i + 1}?", "Here is the answer.", eou=j(0.5),
                      transcription=j(0.2), ttft=j(0.3), ttfb=j(0.2), tool=tool)
    events = s.close()
    model = SessionModel()
    model.apply_many(events)
    return model


def snapshot_file(path: Path, turns: int = 30, **kw: object) -> Path:
    """``session(...)`` written as a snapshot at ``path``."""
    return write_snapshot(session(turns, **kw), path)  # type: ignore[arg-type]
