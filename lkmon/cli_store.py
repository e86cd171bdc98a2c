"""``lkmon import`` and ``lkmon sessions``: the session store's commands (``lkmon.cli`` wires them).

    lkmon import PATH... [--db PATH]
    lkmon sessions [--db PATH] [--last N] [--json] [--delete ID]

``--db`` is a SQLite file path, a ``sqlite:///`` or a ``postgresql://`` URL (default ``$LKMON_DB``,
else ``lkmon-sessions/lkmon.db``: ``lkmon.paths.store_db``). Bad input is a ``UsageError``: one
``lkmon: error:`` line, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from lkmon import paths
from lkmon.errors import EXIT_USAGE, UsageError

if TYPE_CHECKING:
    from lkmon.store.db import Store

DB_HELP = "session store: a SQLite file path, sqlite:/// or postgresql:// URL (default " \
    "$LKMON_DB, else lkmon-sessions/lkmon.db)"


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 1 or more")
    return n


TAG_HELP = "label the stored session KEY=VALUE (repeatable; 'lkmon sessions --tag' and " \
    "'lkmon compare --a-tag' select by it)"


def tag_arg(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` of ``--tag`` (spaces around either stripped; the value may be empty)."""
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: use KEY=VALUE")
    return key.strip(), value.strip()


def tags_of(args: argparse.Namespace) -> dict[str, str]:
    """The ``--tag`` options as a dict (a repeated KEY: the last VALUE)."""
    return dict(getattr(args, "tag", None) or [])


def _days(text: str) -> float:
    try:
        n = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a number of days") from None
    if not n > 0 or n == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number of days above 0")
    return n


def add_parsers(sub: Any) -> None:
    """Add ``import`` and ``sessions`` to the ``lkmon`` subparsers."""
    imp = sub.add_parser("import", help="load snapshots and journals into the session store")
    imp.add_argument("paths", nargs="+", metavar="PATH", help="snapshot or journal files")
    imp.add_argument("--db", metavar="PATH", help=DB_HELP)
    imp.add_argument("--tag", action="append", type=tag_arg, metavar="KEY=VALUE", help=TAG_HELP)
    ses = sub.add_parser("sessions", help="list the sessions in the store")
    ses.add_argument("--db", metavar="PATH", help=DB_HELP)
    ses.add_argument("--last", type=_positive, metavar="N", help="only the N newest sessions")
    ses.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    ses.add_argument("--delete", metavar="ID", help="remove a session (id or unique prefix)")
    ses.add_argument("--tag", action="append", type=tag_arg, metavar="KEY=VALUE",
                     help="only sessions with this tag (repeatable: all of them)")
    ses.add_argument("--older-than", type=_days, metavar="DAYS",
                     help="remove the sessions that started more than DAYS days ago and their "
                     "rows, at once (no prompt: for retention scripts; with --tag, only those)")


def _open(db: str | None, *, create: bool) -> Store:
    """Open the store ``--db`` names; ``create``: make it (and the default folder) if missing.

    Raises:
        UsageError: a bad path or URL, not an lkmon store, or (``create`` False) no store there.
    """
    from lkmon.store.db import Store, StoreError, sqlite_path

    target = db if db is not None else paths.store_db()
    try:
        path = sqlite_path(target)
        if path is not None and not path.exists():
            if not create:
                raise UsageError(f"no session store at {path} (run 'lkmon import PATH' first)")
            if db is None:
                path.parent.mkdir(parents=True, exist_ok=True)
        return Store(target)
    except StoreError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot create the session store {target}: {e.strerror or e}") from None


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """``--db``, ``--no-db`` and ``--tag`` for ``lkmon run``."""
    parser.add_argument("--db", metavar="PATH", help=DB_HELP)
    parser.add_argument("--no-db", action="store_true", help="do not store the session")
    parser.add_argument("--tag", action="append", type=tag_arg, metavar="KEY=VALUE",
                        help=TAG_HELP)


def add_replay_options(parser: argparse.ArgumentParser) -> None:
    """``--db`` and ``--tag`` for ``lkmon replay``: either stores the replayed session."""
    parser.add_argument("--db", metavar="PATH", help=DB_HELP + "; with --db or --tag the "
                        "replayed session is stored (as 'lkmon import'), else the store is "
                        "left alone")
    parser.add_argument("--tag", action="append", type=tag_arg, metavar="KEY=VALUE",
                        help=TAG_HELP)


