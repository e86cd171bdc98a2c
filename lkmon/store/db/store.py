"""The session store: open a database, write a session's rows, list and delete sessions.

``--db`` is a plain path (a SQLite file), a ``sqlite:///`` URL or a ``postgresql://`` URL (a team's
shared PostgreSQL database, through SQLAlchemy's psycopg 3 dialect: ``pip install
'lkmon[postgres]'``); both hold the same schema. A new SQLite file is created with mode 0600 and put
in WAL mode (its ``-wal`` and ``-shm`` files take the file's mode); every write is one ``BEGIN
IMMEDIATE`` transaction, so several processes may write one file at once without losing or mixing
rows (each waits up to ``BUSY_TIMEOUT`` seconds for the others). A session is keyed by its
``session_id``: writing it again replaces its rows (importing a file twice gives one session). No
textual or livekit import.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, func, insert, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError

from lkmon.store.db import schema as t
from lkmon.store.db.rows import SessionRows

BUSY_TIMEOUT = 30.0
"""Seconds a writer waits for another process's write transaction before giving up."""
SCHEMA_LOCK = 0x6C6B6D6F6E
"""The PostgreSQL advisory lock (``pg_advisory_xact_lock``) held while a store's schema is
checked or created: writers that open one new database at once create its tables once."""


class StoreError(ValueError):
    """A store that cannot be opened or used (bad path, not an lkmon store, a newer schema);
    ``str()`` is one line."""


def database_url(db: str | Path) -> str:
    """The SQLAlchemy URL of ``--db``: a ``sqlite:///`` URL as it is, a plain path as a SQLite
    file URL, a ``postgresql://`` (or ``postgres://``, ``postgresql+psycopg://``) URL with the
    psycopg 3 driver.

    Raises:
        StoreError: a URL of another database or driver, or a bad URL.
    """
    text = str(db)
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser()}"
    try:
        url = make_url(text)
    except ArgumentError:
        raise StoreError(f"{text}: not a database URL or path") from None
    shown = url.render_as_string(hide_password=True)
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if url.get_backend_name() != "sqlite":
        raise StoreError(f"{shown}: not a SQLite or PostgreSQL URL (give a file path, "
                         "sqlite:///PATH or postgresql://USER@HOST/DATABASE)")
    if url.drivername != "sqlite":
        raise StoreError(f"{shown}: use sqlite:///PATH (the driver is Python's sqlite3)")
    return text


def sqlite_path(db: str | Path) -> Path | None:
    """The SQLite file ``--db`` names (``None`` for an in-memory database or PostgreSQL).

    Raises:
        StoreError: as ``database_url``.
    """
    url = make_url(database_url(db))
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    return Path(database) if database and database != ":memory:" else None


