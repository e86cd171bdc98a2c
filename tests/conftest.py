"""Shared test set-up: every test runs in its own temporary folder.

lkmon writes into the current folder by default (``lkmon-sessions/``, snapshots on quit, exports
on ``e``), so each test starts in ``tmp_path``: no test writes into the repository.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


# the OpenAI-compatible server on the offline models (session-scoped; tests/openai_fixture.py)
from openai_fixture import openai_server  # noqa: E402, F401