def store_replayed(args: argparse.Namespace) -> None:
    """Store ``lkmon replay``'s file as ``lkmon import`` does, when ``--db`` or ``--tag`` is
    given (replaying alone never writes the store).

    Raises:
        UsageError: as for ``lkmon import``.
    """
    if args.db is None and not args.tag:
        return
    from lkmon.store.db import StoreError, import_file
    from lkmon.store.restore import SnapshotError

    with _open(args.db, create=True) as store:
        try:
            done = import_file(store, args.path, tags=tags_of(args))
        except (SnapshotError, StoreError) as e:
            raise UsageError(str(e)) from None
        print(f"lkmon: stored session {done.session_id} ({done.turns} turns) in "
              f"{store.path or store.url}", flush=True)


def check_for_run(args: argparse.Namespace) -> None:
    """Refuse a bad ``--db`` of ``lkmon run`` before the session starts; nothing is created (the
    store is opened when the session ends, ``finish_run``). An existing file must be an lkmon
    store this lkmon reads.

    Raises:
        UsageError: as for ``lkmon import``.
    """
    if args.no_db:
        return
    from sqlalchemy.engine import make_url

    from lkmon.store.db import StoreError, database_url, sqlite_path

    target = args.db if args.db is not None else paths.store_db()
    try:
        path = sqlite_path(target)
    except StoreError as e:
        raise UsageError(str(e)) from None
    if path is None:
        if make_url(database_url(target)).get_backend_name() == "postgresql":
            _open(target, create=False).close()  # a server down or a refused login: exit 2 now
        return
    if path.exists():
        _open(target, create=False).close()
    elif args.db is not None and not path.parent.is_dir():
        raise UsageError(f"cannot create the session store {path}: "
                         f"folder {path.parent} does not exist")


def finish_run(db: str | None, model: Any, agent_file: Path, *, redact: bool,
               out: TextIO | None = None, tags: dict[str, str] | None = None) -> None:
    """Store the session that just ended in ``db`` (``--db``; ``None``: the default store),
    after the event loop has ended: never on it. A failed write is one warning line (the journal
    can be imported later), not an error: the snapshot and the journal are already written."""
    from lkmon.store.db import StoreError, store_model

    out = out or sys.stderr
    if model.session.started_at is None:
        return  # no session started: nothing to store
    try:
        with _open(db, create=True) as store:
            rows = store_model(store, model, agent_file=agent_file, redact_text=redact,
                               tags=tags)
            where = store.path or store.url
    except (UsageError, StoreError) as e:
        print(f"lkmon: warning: session not stored ({e}); 'lkmon import JOURNAL' stores it "
              "later", file=out, flush=True)
        return
    print(f"lkmon: stored session {rows.session_id} ({len(rows.turns)} turns) in {where}",
          file=out, flush=True)


def live_writer(args: argparse.Namespace, agent_file: Path) -> Any:
    """The ``LiveWriter`` (``lkmon.store.db.live``) that stores ``lkmon run``'s session as its
    turns complete, from its own thread; ``None`` with ``--no-db``."""
    if args.no_db:
        return None
    from lkmon.store.db.live import LiveWriter

    return LiveWriter(lambda: _open(args.db, create=True), agent_file, redact_text=args.redact,
                      tags=tags_of(args))


def run_end(args: argparse.Namespace, agent_file: Path, *, out: TextIO | None = None,
            live: Any = None) -> Callable[[Any], None] | None:
    """``finish_run`` for ``run_headless(on_end=...)``, after ``live`` (the run's
    ``LiveWriter``, if any) has written what waits and stopped; ``None`` with ``--no-db``."""
    if args.no_db:
        return None

    def end(model: Any) -> None:
        if live is not None:
            live.close()
        finish_run(args.db, model, agent_file, redact=args.redact, out=out, tags=tags_of(args))

    return end


def run_hooks(args: argparse.Namespace, agent_file: Path, *, out: TextIO | None = None
              ) -> tuple[Callable[[Any], None] | None, Callable[[Any, set[Any]], None] | None]:
    """``(on_end, watch)`` for a run: ``run_end`` and the ``LiveWriter``'s ``observe`` (both
    ``None`` with ``--no-db``)."""
    live = live_writer(args, agent_file)
    return (run_end(args, agent_file, out=out, live=live),
            live.observe if live is not None else None)


