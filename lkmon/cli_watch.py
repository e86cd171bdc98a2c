"""``lkmon watch [PATH]``: the TUI on a journal that another process is writing (``lkmon.cli``
wires it).

    lkmon watch [PATH] [--redact] [--thresholds GOOD,BAD]

PATH is a journal, or a folder (default: the sessions folder, ``$LKMON_SESSIONS`` else
``lkmon-sessions``) whose newest journal is followed, moving to the next session's when it
starts (``lkmon.sources.FollowSource``). Bad input is a ``UsageError``: one ``lkmon: error:``
line, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lkmon import paths


def add_parser(sub: Any, thresholds: Callable[[str], tuple[float, float]]) -> None:
    """Add ``watch`` to the ``lkmon`` subparsers (``thresholds``: the ``--thresholds`` type)."""
    watch = sub.add_parser(
        "watch", help="follow a journal another process writes (lkmon run, lkmon.record)"
    )
    watch.add_argument(
        "path", nargs="?", metavar="PATH",
        help="a journal, or a folder whose newest journal is followed (default: the sessions "
        "folder, $LKMON_SESSIONS or lkmon-sessions)",
    )
    watch.add_argument(
        "--redact", action="store_true", help="replace transcript text with placeholders"
    )
    watch.add_argument(
        "--thresholds", type=thresholds, default=(1.0, 2.0), metavar="GOOD,BAD",
        help="e2e latency colours in seconds: green below GOOD, red from BAD (default 1.0,2.0)",
    )


def cmd_watch(args: argparse.Namespace) -> int:
    """``lkmon watch``: open the TUI on a ``FollowSource``; exports go beside the journal."""
    from lkmon.sources import FollowSource

    path = Path(args.path) if args.path else paths.sessions_dir()
    source = FollowSource(path)
    model = source.open()  # SourceError (a UsageError): one line
    from lkmon.tui.app import LkmonApp

    export_dir = path if source.folder_mode else path.parent
    if not export_dir.is_dir():
        export_dir = Path.cwd()
    saved = LkmonApp(model, source, export_dir=export_dir, redact=args.redact,
                     thresholds=args.thresholds).run()
    if saved is not None:
        print(f"lkmon: snapshot {saved}", file=sys.stderr)
    return 0


COMMANDS = {"watch": cmd_watch}
