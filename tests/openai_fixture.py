"""The ``openai_server`` fixture: ``tests/openai_server.py`` in a subprocess, for the session.

The server loads Whisper, SmolLM2 and Piper once (about 2 s) and listens on an ephemeral port of
127.0.0.1; the fixture waits for its ``PORT <n>`` line, and terminates it after the tests. Its
log goes to ``<pytest tmp>/openai_server.log``.

Also here: :func:`run_lkmon`, which runs ``lkmon run AGENT --headless`` against the server and
returns the snapshot, the journal, the output and the server's requests of that run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER_SCRIPT = ROOT / "tests" / "openai_server.py"
AGENTS = ROOT / "tests" / "data" / "agents"
API_KEY = "sk-test-not-a-secret"
START_TIMEOUT = 120.0
"""Seconds the server may take to load its models and listen."""


@dataclass
class OpenAIServer:
    """A running ``tests/openai_server.py``.

    Attributes:
        port: its TCP port on 127.0.0.1.
        base_url: ``http://127.0.0.1:PORT/v1`` (what ``OPENAI_BASE_URL`` takes).
        env: an environment for a ``lkmon run`` subprocess: this one without ``LIVEKIT_*`` and
            ``OPENAI_*`` variables, plus ``OPENAI_BASE_URL``, ``OPENAI_API_KEY`` and
            ``PYTHONPATH`` (this worktree first).
        log_path: the server's log file.
    """

    port: int
    base_url: str
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[str] = field(repr=False)

    def requests(self) -> list[dict[str, Any]]:
        """The request log: ``{"method", "path", "query", "started_at", "status", "seconds",
        "info"}`` per request, in arrival order (seconds: the whole exchange)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_test/requests") as r:
            return json.loads(r.read())

    def clear(self) -> None:
        """Empty the request log."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/_test/clear", method="POST")
        with urllib.request.urlopen(req) as r:
            r.read()


def start_server(log_path: Path) -> OpenAIServer:
    """Start the server and wait until it listens.

    Raises:
        RuntimeError: it exited or printed no port within ``START_TIMEOUT`` seconds.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    log.close()
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    if not line or not line[0].startswith("PORT "):
        proc.kill()
        proc.wait()
        raise RuntimeError(
            f"openai_server did not start: {log_path.read_text(errors='replace')[-2000:]}"
        )
    port = int(line[0].split()[1])
    lkmon_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "OPENAI_"))
    }
    lkmon_env.update(
        OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1",
        OPENAI_API_KEY=API_KEY,
        PYTHONPATH=env["PYTHONPATH"],
    )
    return OpenAIServer(port, f"http://127.0.0.1:{port}/v1", lkmon_env, log_path, proc)


def stop_server(server: OpenAIServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    if server.proc.stdout is not None:
        server.proc.stdout.close()


@pytest.fixture(scope="session")
def openai_server(tmp_path_factory: pytest.TempPathFactory):
    """The OpenAI-compatible server on the offline models, for the whole test session."""
    server = start_server(tmp_path_factory.getbasetemp() / "openai_server.log")
    try:
        yield server
    finally:
        stop_server(server)


@dataclass
class LkmonRun:
    """One ``lkmon run --headless`` against the server.

    Attributes:
        snapshot: the exported snapshot (parsed).
        journal: the journal's events, in order.
        stdout, stderr: the process output.
        seconds: wall time of the run.
        requests: the server's request log for this run.
    """

    snapshot: dict[str, Any]
    journal: list[dict[str, Any]]
    stdout: str
    stderr: str
    seconds: float
    requests: list[dict[str, Any]]


def run_lkmon(
    server: OpenAIServer,
    agent: str,
    inputs: list[str | Path],
    tmp: Path,
    *,
    stdin: str | None = None,
    timeout: float = 300.0,
) -> LkmonRun:
    """``lkmon run tests/data/agents/AGENT --headless --input ... --output null`` with the
    server's environment, from ``tmp``; exports ``tmp/snap.json`` and ``tmp/journal.jsonl``.

    Raises:
        AssertionError: lkmon failed, printed a traceback, or wrote no snapshot.
    """
    server.clear()
    export, journal = tmp / "snap.json", tmp / "journal.jsonl"
    cmd = [
        sys.executable, "-m", "lkmon", "run", str(AGENTS / agent), "--headless",
        "--input", *[str(i) for i in inputs], "--output", "null",
        "--export", str(export), "--journal", str(journal), "-v",
    ]
    t0 = time.monotonic()
    proc = subprocess.run(
        cmd,
        cwd=tmp,
        env=server.env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
    events = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    return LkmonRun(
        json.loads(export.read_text()), events, proc.stdout, proc.stderr, seconds,
        server.requests(),
    )
