"""The HTML report: rendered from the snapshot with the Jinja2 template, self-contained, with
bars, percentiles, transcript, usage; every string through the redactor."""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

import pytest

from lkmon.model import vocab
from lkmon.model.events import ErrorRaised
from lkmon.model.state import SessionModel
from lkmon.redact import Redactor
from lkmon.report.html import build_html_report, write_html_report
from lkmon.store.convert import to_snapshot
from lkmon.store.snapshot import load_snapshot, write_snapshot
from tests.synthetic import T0, demo_session, synthetic_session

SECRET = "tok-PLANTED-9f8e7d6c5b4a"


@pytest.fixture(scope="module")
def demo() -> SessionModel:
    model = SessionModel()
    model.apply_many(demo_session())
    return model


def test_report_has_bars_percentiles_transcript_and_usage(
    demo: SessionModel, tmp_path: Path
) -> None:
    path = write_html_report(to_snapshot(demo), tmp_path / "r.html")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # one row per turn, each with a stacked bar: the stages, then the rest of e2e (as on screen)
    assert page.count('<div class="bar">') == len(demo.turns) == 8
    assert page.count('title="EOU delay') == 6  # spoken turns only
    assert page.count('title="LLM TTFT') == 7 and page.count('title="TTS TTFB') == 7
    assert page.count('title="other') == 5  # the turns with an e2e latency
    widths = [float(w) for w in re.findall(r"width:([0-9.]+)%", page)]
    assert widths and max(widths) <= 100.0
    # one scale: the same EOU delay (0.55 s) has the same width in every turn, in the
    # vocabulary's colour (the TUI's)
    eou = re.findall(r'width:([0-9.]+)%;background:' + vocab.EOU.colour
                     + r'" title="EOU delay 0.550 s"', page)
    assert len(eou) == 4 and len(set(eou)) == 1  # turns 2, 4, 5 and 8
    # the longest bar (turn 4: e2e 1.953 s) fills the width
    assert "bar scale: 1.953 s full width" in page
    summary = demo.summary()
    assert f"{summary['e2e'].p50:.3f} s" in page and f"{summary['e2e'].p95:.3f} s" in page
    assert f"{summary['llm_ttft'].max:.3f} s" in page
    assert "worst turn: <b>#4</b>" in page and "dominant stage <b>EOU delay</b>" in page
    assert "<th class=n>EOU delay</th>" in page and "<th class=n>e2e latency</th>" in page
    assert "The capital of France is Paris." in page and "What time is it?" in page
    assert 'class="unheard">was a<' in page
    assert '<span class="tag">tool: get_time</span>' in page
    assert "get_time({}) -&gt; 09:10" in page
    assert "llama.cpp / smollm2-135m-instruct" in page and "3,260" in page
    assert "llm stalled for 10.0 s" in page


def test_a_saved_snapshot_renders_the_same_report(demo: SessionModel, tmp_path: Path) -> None:
    saved = write_snapshot(demo, tmp_path / "s.json")
    assert build_html_report(load_snapshot(saved)) == build_html_report(to_snapshot(demo))
    assert build_html_report(demo) == build_html_report(to_snapshot(demo))  # a model converts


def test_report_is_self_contained(demo: SessionModel) -> None:
    page = build_html_report(demo)
    assert "http" not in page.lower()
    assert "<script" not in page and "<link" not in page and "<img" not in page
    assert "@import" not in page and "url(" not in page


def test_e2e_colours_follow_thresholds(demo: SessionModel) -> None:
    strict = build_html_report(demo, thresholds=(0.5, 1.0))
    lax = build_html_report(demo, thresholds=(5.0, 10.0))
    assert strict.count('class="n bad"') == 5 and 'class="n good"' not in strict
    assert lax.count('class="n good"') == 5 and 'class="n bad"' not in lax
    assert strict.count('class="n na"') == 3  # greeting, typed, failed: no e2e latency
    for rating, colour in vocab.RATING_COLOURS.items():
        assert f"td.{rating}{{background:{colour}" in strict


def test_every_string_passes_the_redactor_and_is_escaped(tmp_path: Path) -> None:
    model = SessionModel()
    model.apply_many(demo_session())
    model.apply(ErrorRaised(ts=T0 + 50, source=f"llm {SECRET}", message=f"401 key={SECRET}"))
    model.turns[1].agent_text = f"your token is {SECRET} <b>"
    model.session.agent_file = f"agent-{SECRET}.py"
    model.session.models["llm"] = f"x/{SECRET}"
    page = build_html_report(to_snapshot(model), redactor=Redactor([SECRET]))
    assert SECRET not in page and page.count("[REDACTED]") >= 6
    assert "&lt;b&gt;" in page and "<b>\n" not in page
    red = build_html_report(to_snapshot(model, redact_text=True), redactor=Redactor([SECRET]))
    assert "capital of France" not in red and "text redacted" in red
    assert "\u2588" * 7 in red  # "capital" as placeholders of the same length


def test_the_default_redactor_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lkmon.report.html.default_redactor", lambda: Redactor([SECRET]))
    model = SessionModel()
    model.apply_many(demo_session())
    model.turns[1].agent_text = f"your token is {SECRET}"
    page = write_html_report(model, tmp_path / "r.html").read_text()
    assert SECRET not in page and "[REDACTED]" in page


def test_a_thousand_turns_render_fast() -> None:
    model = SessionModel()
    model.apply_many(synthetic_session(1000, background=False))
    snap = to_snapshot(model)
    start = time.perf_counter()
    page = build_html_report(snap)
    seconds = time.perf_counter() - start
    assert page.count('<div class="bar">') == len(model.turns) >= 1000
    assert seconds < 1.0, seconds  # about 0.1 s on 2 cores
