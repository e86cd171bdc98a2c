"""Shared test set-up: every test runs in its own temporary folder; the test lanes.

lkmon writes into the current folder by default (``lkmon-sessions/``, snapshots on quit, exports
on ``e``), so each test starts in ``tmp_path``: no test writes into the repository.

Lanes (markers are declared in pyproject.toml):

* ``models``: the test loads a real offline model (Whisper, SmolLM2, Piper, LiveKit's turn
  detector, or the OpenAI-compatible server on them: any test using the ``openai_server``
  fixture is marked here), or plays recordings through a session in real time. Silero VAD
  alone (0.1 s to load) does not count. ``pytest -m "not models"`` is the fast lane
  (<= 2 minutes on 2 cores); run model tests under ``flock /work/tools/models.lock``.
* ``slow``: long runs (the soak, big fuzz). Left out unless the ``-m`` expression names
  ``slow``: pyproject's ``addopts`` says ``-m "not slow"``, and a ``-m`` given on the command line
  (which replaces that one) leaves them out too, so ``pytest -m "not models"`` stays fast.
  ``pytest -m slow`` runs them (``.ci/run`` does, after the README's command).
"""

from __future__ import annotations

from pathlib import Path

import pytest

MODEL_FIXTURES = frozenset({"openai_server"})
"""Fixtures that load the real offline models: a test using one is in the ``models`` lane."""


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LKMON_SESSIONS", raising=False)  # lkmon-sessions/ in the test's folder
    # tables fit $COLUMNS when set (pytest-xdist's workers have COLUMNS=80): tests set their own
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m selection sees the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests that use a model fixture ``models``; leave ``slow`` tests out unless the
    ``-m`` expression names them."""
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.models)
        # pytest-xdist (--dist loadgroup): every model test on one worker, one at a time, so two
        # never share the 2 cores (nor load the models twice); the others go a module at a time,
        # so a module-scoped fixture is built once
        models = item.get_closest_marker("models") is not None
        item.add_marker(pytest.mark.xdist_group("models" if models else item.path.name))
    if "slow" in (config.option.markexpr or ""):
        return
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]


# the OpenAI-compatible server on the offline models (session-scoped; tests/openai_fixture.py)
from openai_fixture import openai_server  # noqa: E402, F401
