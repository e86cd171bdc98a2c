"""Nothing lost when saving goes wrong (issue 11, points 3-7): a full or immutable export folder
(exit 3, one line naming the journal), a journal that stops or is deleted mid-session, SIGHUP,
a signal during the final snapshot write, a file that appears at the export path meanwhile, and
sessions started in the same second. Real files, a real tmpfs, ``chattr +i`` and real signals
(to this process); the session is ``misbehaving_agent.py`` behaving, typed to in text mode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_app import CLOCK, RecordingSource, demo_model

from lkmon.agent.host.options import RunOptions
from lkmon.cli import main
from lkmon.errors import SaveFailed
from lkmon.headless import run_headless
from lkmon.sources import InProcessSource
from lkmon.store import files
from lkmon.store.files import write_private_atomic
from lkmon.store.journal import JournalWriter, default_journal_path, load_journal
from lkmon.store.snapshot import write_snapshot
from lkmon.tui.app import LkmonApp

AGENT = Path(__file__).parent / "data" / "agents" / "misbehaving_agent.py"
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mount a tmpfs, chattr +i)")


@pytest.fixture(autouse=True)
def _signals_back() -> Iterator[None]:
    """main() and the session take SIGINT/SIGTERM/SIGHUP over: give this process its own back."""
    saved = {sig: signal.getsignal(sig) for sig in files.QUIT_SIGNALS}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def typed(*steps: str | Callable[[], None]) -> Iterator[str]:
    """stdin for ``--input text``: each string is a turn (sent after the previous reply); each
    callable runs at that point, in the caller's thread, mid-session."""
    for step in steps:
        if callable(step):
            step()
        else:
            yield step + "\n"


def headless(tmp_path: Path, lines: Iterator[str], *, export: Path | None = None,
             journal: Path | None = None) -> Path | None:
    """The same session through ``run_headless`` with a short gap between turns (cheaper)."""
    options = RunOptions(agent_file=AGENT, inputs=["text"], output="null", text_lines=lines,
                         journal=journal or tmp_path / "j.jsonl", gap=0.1, close_timeout=1.0,
                         capture_root_logs=True)
    return run_headless(InProcessSource(options), export or tmp_path / "s.json")


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("lkmon: error:")]


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (root only), unmounted afterwards."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(folder: Path) -> None:
    """Fill the file system ``folder`` is on."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob(".*.tmp")]


# -- 3. a final snapshot that cannot be written: exit 3, one line, the journal named ----------

@ROOT_ONLY
def test_a_full_disk_stops_the_journal_once_and_the_snapshot_fails_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_tmpfs: Path,
) -> None:
    journal = tiny_tmpfs / "j.jsonl"
    with pytest.raises(SaveFailed) as failed:
        headless(tmp_path, typed("hello", lambda: fill(tiny_tmpfs), "again"),
                 export=tiny_tmpfs / "s.json", journal=journal)
    out, err = capsys.readouterr()
    # the journal stopped: told once, the session went on (both turns in the table)
    assert [line for line in err.splitlines() if "writing stopped" in line] == [
        f"lkmon: warning: journal {journal}: writing stopped (OSError: No space left on device);"
        " the session goes on and the snapshot at the end holds it"
    ]
    assert "turn   2" in out and "Traceback" not in err
    # the snapshot could not be written either (exit 3 from main: the next test)
    assert failed.value.message == (
        f"could not save the snapshot {tiny_tmpfs / 's.json'}: No space left on device; the "
        f"journal {journal} still holds the session (lkmon replay {journal} --export FILE)")
    assert sorted(p.name for p in tiny_tmpfs.iterdir()) == ["filler", "j.jsonl"]  # no temp file
    users = [e.text for e in load_journal(journal).events if getattr(e, "role", "") == "user"]
    assert users[0] == "hello"  # what fitted is kept, and reads back


@ROOT_ONLY
def test_could_not_save_is_exit_3_and_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_tmpfs: Path,
) -> None:
    snapshot = tmp_path / "s.json"
    write_snapshot(demo_model(), snapshot)
    fill(tiny_tmpfs)
    code = main(["replay", str(snapshot), "--export", str(tiny_tmpfs / "out.json")])
    err = capsys.readouterr().err
    assert code == 3
    assert err == (f"lkmon: error: could not save the snapshot {tiny_tmpfs / 'out.json'}: "
                   "No space left on device\n")
    assert sorted(p.name for p in tiny_tmpfs.iterdir()) == ["filler"]


@ROOT_ONLY
def test_an_export_folder_made_immutable_mid_session_is_save_failed(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    try:
        with pytest.raises(SaveFailed) as failed:
            headless(tmp_path, typed(
                "hello", lambda: subprocess.run(["chattr", "+i", str(out_dir)], check=True)),
                export=out_dir / "s.json")
    finally:
        subprocess.run(["chattr", "-i", str(out_dir)], check=True)
    assert failed.value.exit_code == 3
    assert failed.value.message == (
        f"could not save the snapshot {out_dir / 's.json'}: Operation not permitted; the journal "
        f"{tmp_path / 'j.jsonl'} still holds the session (lkmon replay {tmp_path / 'j.jsonl'} "
        "--export FILE)")
    assert list(out_dir.iterdir()) == []


@ROOT_ONLY
async def test_the_tui_quit_says_why_the_snapshot_was_not_saved(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    subprocess.run(["chattr", "+i", str(out_dir)], check=True)
    try:
        app = LkmonApp(demo_model(), RecordingSource(), snapshot_path=out_dir / "s.json",
                       clock=lambda: CLOCK)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("q")
            await pilot.pause(0.3)
    finally:
        subprocess.run(["chattr", "-i", str(out_dir)], check=True)
    assert app.return_value is None
    assert app.save_failure == f"{out_dir / 's.json'}: Operation not permitted"


# -- 4. a journal that stops being written, or is deleted ---------------------------------------

def test_a_deleted_journal_and_a_file_at_the_export_path_lose_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Point 4 (the journal deleted mid-session) and point 7 (a file created at the export
    path meanwhile) in one session."""
    journal, export = tmp_path / "j.jsonl", tmp_path / "s.json"

    def meddle() -> None:
        journal.unlink()
        export.write_text("mine")

    written = headless(tmp_path, typed("hello", meddle, "again"))
    out, err = capsys.readouterr()
    moved = tmp_path / "j-1.jsonl"
    assert f"lkmon: warning: journal {journal} was deleted: the session goes on in {moved}" in err
    kept = load_journal(moved)
    snap = json.loads((tmp_path / "s-1.json").read_text())
    assert kept.session_id == snap["session"]["session_id"]
    users = [e.text for e in kept.events if getattr(e, "role", None) == "user"]
    assert users == ["hello", "again"]  # the turn before the deletion too
    # the file that appeared at the export path is kept; the snapshot went beside it
    assert export.read_text() == "mine" and written == tmp_path / "s-1.json"
    assert f"lkmon: snapshot {written}" in out
    assert [t["user_text"] for t in snap["turns"]] == ["hello", "again"]
    assert temp_files(tmp_path) == []
    assert main(["replay", str(moved), "--export", str(tmp_path / "r.json")]) == 0


