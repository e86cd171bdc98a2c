"""The CI latency gate: ``--budget`` (``lkmon check``, ``lkmon replay --export``, ``lkmon run
--headless``), ``--baseline`` with ``--tolerance``, exit codes 0/1/2, JUnit XML valid against the
Jenkins xunit-plugin's junit-10.xsd (vendored in tests/data, as shipped in pytest 8.4.2's sdist:
testing/example_scripts/junit-10.xsd, MIT). In-process ``main([...])``."""

from __future__ import annotations

import io
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lkmon.cli import main
from lkmon.report.gate import GateError, parse_budget, parse_tolerance
from lkmon.store.db import Store
from tests.gate_sessions import snapshot_file

DATA = Path(__file__).parent / "data"
XSD = DATA / "junit-10.xsd"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("check")
    return {
        "base": snapshot_file(d / "base.json", seed=1),
        "same": snapshot_file(d / "same.json", seed=2),
        "slow": snapshot_file(d / "slow.json", seed=3, scale=1.5),
        "fast": snapshot_file(d / "fast.json", seed=4, scale=0.6),
        "few": snapshot_file(d / "few.json", turns=6, seed=5),
    }


def test_budget_grammar() -> None:
    b = parse_budget(" e2e.p95 <= 1.5 , ttft.p50<=0.4s,cost<=0.05,tts_ttfb.max<=1,eou.mean<=2")
    assert [x.name for x in b] == ["e2e_latency.p95<=1.5", "llm_ttft.p50<=0.4", "cost<=0.05",
                                   "tts_ttfb.max<=1", "eou_delay.mean<=2"]
    assert parse_tolerance("p95=25%")["p95"] == 0.25 and parse_tolerance("p50=0.1")["p50"] == 0.1
    for bad in ("e2e.p95<1.5", "e2e.p95", "e2e.p95<=", "loudness.p95<=1", "e2e.p42<=1", "e2e,",
                "cost<=nan", "e2e.p95<=inf"):
        with pytest.raises(GateError):
            parse_budget(bad)
    for bad in ("p42=10%", "p50", "p50=-1%", "p50=ten"):
        with pytest.raises(GateError):
            parse_tolerance(bad)


def test_budgets_exit_0_and_1(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = str(files["base"])
    assert main(["check", base, "--budget", "e2e.p95<=1.5,ttft.p50<=0.4,cost<=0.05"]) == 0
    out = capsys.readouterr().out
    assert "e2e_latency.p95<=1.5" in out and out.count("pass") == 3 and "FAIL" not in out
    assert main(["check", base, "--budget", "e2e.p95<=1.5,e2e.p50<=0.9,eou.max<=5"]) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("e2e_latency.p50<=0.9"))
    assert "FAIL" in row and "(n=30)" in row and "-0.1" in row  # measured ~1.06 s
    assert "lkmon: FAIL: e2e_latency.p50<=0.9: e2e latency p50" in out


