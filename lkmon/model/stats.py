"""Latency statistics over turns: p50, p95 and max per stage, and the worst turn.

Percentiles come from ``statistics.quantiles(..., n=100, method="inclusive")`` (linear
interpolation between closest ranks, the same as numpy's default), never from our own code.
No textual or livekit import here.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lkmon.model import vocab
from lkmon.model.eou import PARTS
from lkmon.model.turns import Turn

SUMMARY_STAGES = tuple(s.key for s in vocab.SUMMARY_STAGES)
"""Stage keys of a ``LatencySummary``: EOU delay, LLM TTFT, TTS TTFB, e2e latency (and
``heard``, the heard gap, shown where lkmon measured the audio)."""


@dataclass(slots=True, frozen=True)
class StageStats:
    """Statistics of one stage over the turns that have it, in seconds (``None`` when count 0)."""

    count: int = 0
    p50: float | None = None
    p95: float | None = None
    max: float | None = None
    mean: float | None = None

    @classmethod
    def of(cls, values: list[float]) -> StageStats:
        """Stats of ``values`` (seconds); one value gives p50 = p95 = max = that value."""
        n = len(values)
        if n == 0:
            return cls()
        if n == 1:
            v = values[0]
            return cls(1, v, v, v, v)
        q = statistics.quantiles(values, n=100, method="inclusive")
        return cls(n, q[49], q[94], max(values), statistics.fmean(values))


@dataclass(slots=True, frozen=True)
class LatencySummary:
    """Per-stage latency statistics of a session.

    Attributes:
        stages: ``{"eou", "llm_ttft", "tts_ttfb", "e2e", "heard"} -> StageStats`` (``heard``:
            lkmon's ``heard_gap``, measured on the audio).
        turns: number of turns considered.
        worst_turn: index of the turn with the largest e2e latency, or ``None``.
        worst_e2e: that turn's e2e latency, seconds.
        worst_stage: that turn's dominant stage (``"eou"``, ``"llm_ttft"`` or ``"tts_ttfb"``).
    """

    stages: dict[str, StageStats] = field(default_factory=dict)
    turns: int = 0
    worst_turn: int | None = None
    worst_e2e: float | None = None
    worst_stage: str | None = None

    def __getitem__(self, stage: str) -> StageStats:
        return self.stages.get(stage, StageStats())

    @classmethod
    def of(cls, turns: Iterable[Turn]) -> LatencySummary:
        """Summarise ``turns``; each stage counts only the turns where it is known."""
        eou: list[float] = []
        ttft: list[float] = []
        ttfb: list[float] = []
        e2e: list[float] = []
        heard: list[float] = []
        worst: Turn | None = None
        n = 0
        for turn in turns:
            n += 1
            m = turn.metrics
            if m.eou_delay is not None:
                eou.append(m.eou_delay)
            if m.llm_ttft is not None:
                ttft.append(m.llm_ttft)
            if m.tts_ttfb is not None:
                ttfb.append(m.tts_ttfb)
            if m.e2e_latency is not None:
                e2e.append(m.e2e_latency)
                if worst is None or m.e2e_latency > (worst.metrics.e2e_latency or 0.0):
                    worst = turn
            if m.heard_gap is not None:
                heard.append(m.heard_gap)
        stages = {
            "eou": StageStats.of(eou),
            "llm_ttft": StageStats.of(ttft),
            "tts_ttfb": StageStats.of(ttfb),
            "e2e": StageStats.of(e2e),
            "heard": StageStats.of(heard),
        }
        if worst is None:
            return cls(stages, n)
        return cls(stages, n, worst.index, worst.metrics.e2e_latency, worst.dominant_stage())


def eou_part_stats(segments: Iterable[Mapping[str, float | None]]) -> dict[str, StageStats]:
    """p50/p95/max of each part of the EOU delay (``lkmon.model.eou.PARTS`` -> seconds) over
    the turns' ``EouParts.segments`` (one mapping per turn that has LiveKit's spans)."""
    values: dict[str, list[float]] = {p: [] for p in PARTS}
    for seg in segments:
        for name, v in seg.items():
            if v is not None:
                values[name].append(v)
    return {name: StageStats.of(v) for name, v in values.items()}
