"""The real thing inside the app: agent_entry.py on the offline models and a real recording,
run by the real ``SessionRunner`` on the app's own event loop, under Textual's test driver.

Asserts that what the user sees is there: the turn with its latency bar and e2e latency, VAD
activity, usage, the transcript; then that ``q`` stops the agent and saves the snapshot.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from test_app import text_of

from lkmon.model.vocab import fmt_s
from lkmon.tui.app import LkmonApp

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "tests" / "data" / "librivox_sense_0880.wav"  # "He was not an ill-disposed young man"

pytestmark = pytest.mark.models


async def test_real_agent_on_a_recording_in_the_app(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from lkmon.agent.host.options import RunOptions
    from lkmon.sources import InProcessSource

    for name in list(os.environ):
        if name.startswith("LIVEKIT_"):
            monkeypatch.delenv(name)
    options = RunOptions(agent_file=ROOT / "agent_entry.py", inputs=[str(CLIP)], output="null",
                         models="local", journal=tmp_path / "journal.jsonl",
                         capture_root_logs=True)
    source = InProcessSource(options)
    model = source.open()
    app = LkmonApp(model, source, export_dir=tmp_path)

    def spoken_turn_done() -> bool:
        return any(t.metrics.e2e_latency is not None and t.user_text for t in model.turns)

    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 240
        while not spoken_turn_done() and not app.session_over and time.monotonic() < deadline:
            await pilot.pause(0.5)
        await pilot.pause(0.5)
        assert spoken_turn_done(), [e.message for e in model.errors]
        turn = next(t for t in model.turns if t.metrics.e2e_latency is not None and t.user_text)
        assert "young man" in turn.user_text.lower()
        row = app.turns_pane.list.row_text(turn.index - 1).plain
        assert "█" in row and fmt_s(turn.metrics.e2e_latency) in row  # the vocabulary's format
        assert turn.metrics.llm_ttft is not None and turn.metrics.tts_ttfb is not None
        assert model.vad.trace and model.vad.speech_count >= 1
        vad = text_of(app.vad_pane)
        assert "segments" in vad and "inferences" in vad
        usage = text_of(app.usage_pane)
        assert "whisper" in usage and "tokens: prompt" in usage and "s audio" in usage
        assert "young man" in app.transcript_pane.rendered_text().lower()
        status = text_of(app.status_strip)
        assert "LIVE" in status or "ENDED" in status
        await pilot.press("q")
        deadline = time.monotonic() + 15
        while app.is_running and time.monotonic() < deadline:
            await pilot.pause(0.2)
    saved = app.return_value
    assert saved is not None and saved.exists()
    snapshot = json.loads(saved.read_text())
    assert any(t["metrics"]["e2e_latency"] for t in snapshot["turns"])