# -- 5. SIGHUP is SIGTERM --------------------------------------------------------------------

def test_sighup_ends_a_headless_session_with_its_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    unhandled: list[int] = []
    signal.signal(signal.SIGHUP, lambda s, f: unhandled.append(s))  # else it would end pytest
    hang = threading.Event()
    written = headless(tmp_path, typed(
        "hello", lambda: os.kill(os.getpid(), signal.SIGHUP), lambda: hang.wait(8), "late"))
    hang.set()
    out, err = capsys.readouterr()
    assert unhandled == []
    assert "lkmon: SIGHUP: ending the session" in err
    assert written == tmp_path / "s.json" and f"lkmon: snapshot {written}" in out
    assert [t["user_text"] for t in json.loads(written.read_text())["turns"]] == ["hello"]


async def test_sighup_quits_the_app_gracefully(tmp_path: Path) -> None:
    app = LkmonApp(demo_model(), RecordingSource(), export_dir=tmp_path, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert signal.SIGHUP in app._signals.installed  # else the signal would end the test run
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(40):
            await pilot.pause(0.05)
            if not app.is_running:
                break
    assert app.return_value is not None and app.return_value.exists()


# -- 6. a signal during the final snapshot write ----------------------------------------------

def test_signals_during_the_snapshot_write_wait_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl+C (once: it threw the finished snapshot away) and SIGTERM (it left a ``.tmp``)
    arrive while the snapshot is being written, before it is published."""
    real_fsync, sent, fatal = os.fsync, [], []

    def fsync_then_signal(fd: int) -> None:
        if not sent and os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):  # the snapshot
            for sig in (signal.SIGINT, signal.SIGTERM):
                sent.append(sig)
                if signal.getsignal(sig) == signal.SIG_DFL:
                    fatal.append(sig)  # it would kill lkmon (and pytest) mid-write
                else:
                    os.kill(os.getpid(), sig)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_then_signal)
    written = headless(tmp_path, typed("hello"))
    err = capsys.readouterr().err
    assert sent == [signal.SIGINT, signal.SIGTERM] and fatal == []
    assert written == tmp_path / "s.json"
    assert "lkmon: SIGINT, SIGTERM while saving: saved first" in err
    assert json.loads((tmp_path / "s.json").read_text())["turns"][0]["user_text"] == "hello"
    assert temp_files(tmp_path) == []


# -- 7. publish without overwriting; names unique per process ---------------------------------

def test_sessions_started_in_the_same_second_get_their_own_journals(tmp_path: Path) -> None:
    name = default_journal_path(now=1_800_000_000.0, folder=tmp_path)
    writers = [JournalWriter(name) for _ in range(3)]
    for w in writers:
        w.close()
    assert len({w.path for w in writers}) == 3
    assert [load_journal(w.path).session_id for w in writers] == [w.session_id for w in writers]
    assert writers[0].path == name and writers[2].path.name.endswith("-2.journal.jsonl")


def test_publishing_never_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    first = write_private_atomic(tmp_path / "a.json", b"1", overwrite=False)
    second = write_private_atomic(tmp_path / "a.json", b"2", overwrite=False)
    assert (first.name, second.name) == ("a.json", "a-1.json")
    assert first.read_bytes() == b"1" and second.read_bytes() == b"2"
    assert temp_files(tmp_path) == [] and oct(second.stat().st_mode & 0o777) == "0o600"