class Store:
    """An open session store.

    Args:
        db: a path of a SQLite file (created with its tables when missing; its folder must
            exist), a ``sqlite:///`` URL, or a ``postgresql://`` URL of an existing database
            (its tables are created when it has none).

    Raises:
        StoreError: the folder is missing, the file is not a database or not an lkmon store,
            the server cannot be reached or refuses the login, psycopg is not installed, or
            the schema is newer than this lkmon's (one line each).
    """

    def __init__(self, db: str | Path) -> None:
        url = make_url(database_url(db))
        self.url = url
        self.path = sqlite_path(db)
        shown = str(self.path) if self.path is not None else url.render_as_string(
            hide_password=True)
        self._shown = shown
        if self.path is not None:
            _create_private(self.path)
        if url.get_backend_name() == "postgresql":
            self.engine = _postgresql_engine(url, shown)
        else:
            self.engine = _sqlite_engine(url.render_as_string(hide_password=False))
        try:
            self._check_schema()
        except sqlite3.DatabaseError as e:  # raised by pysqlite before SQLAlchemy wraps it
            self.engine.dispose()
            raise StoreError(f"{shown}: not an lkmon session store ({e})") from None
        except OperationalError as e:  # PostgreSQL: server down, login refused, no database
            self.engine.dispose()
            raise StoreError(f"{shown}: cannot open the session store ({_reason(e)})") from None
        except DBAPIError as e:
            self.engine.dispose()
            raise StoreError(f"{shown}: not an lkmon session store ({_reason(e)})") from None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection."""
        self.engine.dispose()

    def _check_schema(self) -> None:
        with self.engine.begin() as conn:
            if self.engine.dialect.name == "postgresql":
                # writers opening a new database together: one creates the tables, the others
                # wait for its commit and find them (SQLite's BEGIN IMMEDIATE does the same)
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
            names = set(inspect(conn).get_table_names())
            if not names:
                t.metadata.create_all(conn)
                t.record_version(conn, t.SCHEMA_VERSION)
                return
            if t.schema_version.name not in names:
                raise StoreError(f"{self._shown}: not an lkmon session store "
                                 "(a database without lkmon's schema_version table)")
            version = conn.execute(select(func.max(t.schema_version.c.version))).scalar()
            if version is not None and version < t.SCHEMA_VERSION:  # an older lkmon's store
                version = t.migrate(conn, version)
        if version is None or version > t.SCHEMA_VERSION:
            raise StoreError(
                f"{self._shown}: session store schema {version} is newer than this lkmon's "
                f"({t.SCHEMA_VERSION}): upgrade lkmon"
            )
        missing = {tb.name for tb in t.metadata.sorted_tables} - names
        if missing:
            raise StoreError(f"{self._shown}: not an lkmon session store "
                             f"(missing tables: {', '.join(sorted(missing))})")

    def write_session(self, rows: SessionRows) -> None:
        """Store one session's rows in one transaction, replacing any earlier rows of the
        same ``session_id`` (idempotent).

        Raises:
            StoreError: the database refused the write (e.g. busy past ``BUSY_TIMEOUT``).
        """
        sid = rows.session_id
        try:
            with self.engine.begin() as conn:
                # the session row first, as an upsert: it locks that row, so two writers of one
                # new session take turns (on PostgreSQL the second waits for the first's commit,
                # then replaces its rows) instead of the second failing on the duplicate key
                self._upsert(conn, t.sessions, [rows.session])
                for table, items in ((t.turns, rows.turns), (t.messages, rows.messages),
                                     (t.usage, rows.usage)):
                    conn.execute(delete(table).where(table.c.session_id == sid))
                    if items:
                        conn.execute(insert(table), items)
        except SQLAlchemyError as e:
            raise StoreError(f"{self._shown}: cannot write session {sid}: {_reason(e)}") from None

    def upsert_session(self, rows: SessionRows, *, prune: bool = True) -> None:
        """Insert or update one session's rows in one transaction, keyed by ``session_id``
        (``sessions``), turn index (``turns``), chat item id (``messages``) and provider/model
        (``usage``); with ``prune``, rows of the session that ``rows`` does not hold are
        removed. Idempotent: the live writes of a running session (``lkmon.store.db.live``,
        which writes its newest turns only, ``prune=False``).

        Raises:
            StoreError: the database refused the write.
        """
        sid = rows.session_id
        try:
            with self.engine.begin() as conn:
                self._upsert(conn, t.sessions, [rows.session])
                for table, items in ((t.turns, rows.turns), (t.messages, rows.messages),
                                     (t.usage, rows.usage)):
                    if prune:
                        self._prune(conn, table, sid, items)
                    self._upsert(conn, table, items)
        except SQLAlchemyError as e:
            raise StoreError(f"{self._shown}: cannot write session {sid}: {_reason(e)}") from None

    def _upsert(self, conn: Any, table: Any, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        keys = [c.name for c in table.primary_key.columns]
        stmt = _dialect_insert(self.engine.dialect.name)(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=keys,
            set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
        )
        conn.execute(stmt, items)

    @staticmethod
    def _prune(conn: Any, table: Any, sid: str, items: list[dict[str, Any]]) -> None:
        """Delete the session's rows of ``table`` whose key ``items`` does not hold."""
        keys = [c for c in table.primary_key.columns if c.name != "session_id"]
        kept = {tuple(item[c.name] for c in keys) for item in items}
        q = select(*keys).where(table.c.session_id == sid)
        gone = [k for k in (tuple(r) for r in conn.execute(q)) if k not in kept]
        for key in gone:
            where = [c == v for c, v in zip(keys, key, strict=True)]
            conn.execute(delete(table).where(table.c.session_id == sid, *where))

    def delete_session(self, session_id: str) -> str | None:
        """Remove a session and all its rows; its full id, or ``None`` when there was none.
        ``session_id`` may be a unique prefix of the id.

        Raises:
            StoreError: the prefix names several sessions.
        """
        with self.engine.begin() as conn:
            sid = self._resolve(conn, session_id)
            if sid is None:
                return None
            self._delete(conn, sid)
        return sid

    def _resolve(self, conn: Any, session_id: str) -> str | None:
        c = t.sessions.c.session_id
        ids = list(conn.execute(select(c).where(c.like(f"{session_id}%"))).scalars())
        if session_id in ids:
            return session_id
        if len(ids) > 1:
            raise StoreError(f"{session_id}: matches {len(ids)} sessions, give more of the id")
        return ids[0] if ids else None

    @staticmethod
    def _delete(conn: Any, sid: str) -> None:
        # the session row first, as every write locks it first (FOR UPDATE; SQLite: no-op)
        s = t.sessions.c.session_id
        conn.execute(select(s).where(s == sid).with_for_update())
        for table in t.ROW_TABLES:
            conn.execute(delete(table).where(table.c.session_id == sid))
        conn.execute(delete(t.sessions).where(t.sessions.c.session_id == sid))

    def sessions(self, last: int | None = None,
                 tags: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """``sessions`` rows, newest first (by ``started_at``), at most ``last``; with ``tags``,
        only those whose ``tags`` hold every ``KEY: VALUE`` given (compared as strings, in
        Python: the JSON column reads the same on SQLite and PostgreSQL)."""
        q = select(t.sessions).order_by(t.sessions.c.started_at.desc().nulls_last())
        if last is not None and not tags:
            q = q.limit(last)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
        if tags:
            rows = [r for r in rows if all(
                str((r["tags"] or {}).get(k, "\0")) == v for k, v in tags.items())]
        return rows[:last] if last is not None else rows

    def delete_older_than(self, cutoff: float,
                          tags: dict[str, str] | None = None) -> list[str]:
        """Remove every session that started before ``cutoff`` (epoch seconds; a session
        with no ``started_at`` counts from ``stored_at``) and its rows, in one transaction;
        with ``tags``, only the sessions that hold them. Returns the removed ids."""
        c = t.sessions.c
        with self.engine.begin() as conn:
            q = select(c.session_id, c.tags).where(
                func.coalesce(c.started_at, c.stored_at) < cutoff)
            ids = [sid for sid, tg in conn.execute(q) if not tags or all(
                str((tg or {}).get(k, "\0")) == v for k, v in tags.items())]
            for sid in ids:
                self._delete(conn, sid)
        return ids

    def rows(self, table: str, session_id: str) -> list[dict[str, Any]]:
        """Every row of ``table`` (``turns``, ``messages``, ``usage``) for one session, in
        primary-key order."""
        tb = t.metadata.tables[table]
        q = select(tb).where(tb.c.session_id == session_id).order_by(*tb.primary_key.columns)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def e2e_latencies(self, session_ids: list[str]) -> dict[str, list[float]]:
        """Known ``turns.e2e_latency`` values (seconds) of each session, in turn order."""
        out: dict[str, list[float]] = {sid: [] for sid in session_ids}
        if not session_ids:
            return out
        c = t.turns.c
        q = (select(c.session_id, c.e2e_latency)
             .where(c.session_id.in_(session_ids), c.e2e_latency.is_not(None))
             .order_by(c.session_id, c.turn_index))
        with self.engine.connect() as conn:
            for sid, value in conn.execute(q):
                out[sid].append(value)
        return out


def _dialect_insert(name: str) -> Any:
    """The ``insert`` with ``on_conflict_do_update`` of the engine's dialect."""
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _reason(e: SQLAlchemyError) -> str:
    orig = getattr(e, "orig", None)
    return str(orig if orig is not None else e).splitlines()[0]


def _create_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 when missing (SQLite would use the umask).

    Raises:
        StoreError: its folder is missing or not writable, or it is a folder.
    """
    if path.is_dir():
        raise StoreError(f"{path}: is a folder, not a session store")
    if path.exists():
        return
    if not path.parent.is_dir():
        raise StoreError(f"cannot create the session store {path}: "
                         f"folder {path.parent} does not exist")
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass  # another writer created it first
    except OSError as e:
        raise StoreError(f"cannot create the session store {path}: {e.strerror or e}") from None


def _postgresql_engine(url: Any, shown: str) -> Engine:
    """An engine on psycopg 3 (``postgresql+psycopg``); transactions are READ COMMITTED, each
    write one transaction, upserts ``ON CONFLICT DO UPDATE``.

    Raises:
        StoreError: psycopg is not installed.
    """
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StoreError(f"{shown}: PostgreSQL stores need psycopg 3: "
                         "pip install 'lkmon[postgres]'") from None
    return create_engine(url, connect_args={"connect_timeout": 10})


def _wal(cur: Any) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another process holds the lock: switching a new
    file to WAL can fail at once with "database is locked" (SQLite does not always wait its busy
    timeout for it), e.g. when two writers open a new store together.

    Raises:
        sqlite3.OperationalError: still locked after ``BUSY_TIMEOUT`` seconds.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_engine(url: str) -> Engine:
    """An engine whose transactions are ``BEGIN IMMEDIATE`` (SQLAlchemy's documented pysqlite
    recipe: the driver's own transaction handling is turned off), in WAL mode, with foreign keys
    on and a busy timeout."""
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # pysqlite: SQLAlchemy emits BEGIN itself
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
            _wal(cur)
            cur.execute("PRAGMA foreign_keys=ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
