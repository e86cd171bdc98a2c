"""The heard gap on a real session: agent_entry.py on the offline models, two shared recordings,
through a null sink that holds its audio 0.2 s as a device's buffer would (slow lane, models).

Checks, on real audio and LiveKit's own figures: the caller's last voiced sample of each turn is
the recording's (found offline, to the sample) at the time the caller played it; the 0.2 s is in
the heard gap and not in LiveKit's e2e (whose playback start is the sink's read, as before); the
three parts add up to the difference; and a journal replay gives the same figures. Run under
``flock /work/tools/models.lock``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lkmon.agent.audio import sinks
from lkmon.agent.audio.heard import last_voiced
from lkmon.agent.audio.recordings import CALLER_SAMPLE_RATE, FRAME, load_recording
from lkmon.agent.host.runner import RunOptions, SessionRunner
from lkmon.model.heard import HeardDifference
from lkmon.model.state import SessionModel
from lkmon.store.restore import load_session

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path("/work/shared/audio")
CLIPS = [SHARED / "goforward.wav", SHARED / "librivox_sense_0880.wav"]
DELAY = 0.2


class LateSink(sinks.NullSink):
    """A null sink whose device holds every block ``DELAY`` seconds before it is heard."""

    def __init__(self, emit: sinks.Emit | None = None, **kw: object) -> None:
        super().__init__(emit, output_delay=DELAY)


@pytest.mark.slow
@pytest.mark.models
async def test_heard_gap_on_a_real_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sinks, "NullSink", LateSink)
    journal = tmp_path / "s.journal.jsonl"
    options = RunOptions(agent_file=ROOT / "agent_entry.py", inputs=[str(c) for c in CLIPS],
                         output="null", models="local", journal=journal, gap=0.5)
    events: list = []
    runner = SessionRunner(options, events.append)
    await asyncio.wait_for(runner.run(), 240)
    model = SessionModel()
    model.apply_many(events)
    spoken = [t for t in model.turns if t.user_text is not None and not t.typed]
    assert len(spoken) == len(CLIPS)
    assert runner.caller is not None and hasattr(runner.caller, "played")
    played = runner.caller.played  # (path, wall clock of its first frame, of its last)
    for turn, (path, started, _) in zip(spoken, played, strict=True):
        m, heard = turn.metrics, turn.heard
        assert heard is not None and m.heard_gap is not None and m.e2e_latency is not None
        # the recording's last voiced sample, found offline; its frame was handed over about
        # (index // 160 + 1) frames after the first (which holds the 10 ms before its hand-over)
        samples = load_recording(path).samples
        k = last_voiced(samples, CALLER_SAMPLE_RATE)
        assert k is not None
        expected = started - FRAME + (k + 1) / CALLER_SAMPLE_RATE
        assert heard.voice_end_at == pytest.approx(expected, abs=0.03), (path.name, k)
        # the sink's delay is in the heard gap, not in LiveKit's e2e
        assert heard.playback_started_at == m.agent_started_speaking_at
        assert heard.output_delay == DELAY and heard.at - heard.playback_started_at >= DELAY
        diff = HeardDifference.of(heard, m)
        assert diff is not None and diff.parts["sink"] == DELAY
        assert sum(diff.parts.values()) == pytest.approx(diff.difference, abs=1e-6)
        # the VAD's stop is within 0.15 s of the audio's; the reply's head silence under 0.3 s
        assert abs(diff.parts["vad"]) < 0.15 and 0.0 <= diff.parts["start"] < 0.3
        assert diff.flagged
        print(f"{path.name}: last voiced sample {k}, heard {m.heard_gap:.3f} s,"
              f" e2e {m.e2e_latency:.3f} s, {diff.detail()}")
    replayed = load_session(journal)
    assert [t.metrics.heard_gap for t in replayed.turns] == [t.metrics.heard_gap
                                                             for t in model.turns]
