"""The HTML report: self-contained, with bars, percentiles, transcript, usage; redacted."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from lkmon.model.state import SessionModel
from lkmon.redact import Redactor
from lkmon.report.html import build_html_report, write_html_report
from tests.synthetic import demo_session

SECRET = "tok-PLANTED-9f8e7d6c5b4a"


@pytest.fixture(scope="module")
def demo() -> SessionModel:
    model = SessionModel()
    model.apply_many(demo_session())
    return model


def test_report_has_bars_percentiles_transcript_and_usage(
    demo: SessionModel, tmp_path: Path
) -> None:
    path = write_html_report(demo, tmp_path / "r.html")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # one row per turn, each with a stacked bar of up to three stage segments
    assert page.count('<div class="bar">') == len(demo.turns) == 8
    assert page.count('title="EOU delay') == 6  # spoken turns only
    assert page.count('title="LLM TTFT') == 7 and page.count('title="TTS TTFB') == 7
    widths = [float(w) for w in re.findall(r"width:([0-9.]+)%", page)]
    assert widths and max(widths) <= 100.0
    # one scale: the same EOU delay (0.55 s) has the same width in every turn
    eou = re.findall(r'width:([0-9.]+)%;background:#5e81ac" title="EOU delay 0.550 s"', page)
    assert len(eou) == 4 and len(set(eou)) == 1  # turns 2, 4, 5 and 8
    summary = demo.summary()
    assert f"{summary['e2e'].p50:.3f} s" in page and f"{summary['e2e'].p95:.3f} s" in page
    assert f"{summary['llm_ttft'].max:.3f} s" in page
    assert "worst turn: <b>#4</b>" in page
    assert "The capital of France is Paris." in page and "What time is it?" in page
    assert 'class="unheard">was a<' in page
    assert "get_time({}) -&gt; 09:10" in page
    assert "llama.cpp / smollm2-135m-instruct" in page and "3260" in page
    assert "llm stalled for 10.0 s" in page


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


def test_report_redacts_secrets_and_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lkmon.report.html.default_redactor", lambda: Redactor([SECRET]))
    model = SessionModel()
    model.apply_many(demo_session())
    model.turns[1].agent_text = f"your token is {SECRET} <b>"
    page = write_html_report(model, tmp_path / "r.html").read_text()
    assert SECRET not in page and "[REDACTED]" in page and "&lt;b&gt;" in page
    red = build_html_report(model, redact_text=True)
    assert "capital of France" not in red and "text redacted" in red
    assert "\u2588" * 7 in red  # "capital" as placeholders of the same length