def cmd_import(args: argparse.Namespace) -> int:
    """``lkmon import``: store every file's session (idempotent: keyed by ``session_id``).

    As ``cp`` does with many files, a file that is missing or is not an lkmon snapshot or journal
    gets one ``lkmon: error:`` line on stderr and stores nothing, and the others are still stored;
    the exit code is then 2 (``EXIT_USAGE``), else 0. When no file exists, no store is created.

    Raises:
        UsageError: the store cannot be created, opened or written (nothing more is tried).
    """
    from lkmon.model.vocab import printable
    from lkmon.store.db import StoreError, import_file
    from lkmon.store.restore import SnapshotError

    def refuse(message: str) -> None:
        print(printable(f"lkmon: error: {message}"), file=sys.stderr)

    files = []
    for p in args.paths:
        if Path(p).is_file():
            files.append(p)
        else:
            refuse(f"{p}: no such file")
    if not files:
        return EXIT_USAGE
    refused = len(args.paths) - len(files)
    with _open(args.db, create=True) as store:
        for p in files:
            try:
                done = import_file(store, p, tags=tags_of(args))
            except SnapshotError as e:
                refuse(str(e))
                refused += 1
                continue
            except StoreError as e:
                raise UsageError(str(e)) from None
            print(f"lkmon: {p}: session {done.session_id}, {done.turns} turns, "
                  f"{done.messages} messages -> {store.path or store.url}")
    return EXIT_USAGE if refused else 0


def session_summaries(store: Any, last: int | None,
                      tags: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The rows ``lkmon sessions`` prints: per session, when, agent, models, turns, e2e latency
    p50/p95 (seconds, ``statistics.quantiles`` as in the snapshot's summary: ``StageStats``; the
    p95 is ``None`` from fewer than ``MIN_P95_TURNS`` (20) figures, as in ``lkmon compare``),
    cost, tags, close reason (``incomplete`` for a session that never closed in the store),
    errors, failed turns, the turns of each interruption class (``interruptions``) and LiveKit's
    false interruption and overlapping speech counts (``None``: stored before schema 4)."""
    from lkmon.model.stats import StageStats
    from lkmon.report.compare import MIN_P95_TURNS
    from lkmon.store.db.rows import INCOMPLETE

    rows = store.sessions(last, tags=tags)
    e2e = store.e2e_latencies([r["session_id"] for r in rows])
    out = []
    for r in rows:
        stats = StageStats.of(e2e[r["session_id"]])
        out.append({
            "session_id": r["session_id"],
            "started_at": r["started_at"],
            "duration": r["duration"],
            "agent_file": r["agent_file"],
            "models": r["models"],
            "turns": r["turn_count"],
            "e2e_count": stats.count,
            "e2e_p50": stats.p50,
            "e2e_p95": stats.p95 if stats.count >= MIN_P95_TURNS else None,
            "cost": r["cost_total"],
            "currency": r["currency"],
            "tags": r["tags"],
            # a store written before "incomplete" was stored holds NULL for such a session
            "close_reason": r["close_reason"] or (INCOMPLETE if r["closed_at"] is None else None),
            "error_count": r["error_count"],
            "failed_turn_count": r["failed_turn_count"],
            "interruptions": None if r["barge_in_turns"] is None else {
                k: r[f"{k}_turns"] for k in ("cut_in_early", "barge_in", "false_interruption")},
            **{k: r[k] for k in ("false_interruptions", "false_resumed", "overlapping_speech",
                                 "overlapping_interruptions")},
        })
    return out


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def cmd_sessions(args: argparse.Namespace) -> int:
    """``lkmon sessions``: list (or ``--delete``) sessions of the store."""
    from lkmon.store.db import StoreError

    if args.delete is not None and args.older_than is not None:
        raise UsageError("give --delete ID or --older-than DAYS, not both")
    with _open(args.db, create=False) as store:
        if args.delete is not None:
            try:
                deleted = store.delete_session(args.delete)
            except StoreError as e:
                raise UsageError(str(e)) from None
            if deleted is None:
                raise UsageError(f"no session {args.delete} in {store.path or store.url}")
            print(f"lkmon: deleted session {deleted} and its rows")
            return 0
        if args.older_than is not None:
            cutoff = time.time() - args.older_than * 86400
            gone = store.delete_older_than(cutoff, tags_of(args))
            print(f"lkmon: deleted {len(gone)} session{'' if len(gone) == 1 else 's'} that "
                  f"started before {_when(cutoff)} ({args.older_than:g} days ago) and their rows")
            return 0
        rows = session_summaries(store, args.last, tags_of(args))
    if args.json:
        json.dump({"sessions": rows}, sys.stdout, indent=1)
        print()
        return 0
    from lkmon.report.sessions_text import print_sessions, table_width

    print_sessions(rows, sys.stdout, table_width(sys.stdout))
    return 0


COMMANDS = {"import": cmd_import, "sessions": cmd_sessions}
"""Subcommand name -> handler, for ``lkmon.cli.main``."""
