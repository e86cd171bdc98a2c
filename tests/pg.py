"""A throw-away PostgreSQL cluster for the store's tests: a real server, not a mock.

``pg_cluster`` (session scope) runs ``initdb`` and ``pg_ctl start`` from the Debian
``postgresql`` package (``/usr/lib/postgresql/<version>/bin``) in a fresh folder under /tmp,
listening on 127.0.0.1 on a free port (trust login as user ``lkmon``), and stops it (``pg_ctl
stop -m immediate``) and removes the folder at the end. ``initdb`` refuses to run as root, so as
root (CI) the cluster runs as ``nobody`` through ``runuser``. ``pg_url`` gives each test an empty
database of its own. Without the binaries (or psycopg) the tests skip with the reason; ``.ci/run``
installs them (``apt-get install postgresql``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

USER = "nobody"
"""The unprivileged system user the cluster runs as when the tests run as root."""


def server_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has ``initdb``, else ``None``."""
    found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
               default=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str], as_user: bool) -> None:
    if as_user:
        cmd = ["runuser", "-u", USER, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip() or proc.stdout.strip()}")


def unavailable() -> str | None:
    """Why no throw-away cluster can run here (missing binaries, psycopg, runuser), or None."""
    if server_bin() is None:
        return ("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin "
                "(apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg 3 not installed (pip install 'lkmon[test]')"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: initdb refuses root"
    return None


@contextmanager
def cluster() -> Iterator[str]:
    """Run a throw-away cluster; yields its URL (``postgresql://lkmon@127.0.0.1:PORT/postgres``).

    Raises:
        RuntimeError: ``initdb`` or ``pg_ctl`` failed (its message); see ``unavailable`` first.
    """
    bindir = server_bin()
    assert bindir is not None
    as_user = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="lkmon-pg-"))
    data, port = folder / "data", _free_port()
    if as_user:
        shutil.chown(folder, user=USER)
    started = False
    try:
        _run([str(bindir / "initdb"), "-D", str(data), "-U", "lkmon", "--auth=trust",
              "-E", "UTF8", "--no-sync", "--no-instructions"], as_user)
        _run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
              "-o", f"-h 127.0.0.1 -p {port} -k {folder} -F", "start"], as_user)
        started = True
        yield f"postgresql://lkmon@127.0.0.1:{port}/postgres"
    finally:
        if started:
            _run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                 as_user)
        shutil.rmtree(folder, ignore_errors=True)


def new_database(url: str) -> str:
    """Create an empty database on the cluster at ``url``; its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[str]:
    """The URL of a running throw-away cluster (skips with the reason when none can run)."""
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    with cluster() as url:
        yield url


@pytest.fixture
def pg_url(pg_cluster: str) -> str:
    """The URL of a new empty database on the throw-away cluster."""
    return new_database(pg_cluster)
