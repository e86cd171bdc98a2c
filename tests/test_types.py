"""mypy is clean on the package, with the project's own configuration (``[tool.mypy]`` in
pyproject.toml: strict on ``lkmon.model`` and ``lkmon.store``, every ``type: ignore`` naming its
error code), so a change that breaks the types fails the suite with mypy's report.

mypy checks against the installed packages (``.[local,test]``, as install.sh sets up). Its cache
lives in the system temp folder, one per checkout: a warm run takes about a second, a cold one
(a fresh machine) 15-20 s on 2 cores.

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
    checkout = hashlib.sha256(str(REPO).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"lkmon-mypy-cache-{os.getuid()}-{checkout}"


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
