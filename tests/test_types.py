"""mypy is clean on the package, with the project's own configuration (``[tool.mypy]`` in
pyproject.toml: strict on ``lkmon.model`` and ``lkmon.store``, every ``type: ignore`` naming its
error code), so a change that breaks the types fails the suite with mypy's report.

mypy checks against the installed packages (``.[local,test]``, as install.sh sets up). Its cache
lives in the system temp folder, one per Python environment (``sys.prefix``), not per checkout:
mypy keys each module's entry by its content, so a fresh clone checked with the same
environment finds the installed packages' entries made by any other checkout and re-checks only
the modules that differ (measured: 1.1 s for a fresh clone, 12 s CPU with an empty cache; a cold
run on a fresh machine takes 12-20 s on 2 cores). mypy writes each entry atomically (a temporary
file renamed), so runs from two checkouts at once only cost each other re-checks.

Why ``python -m mypy`` and not ``mypy.api.run`` in this process: mypy's command line ends with
``os._exit`` so as not to free the ~4 million objects a full check builds; in-process they stay
in the pytest process and freeing them at its exit cost 20-30 s on a cold cache (measured: the
test itself 13.5 s, the pytest process 46.7 s). The subprocess adds ~0.3 s.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cache_dir() -> Path:
    environment = hashlib.sha256(sys.prefix.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"lkmon-mypy-cache-{os.getuid()}-env-{environment}"


def test_mypy_is_clean_on_lkmon() -> None:
    # no paths given: [tool.mypy] files = ["lkmon"], relative to the checkout (cwd)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
         "--cache-dir", str(_cache_dir()), "--no-color-output", "--no-error-summary"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, f"mypy is not clean (exit {done.returncode}):\n{report}"
    assert report == "", f"mypy printed:\n{report}"  # e.g. a config section that matches nothing
