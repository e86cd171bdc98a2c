"""``lkmon run`` with the TUI, through the real console script in a pseudo-terminal, and the
wiring of ``--thresholds``, ``--export FILE`` and ``--fault`` into the app and the plugins.
"""

from __future__ import annotations

import json
import os
import re
import select
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lkmon import cli

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SCRIPTED = DATA / "agents" / "scripted_agent.py"
WAV = DATA / "librivox_sense_0880.wav"
LKMON = str(Path(sys.executable).parent / "lkmon")


def _read_until(proc: Any, pattern: str, timeout: float, sink: list[str]) -> bool:
    """Read the pty into ``sink`` until ``pattern`` appears (True) or ``timeout`` (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, "".join(sink)):
            return True
        if not proc.isalive():
            break
        try:
            chunk = proc.read(65536)
        except EOFError:
            break
        sink.append(chunk.decode("utf-8", errors="replace"))
    # whatever is left after the process ended
    try:
        while True:
            sink.append(proc.read(65536).decode("utf-8", errors="replace"))
    except (EOFError, OSError):
        pass
    return bool(re.search(pattern, "".join(sink)))


@pytest.mark.models  # a recording in real time, in a pseudo-terminal
def test_tui_quit_prints_the_snapshot_path_and_writes_the_export_file(tmp_path: Path) -> None:
    """The real TUI in a terminal: the session ends, ``q`` quits, the snapshot goes to the
    ``--export`` FILE and its path is printed after the screen closes."""
    ptyprocess = pytest.importorskip("ptyprocess")
    target = tmp_path / "mine.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    proc = ptyprocess.PtyProcess.spawn(
        [LKMON, "run", str(SCRIPTED), "--input", str(WAV), "--output", "null",
         "--export", str(target), "--thresholds", "0.5,3"],
        cwd=str(tmp_path), env=env, dimensions=(40, 120),
    )
    out: list[str] = []
    try:
        # the scripted agent answers the recording; the caller then ends the session
        assert _read_until(proc, r"ENDED", 90, out), "".join(out)[-3000:]
        proc.write(b"q")
        assert _read_until(proc, r"lkmon: snapshot \S+", 30, out), "".join(out)[-3000:]
        proc.wait()
    finally:
        if proc.isalive():
            proc.terminate(force=True)
    text = "".join(out)
    assert proc.exitstatus == 0, text[-3000:]
    assert "Traceback" not in text
    assert re.search(r"lkmon: journal \S+", text)
    printed = re.search(r"lkmon: snapshot (\S+)", text)
    assert printed is not None and Path(printed.group(1)) == target
    snap = json.loads(target.read_text())
    assert snap["turns"] and snap["turns"][0]["user_text"] == "hello number 1"
    assert target.stat().st_mode & 0o077 == 0


def test_a_terminal_that_goes_away_ends_the_session_and_keeps_its_snapshot(
    tmp_path: Path,
) -> None:
    """The terminal closes under a running ``lkmon run`` (tmux killed, ssh lost): SIGHUP quits
    as ``q`` would, the snapshot is written and the process ends with 0 (it hung for good when
    Textual's writer thread died on the first failed write: tui/compat.py)."""
    ptyprocess = pytest.importorskip("ptyprocess")
    target, journal = tmp_path / "mine.json", tmp_path / "session.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
    proc = ptyprocess.PtyProcess.spawn(
        [LKMON, "run", str(SCRIPTED), "--input", str(WAV), "--output", "null", "--no-db",
         "--export", str(target), "--journal", str(journal)], cwd=str(tmp_path), env=env,
        dimensions=(40, 120))
    out: list[str] = []
    status = None
    try:
        deadline = time.monotonic() + 60
        while '"type":"session_started"' not in (
                journal.read_text() if journal.exists() else ""):
            assert time.monotonic() < deadline and proc.isalive(), "".join(out)[-3000:]
            if select.select([proc.fd], [], [], 0.1)[0]:  # the screen, drawn as it comes
                out.append(proc.read(65536).decode("utf-8", errors="replace"))
        os.close(proc.fd)  # the terminal goes away, the session running
        deadline = time.monotonic() + 30
        while status is None and time.monotonic() < deadline:
            pid, code = os.waitpid(proc.pid, os.WNOHANG)
            status = code if pid else None
            time.sleep(0.1)
        assert status is not None, "lkmon run hung after its terminal went away"
    finally:
        if status is None:
            os.kill(proc.pid, 9)
            os.waitpid(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    snap = json.loads(target.read_text())
    assert snap["session"]["agent_file"].endswith("scripted_agent.py"), snap["session"]


class _FakeRunner:
    """Stands in for SessionRunner: records its options, starts nothing."""

    instances: list[_FakeRunner] = []

    def __init__(self, options: Any, emit: Any) -> None:
        self.options = options
        self.error = None
        self.journal = None  # SessionRunner's JournalWriter: none opened here
        _FakeRunner.instances.append(self)

    def prepare(self) -> None:
        pass


class _FakeApp:
    """Stands in for LkmonApp: records its arguments; ``run()`` returns a snapshot path."""

    instances: list[_FakeApp] = []
    save_failure: str | None = None  # LkmonApp's: why the snapshot on quit was not written

    def __init__(self, model: Any, source: Any = None, **kw: Any) -> None:
        self.source = source
        self.kw = kw
        _FakeApp.instances.append(self)

    def run(self) -> Path | None:
        path = self.kw.get("snapshot_path") or Path(self.kw["export_dir"]) / "quit.json"
        return Path(path)


@pytest.fixture
def fake_tui(monkeypatch: pytest.MonkeyPatch) -> type[_FakeApp]:
    import lkmon.agent.host.runner
    import lkmon.tui.app

    _FakeApp.instances.clear()
    _FakeRunner.instances.clear()
    monkeypatch.setattr(lkmon.tui.app, "LkmonApp", _FakeApp)
    monkeypatch.setattr(lkmon.agent.host.runner, "SessionRunner", _FakeRunner)
    return _FakeApp


def test_thresholds_and_export_file_reach_the_app(
    tmp_path: Path, fake_tui: type[_FakeApp], capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.json"
    code = cli.main(["run", str(SCRIPTED), "--input", str(WAV), "--thresholds", "0.8, 2.5",
                     "--export", str(target), "--journal", str(tmp_path / "j.jsonl")])
    assert code == 0
    kw = fake_tui.instances[0].kw
    assert kw["thresholds"] == (0.8, 2.5)
    assert kw["snapshot_path"] == target
    assert f"lkmon: snapshot {target}" in capsys.readouterr().err


def test_export_folder_means_a_new_file_in_it(
    tmp_path: Path, fake_tui: type[_FakeApp], capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["run", str(SCRIPTED), "--input", str(WAV), "--export", str(tmp_path),
                     "--journal", str(tmp_path / "j.jsonl")])
    assert code == 0
    kw = fake_tui.instances[0].kw
    assert kw["snapshot_path"] is None and kw["export_dir"] == tmp_path
    assert kw["thresholds"] == (1.0, 2.0)
    assert f"lkmon: snapshot {tmp_path / 'quit.json'}" in capsys.readouterr().err


def test_fault_option_configures_the_local_plugins(
    tmp_path: Path, fake_tui: type[_FakeApp], monkeypatch: pytest.MonkeyPatch
) -> None:
    from lkmon.local import faults

    monkeypatch.setenv("LKMON_FAULTS", "stt_raise")
    try:
        code = cli.main(["run", str(SCRIPTED), "--input", str(WAV), "--fault", "llm_raise@2",
                         "--fault", "tts_silent", "--journal", str(tmp_path / "j.jsonl"),
                         "--export", str(tmp_path)])
        assert code == 0
        injector = faults.current()
        assert injector is not None
        # --fault wins over $LKMON_FAULTS
        assert [str(f) for f in injector.faults] == ["llm_raise@2", "tts_silent"]
    finally:
        faults.set_faults(None)


def test_thresholds_parse() -> None:
    assert cli.parse_thresholds("1,2") == (1.0, 2.0)
    assert cli.parse_thresholds(" 0.25 , 0.75 ") == (0.25, 0.75)
    for bad in ("2,1", "1,1", "0,1", "-1,2", "1", "1,2,3", "a,b", "nan,2", "1,inf", ""):
        with pytest.raises(Exception, match="GOOD"):
            cli.parse_thresholds(bad)


class _SessionApp(_FakeApp):
    """A fake app whose ``run()`` folds the synthetic demo session into the model, as the real
    app does with the runner's events, then returns."""

    def __init__(self, model: Any, runner: Any = None, **kw: Any) -> None:
        super().__init__(model, runner, **kw)
        self.model = model

    def run(self) -> Path | None:
        from synthetic import demo_session

        for event in demo_session():
            self.model.apply(event)
        return super().run()


def test_the_tui_stores_the_session_when_the_app_ends(
    tmp_path: Path, fake_tui: type[_FakeApp], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import lkmon.tui.app
    from lkmon.store.convert import to_snapshot
    from lkmon.store.db import Store

    monkeypatch.setattr(lkmon.tui.app, "LkmonApp", _SessionApp)
    db = tmp_path / "s.db"
    code = cli.main(["run", str(SCRIPTED), "--input", str(WAV), "--db", str(db),
                     "--journal", str(tmp_path / "j.jsonl")])
    assert code == 0
    model = fake_tui.instances[0].model  # type: ignore[attr-defined]
    snap = to_snapshot(model)
    err = capsys.readouterr().err
    sid = snap.session.session_id
    assert f"lkmon: stored session {sid} ({len(snap.turns)} turns) in {db}" in err
    with Store(db) as store:
        (row,) = store.sessions()
        turns = store.rows("turns", row["session_id"])
    assert row["session_id"] == snap.session.session_id
    assert [t["e2e_latency"] for t in turns] == [t.metrics.e2e_latency for t in snap.turns]
    assert len(turns) > 1


class _UnsavedApp(_FakeApp):
    """A fake app whose snapshot on quit could not be written (as ``write_quit_snapshot``
    reports it)."""

    def run(self) -> Path | None:
        self.save_failure = f"{self.kw['snapshot_path']}: Operation not permitted"
        return None


def test_a_quit_snapshot_that_could_not_be_written_is_exit_3(
    tmp_path: Path, fake_tui: type[_FakeApp], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import lkmon.tui.app

    monkeypatch.setattr(lkmon.tui.app, "LkmonApp", _UnsavedApp)
    target, journal = tmp_path / "out.json", tmp_path / "j.jsonl"
    code = cli.main(["run", str(SCRIPTED), "--input", str(WAV), "--export", str(target),
                     "--journal", str(journal), "--no-db"])
    assert code == 3
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"lkmon: error: could not save the snapshot {target}: Operation not permitted; the "
        f"journal {journal} still holds the session (lkmon replay {journal} --export FILE)")
