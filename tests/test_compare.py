"""``lkmon compare``: the documented verdicts on constructed sessions (clearly faster, clearly
slower, the same), "too few turns", tool-call turns apart, reproducible intervals, sides from
files, store ids and tags; in-process ``main([...])``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lkmon.cli import main
from lkmon.report.compare import MIN_CI_TURNS, ratio
from lkmon.store.convert import to_snapshot
from lkmon.store.db import Store, session_rows
from tests.gate_sessions import session, snapshot_file


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("compare")
    return {
        "base": snapshot_file(d / "base.json", seed=1),
        "same": snapshot_file(d / "same.json", seed=2),  # other jitter, same distribution
        "slow": snapshot_file(d / "slow.json", seed=3, scale=1.5),
        "fast": snapshot_file(d / "fast.json", seed=4, scale=0.6),
        "few": snapshot_file(d / "few.json", turns=6, seed=5),
        "tools": snapshot_file(d / "tools.json", turns=40, seed=6, tools_every=3),
    }


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["compare", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _verdicts(doc: dict, group: str = "plain") -> dict[str, str]:
    return {r["stage"]: r["ratio_p50"]["verdict"] for r in doc["rows"] if r["group"] == group}


STAGES = ["eou_delay", "transcription_delay", "llm_ttft", "tts_ttfb", "e2e_latency"]


def test_slower_faster_and_the_same(files: dict[str, Path],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    slow = _json(capsys, str(files["base"]), str(files["slow"]))
    assert _verdicts(slow) == dict.fromkeys(STAGES, "slower")
    e2e = next(r for r in slow["rows"] if r["stage"] == "e2e_latency")
    assert e2e["a"]["n"] == e2e["b"]["n"] == 30  # the greeting has no e2e latency
    assert 1.3 < e2e["ratio_p50"]["ratio"] < 1.7
    assert 1.0 < e2e["ratio_p50"]["ci_low"] < e2e["ratio_p50"]["ratio"] < e2e["ratio_p50"][
        "ci_high"]
    assert _verdicts(_json(capsys, str(files["base"]), str(files["fast"]))) == dict.fromkeys(
        STAGES, "faster")
    assert _verdicts(_json(capsys, str(files["base"]), str(files["same"]))) == dict.fromkeys(
        STAGES, "no clear difference")


def test_too_few_turns_and_no_p95(files: dict[str, Path],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, str(files["base"]), str(files["few"]))
    e2e = next(r for r in doc["rows"] if r["stage"] == "e2e_latency")
    assert e2e["b"]["n"] == 6 < MIN_CI_TURNS
    assert e2e["b"]["p95"] is None and e2e["a"]["p95"] is not None  # 30 turns: shown
    assert e2e["ratio_p50"]["verdict"] == "too few turns" and e2e["ratio_p50"]["ci_low"] is None
    assert main(["compare", str(files["base"]), str(files["few"])]) == 0
    table = capsys.readouterr().out
    e2e_line = next(line for line in table.splitlines() if line.startswith("e2e latency"))
    assert e2e_line.count("too few turns") == 3  # B's p95, the interval, the verdict


def test_tool_call_turns_apart(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, str(files["tools"]), str(files["tools"]))
    tools = [r for r in doc["rows"] if r["group"] == "tools"]
    plain = {r["stage"]: r for r in doc["rows"] if r["group"] == "plain"}
    e2e_tools = next(r for r in tools if r["stage"] == "e2e_latency")
    assert e2e_tools["a"]["n"] == 14 and plain["e2e_latency"]["a"]["n"] == 26
    # the tool's run and the second LLM call sit inside a tool-call turn's e2e latency
    assert e2e_tools["a"]["p50"] > plain["e2e_latency"]["a"]["p50"] + 0.25
    assert e2e_tools["ratio_p50"]["ratio"] == 1.0
    assert e2e_tools["ratio_p50"]["verdict"] == "no clear difference"


def test_reproducible_and_markdown(files: dict[str, Path],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    first = _json(capsys, str(files["base"]), str(files["same"]))
    assert _json(capsys, str(files["base"]), str(files["same"])) == first
    assert first["method"]["seed"] and first["method"]["confidence"] == 0.95
    assert main(["compare", str(files["base"]), str(files["slow"]), "--markdown"]) == 0
    md = capsys.readouterr().out
    assert "| e2e latency | 30 |" in md and "**slower**" in md
    assert md.count("\n|") == 2 + 5  # header, rule, one row per stage


def test_ratio_interval_needs_turns() -> None:
    a = [0.5 + 0.01 * i for i in range(MIN_CI_TURNS - 1)]
    r = ratio(a, [2 * x for x in a])
    assert r.value == pytest.approx(2.0) and r.low is None and r.verdict == "too few turns"
    r = ratio([*a, 0.6], [2 * x for x in [*a, 0.6]])
    assert r.low is not None and r.low > 1.0 and r.verdict == "slower"


def test_sides_from_the_store_by_id_and_tag(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.db"
    ids = {}
    with Store(db) as store:
        for name, kw in (("main-1", {"seed": 1}), ("main-2", {"seed": 2}),
                         ("pr-1", {"seed": 3, "scale": 1.5}), ("pr-2", {"seed": 4, "scale": 1.5})):
            snap = to_snapshot(session(15, t0=1_767_225_600.0 + 1000 * len(ids), **kw))
            rows = session_rows(snap, source=name, tags={"branch": name.split("-")[0]})
            store.write_session(rows)
            ids[name] = rows.session_id
    doc = _json(capsys, "--a-tag", "branch=main", "--b-tag", "branch=pr", "--db", str(db))
    assert sorted(doc["a"]["sessions"]) == sorted([ids["main-1"], ids["main-2"]])
    e2e = next(r for r in doc["rows"] if r["stage"] == "e2e_latency")
    assert e2e["a"]["n"] == e2e["b"]["n"] == 30 and e2e["ratio_p50"]["verdict"] == "slower"
    doc = _json(capsys, ids["main-1"][:8], ids["main-2"], "--db", str(db))
    assert doc["a"]["sessions"] == [ids["main-1"]] and doc["b"]["turns"] == 16


@pytest.mark.parametrize("argv, message", [
    (["only-one"], "give two sessions to compare"),
    (["nope.json", "nope2.json"], "nope.json: no such file, and no session store at"),
    (["--a-tag", "k=v"], "give A B, or both --a-tag K=V and --b-tag K=V"),
    (["--a-tag", "novalue", "--b-tag", "k=v"], "'novalue': use KEY=VALUE"),
])
def test_bad_input_is_one_line_exit_2(argv: list[str], message: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lkmon: error: ") and message in err and err.count("\n") == 1


def test_html_report_file(files: dict[str, Path], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp.html"
    assert main(["compare", str(files["base"]), str(files["slow"]), "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    assert page.count("<svg") == 5 and page.count('class="verdict bad">slower') == 5
    assert "lkmon: HTML report" in capsys.readouterr().err
    assert main(["compare", str(files["base"]), str(files["slow"]), "--html",
                 str(tmp_path / "no" / "x.html")]) == 2


def test_tags_from_lkmon_import(files: dict[str, Path], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """The store's own ``--tag`` (``lkmon import --tag K=V``) picks the sides, and
    ``lkmon check --baseline-tag`` reads them too."""
    db = str(tmp_path / "s.db")
    assert main(["import", str(files["base"]), "--tag", "branch=main", "--db", db]) == 0
    assert main(["import", str(files["slow"]), "--tag", "branch=pr", "--db", db]) == 0
    capsys.readouterr()
    doc = _json(capsys, "--a-tag", "branch=main", "--b-tag", "branch=pr", "--db", db)
    assert _verdicts(doc) == dict.fromkeys(STAGES, "slower")
    assert doc["a"]["label"] == "tag branch=main" and len(doc["b"]["sessions"]) == 1
    assert main(["check", str(files["slow"]), "--baseline-tag", "branch=main", "--db", db]) == 1
    assert main(["check", str(files["same"]), "--baseline-tag", "branch=main", "--db", db]) == 0
    assert main(["compare", "--a-tag", "branch=nope", "--b-tag", "branch=pr", "--db", db]) == 2
    assert "no session tagged branch=nope" in capsys.readouterr().err