def test_baseline_verdicts(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    base = str(files["base"])
    assert main(["check", str(files["slow"]), "--baseline", base]) == 1
    assert "e2e latency p50 is 1.5" in capsys.readouterr().out
    assert main(["check", str(files["same"]), "--baseline", base]) == 0
    assert main(["check", str(files["fast"]), "--baseline", base]) == 0
    # a 50 % slowdown inside a 100 % tolerance is no regression
    assert main(["check", str(files["slow"]), "--baseline", base,
                 "--tolerance", "p50=100%,p95=100%"]) == 0
    # too few turns: skipped, never failed
    assert main(["check", str(files["few"]), "--baseline", base, "--markdown"]) == 0
    md = capsys.readouterr().out
    assert "| e2e latency p50 (turns without tool calls) | ratio <= 1.15 |" in md
    assert md.count("skipped") == 10 and "All checks hold." in md


def test_junit_valid_against_the_ci_schema(files: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    schema = xmlschema.XMLSchema(XSD)
    junit = tmp_path / "gate.xml"
    assert main(["check", str(files["slow"]), "--baseline", str(files["base"]),
                 "--budget", "e2e.p95<=1.5,cost<=1", "--junit", str(junit)]) == 1
    schema.validate(junit)
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == int(suite.get("tests", "")) == 2 + 10 + 1  # budgets, stages, cost
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert len(failed) == int(suite.get("failures", "")) == 11 and "cost<=1" not in failed
    assert {c.get("classname") for c in cases} == {"lkmon.budget", "lkmon.baseline"}
    few = tmp_path / "few.xml"
    assert main(["check", str(files["few"]), "--baseline", str(files["base"]),
                 "--junit", str(few)]) == 0
    schema.validate(few)
    assert ET.parse(few).getroot().find("testsuite").get("skipped") == "10"  # type: ignore[union-attr]
    capsys.readouterr()


@pytest.mark.parametrize("argv, message", [
    (["check", "{base}"], "nothing to check"),
    (["check", "{base}", "--budget", "e2e.p95=>1"], "budget 'e2e.p95=>1'"),
    (["check", "{base}", "--budget", "e2e.p95<=1", "--tolerance", "p50=5%"],
     "--tolerance needs --baseline"),
    (["check", "{base}", "--budget", "e2e.p95<=1", "--junit", "no/such/dir/j.xml"],
     "folder no/such/dir does not exist"),
    (["check", "missing.json", "--budget", "e2e.p95<=1"], "missing.json: no such file"),
    (["replay", "{base}", "--budget", "e2e.p95<=1"], "--budget and --junit need --export"),
    (["run", "--budget", "e2e.p95<=1"], "--budget and --junit need --headless"),
    (["run", "--headless", "--budget", "cost"], "budget 'cost'"),
])
def test_bad_input_exit_2(files: dict[str, Path], argv: list[str], message: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main([a.format(base=files["base"]) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lkmon: error: ") and message in err and err.count("\n") == 1


def test_replay_export_budget_fails_after_writing(files: dict[str, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    assert main(["replay", str(files["base"]), "--export", str(out),
                 "--budget", "e2e.p50<=0.5"]) == 1
    assert json.loads(out.read_text())["summary"]["turns"] == 31
    assert main(["replay", str(files["base"]), "--export", str(tmp_path / "o2.json"),
                 "--budget", "e2e.p50<=5"]) == 0
    assert "lkmon budgets" in capsys.readouterr().out


@pytest.mark.slow  # a session whose replies play in real time (~5 s): .ci/run's slow lane
@pytest.mark.models
def test_run_headless_budget_fails_after_snapshot_and_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real (scripted) session: exit 1 only once the snapshot and the store rows exist."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello there\n"))
    snap, db, junit = tmp_path / "s.json", tmp_path / "s.db", tmp_path / "j.xml"
    code = main(["run", str(DATA / "agents" / "scripted_agent.py"), "--headless", "--input",
                 "text", "--export", str(snap), "--db", str(db),
                 "--budget", "ttft.p50<=0.000001,ttfb.max<=30", "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert json.loads(snap.read_text())["turns"][0]["user_text"] == "hello there"
    with Store(db) as store:
        assert [r["turn_count"] for r in store.sessions()] == [1]
    assert "llm_ttft.p50<=1e-06" in out and out.index("lkmon: stored session") < out.index(
        "lkmon budgets")
    cases = ET.parse(junit).getroot().iter("testcase")
    assert [c.find("failure") is not None for c in cases] == [True, False]


def test_check_reads_a_real_journal(capsys: pytest.CaptureFixture[str]) -> None:
    """A journal recorded from a real session (offline models): its one spoken turn's figures."""
    journal = str(DATA / "real_session_0870.journal.jsonl")
    assert main(["check", journal, "--budget", "e2e.p95<=10,cost<=0", "--markdown"]) == 0
    md = capsys.readouterr().out
    assert "| `e2e_latency.p95<=10` | <= 10 s | 0.947 s (n=1) |" in md
    assert main(["check", journal, "--budget", "e2e.max<=0.5"]) == 1
