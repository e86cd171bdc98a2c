"""The HTML reports in a real browser: headless Chromium (Debian's ``chromium`` package; .ci/run
installs it) loads the session report and the compare report; the tests assert on the rendered
DOM (``--dump-dom``: every turn and every stage present, the plots' dots one per turn, nothing
loaded from elsewhere) and on the console (``--enable-logging=stderr --v=0`` prints each console
message as an ``INFO:CONSOLE`` line: none may appear). Skipped, with the reason, without
chromium. One browser start is about 1 s."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lkmon.model import vocab
from lkmon.model.state import SessionModel
from lkmon.report.compare import compare, sample_of_snapshot
from lkmon.report.compare_html import write_compare_report
from lkmon.report.html import write_html_report
from lkmon.store.convert import to_snapshot
from tests.gate_sessions import session
from tests.synthetic import demo_session

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium: apt-get install -y chromium (Debian) for the browser checks",
)


class _Elements(HTMLParser):
    """Every start tag of a document with its attributes, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def load(path: Path, tmp_path: Path) -> tuple[_Elements, list[str]]:
    """The DOM Chromium rendered from ``path`` and the console lines it logged."""
    assert CHROMIUM is not None
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
         "--dump-dom", path.absolute().as_uri()],
        capture_output=True, text=True, timeout=90,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = _Elements()
    dom.feed(proc.stdout)
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    assert dom.tags, "chromium rendered nothing"
    return dom, console


def _external(dom: _Elements) -> list[str]:
    return [f"{tag} {attrs}" for tag, attrs in dom.tags
            if tag in ("script", "link", "img", "iframe") or "src" in attrs]


def test_the_console_check_sees_errors(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text('<p>x</p><script>console.error("boom"); missing_fn();</script>')
    dom, console = load(page, tmp_path)
    assert any('"boom"' in line for line in console)
    assert any("missing_fn is not defined" in line for line in console)
    assert _external(dom) == ["script {}"]


def test_session_report_renders_every_turn_and_stage(tmp_path: Path) -> None:
    model = SessionModel()
    model.apply_many(demo_session())
    snap = to_snapshot(model)
    dom, console = load(write_html_report(snap, tmp_path / "report.html"), tmp_path)
    assert console == [] and _external(dom) == []
    text = " ".join(" ".join(dom.text).split())
    bars = [a for tag, a in dom.tags if tag == "div" and a.get("class") == "bar"]
    assert len(bars) == len(snap.turns) == 8
    for turn in snap.turns:
        if turn.user_text:
            assert turn.user_text in text
        if turn.agent_text:
            assert turn.agent_text.split(".")[0] in text
    for stage in (*vocab.SUMMARY_STAGES, vocab.OTHER):
        assert stage.label in text
    segments = [a["title"] for tag, a in dom.tags if tag == "div" and a.get("class") == "seg"]
    assert sum(s.startswith("EOU delay") for s in segments) == 6  # the spoken turns


def test_compare_report_renders_every_stage_and_turn(tmp_path: Path) -> None:
    a = sample_of_snapshot(to_snapshot(session(24, seed=1, tools_every=4)), "base.json")
    b = sample_of_snapshot(to_snapshot(session(24, seed=2, scale=1.5, tools_every=4)), "pr.json")
    comp = compare(a, b)
    dom, console = load(write_compare_report(comp, tmp_path / "cmp.html"), tmp_path)
    assert console == [] and _external(dom) == []
    rows = [a["data-stage"] for tag, a in dom.tags if tag == "tr" and "data-stage" in a]
    plots = [a["data-stage"] for tag, a in dom.tags if tag == "div" and "data-stage" in a]
    expected = [r.stage.label + ("" if r.group == "plain" else " (tool-call turns)")
                for r in comp.rows]
    assert rows == plots == expected and len(expected) == 10
    assert [tag for tag, _ in dom.tags].count("svg") == 10
    # every figure of every turn is one dot in its side's lane
    lanes = [(a["class"], int(a["data-n"])) for tag, a in dom.tags
             if tag == "g" and a.get("class", "").startswith("side-")]
    assert lanes == [(f"side-{s}", n) for r in comp.rows for s, n in (("A", r.a.n), ("B", r.b.n))]
    assert [tag for tag, _ in dom.tags].count("circle") == sum(n for _, n in lanes)
    text = " ".join(dom.text)
    assert "slower" in text and "base.json" in text and "pr.json" in text
