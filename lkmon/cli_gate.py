"""``lkmon compare``, ``lkmon check`` and ``--budget``: sessions across time (``lkmon.cli`` wires
them).

    lkmon compare A B | --a-tag K=V --b-tag K=V [--db PATH] [--markdown] [--json] [--html FILE]
    lkmon check PATH [--budget SPEC] [--baseline OLD | --baseline-tag K=V]
                [--tolerance p50=15%,p95=20%,cost=10%] [--junit FILE] [--markdown] [--db PATH]
    lkmon run --headless ... --budget SPEC [--junit FILE]; lkmon replay X --export OUT --budget SPEC

A side (A, B, PATH, OLD) is a snapshot or journal file, else a session id (or unique prefix) in
the store; ``--a-tag``/``--b-tag``/``--baseline-tag`` take every stored session with that tag.
Exit codes: 0 every budget and baseline figure holds, 1 any fails (``EXIT_GATE``, after the
snapshot and the store rows are written), 2 bad input (one ``lkmon: error:`` line).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from lkmon.errors import UsageError

if TYPE_CHECKING:
    from lkmon.store.db import Store

EXIT_GATE = 1
"""Exit code when a latency/cost budget or a baseline figure fails."""

BUDGET_HELP = ("latency and cost budgets, comma-separated STAGE.STAT<=SECONDS and cost<=USD "
               "(STAGE eou_delay, transcription_delay, llm_ttft, tts_ttfb, e2e_latency or eou, "
               "ttft, ttfb, e2e; STAT p50, p95, p99, max, mean), e.g. 'e2e.p95<=1.5,cost<=0.05': "
               "exit 1 when one fails")
SIDE_HELP = "a snapshot or journal file, or a session id (or unique prefix) in the store"


def _budget(text: str) -> Any:
    from lkmon.report.gate import GateError, parse_budget

    try:
        return parse_budget(text)
    except GateError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _tolerance(text: str) -> Any:
    from lkmon.report.gate import GateError, parse_tolerance

    try:
        return parse_tolerance(text)
    except GateError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _tag(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: use KEY=VALUE")
    return key.strip(), value.strip()


def add_budget_options(parser: argparse.ArgumentParser) -> None:
    """``--budget SPEC`` and ``--junit FILE`` (``lkmon run``, ``lkmon replay``)."""
    parser.add_argument("--budget", type=_budget, metavar="SPEC", help=BUDGET_HELP)
    parser.add_argument("--junit", metavar="FILE", help="write the budgets' JUnit XML here")


def add_parsers(sub: Any, db_help: str) -> None:
    """Add ``compare`` and ``check`` to the ``lkmon`` subparsers."""
    cmp = sub.add_parser("compare", help="compare two sessions (or sets of sessions) per stage")
    cmp.add_argument("a", nargs="?", metavar="A", help=SIDE_HELP + " (the reference)")
    cmp.add_argument("b", nargs="?", metavar="B", help=SIDE_HELP)
    cmp.add_argument("--a-tag", type=_tag, metavar="K=V", help="side A: the stored sessions "
                     "with this tag")
    cmp.add_argument("--b-tag", type=_tag, metavar="K=V", help="side B: the same, for B")
    cmp.add_argument("--db", metavar="PATH", help=db_help)
    out = cmp.add_mutually_exclusive_group()
    out.add_argument("--markdown", action="store_true", help="a Markdown table (for a PR)")
    out.add_argument("--json", action="store_true", help="one JSON document, for scripts")
    cmp.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")

    chk = sub.add_parser("check", help="CI latency gate: budgets and a pinned baseline")
    chk.add_argument("path", metavar="PATH", help=SIDE_HELP)
    chk.add_argument("--budget", type=_budget, metavar="SPEC", help=BUDGET_HELP)
    base = chk.add_mutually_exclusive_group()
    base.add_argument("--baseline", metavar="OLD", help="the pinned baseline: " + SIDE_HELP)
    base.add_argument("--baseline-tag", type=_tag, metavar="K=V",
                      help="the baseline: the stored sessions with this tag")
    chk.add_argument("--tolerance", type=_tolerance, metavar="SPEC",
                     help="allowed slowdown before a baseline figure fails: p50=15%%,p95=20%%,"
                     "cost=10%% (the defaults); fails only when the whole 95 %% interval of "
                     "the ratio lies above 1 + tolerance")
    chk.add_argument("--junit", metavar="FILE", help="write JUnit XML (one test case per "
                     "figure)")
    chk.add_argument("--markdown", action="store_true", help="a Markdown table (for a PR)")
    chk.add_argument("--db", metavar="PATH", help=db_help)


# -- the sides ----------------------------------------------------------------------------------


def _store(db: str | None, ref: str) -> Store:
    from lkmon import paths
    from lkmon.cli_store import _open
    from lkmon.store.db import StoreError, sqlite_path

    target = db if db is not None else paths.store_db()
    try:
        path = sqlite_path(target)
    except StoreError as e:
        raise UsageError(str(e)) from None
    if path is not None and not path.exists():
        raise UsageError(f"{ref}: no such file, and no session store at {path} to find it in")
    return _open(db, create=False)


def _from_store(store: Any, label: str, rows: list[dict[str, Any]]) -> Any:
    from lkmon.report.compare import sample_of_rows

    turns: list[dict[str, Any]] = []
    for r in rows:
        turns += store.rows("turns", r["session_id"])
    return sample_of_rows(label, rows, turns)


def load_side(ref: str, db: str | None) -> Any:
    """A ``Sample`` of ``ref``: a snapshot or journal file, else a stored session by id or
    unique prefix.

    Raises:
        UsageError: not a loadable file and no such session (or several) in the store.
    """
    from lkmon.report.compare import sample_of_snapshot
    from lkmon.store.convert import to_snapshot
    from lkmon.store.restore import SnapshotError, load_session

    p = Path(ref)
    if p.exists():
        try:
            return sample_of_snapshot(to_snapshot(load_session(p)), ref)
        except SnapshotError as e:
            raise UsageError(str(e)) from None
    with _store(db, ref) as store:
        matches = [r for r in store.sessions() if str(r["session_id"]).startswith(ref)]
        exact = [r for r in matches if r["session_id"] == ref]
        if exact:
            matches = exact
        if not matches:
            raise UsageError(f"{ref}: no such file, and no session {ref} in "
                             f"{store.path or store.url}")
        if len(matches) > 1:
            raise UsageError(f"{ref}: matches {len(matches)} sessions, give more of the id")
        return _from_store(store, f"session {str(matches[0]['session_id'])[:8]}", matches)


def load_tagged(tag: tuple[str, str], db: str | None) -> Any:
    """A ``Sample`` of every stored session tagged ``KEY=VALUE``.

    Raises:
        UsageError: no store, or no session with that tag.
    """
    key, value = tag
    with _store(db, f"{key}={value}") as store:
        rows = store.sessions(tags={key: value})
        if not rows:
            raise UsageError(f"no session tagged {key}={value} in {store.path or store.url}")
        return _from_store(store, f"tag {key}={value}", rows)


def _junit_target(path: str | None) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--junit {path}: is a folder")
    if not p.absolute().parent.is_dir():
        raise UsageError(f"--junit {path}: folder {p.parent} does not exist")
    return p


def _write_junit(checks: list[Any], target: Path | None, out: TextIO) -> None:
    if target is None:
        return
    from lkmon.report.gate import write_junit

    try:
        write_junit(checks, target)
    except OSError as e:
        raise UsageError(f"cannot write --junit {target}: {e.strerror or e}") from None
    print(f"lkmon: JUnit XML {target}", file=out)


# -- the commands -------------------------------------------------------------------------------


def cmd_compare(args: argparse.Namespace) -> int:
    """``lkmon compare``: per-stage table, Markdown, JSON and/or HTML."""
    from lkmon.report.compare import compare
    from lkmon.report.gate_text import compare_markdown, print_compare

    if args.a_tag or args.b_tag:
        if args.a or args.b or not (args.a_tag and args.b_tag):
            raise UsageError("give A B, or both --a-tag K=V and --b-tag K=V")
        a, b = load_tagged(args.a_tag, args.db), load_tagged(args.b_tag, args.db)
    elif args.a and args.b:
        a, b = load_side(args.a, args.db), load_side(args.b, args.db)
    else:
        raise UsageError("give two sessions to compare: lkmon compare A B "
                         "(or --a-tag K=V --b-tag K=V)")
    html = _junit_target(args.html)  # the same checks: a file in an existing folder
    comp = compare(a, b)
    if args.json:
        json.dump(comp.to_dict(), sys.stdout, indent=1)
        print()
    elif args.markdown:
        print(compare_markdown(comp))
    else:
        print_compare(comp, sys.stdout)
    if html is not None:
        from lkmon.report.compare_html import write_compare_report

        try:
            write_compare_report(comp, html)
        except OSError as e:
            raise UsageError(f"cannot write --html {html}: {e.strerror or e}") from None
        print(f"lkmon: HTML report {html}", file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """``lkmon check``: budgets and/or a baseline on a session; exit 0 / 1 (``EXIT_GATE``)."""
    from lkmon.report.gate import DEFAULT_TOLERANCE, check_baseline, evaluate_budgets, failed
    from lkmon.report.gate_text import checks_markdown, print_checks

    if not (args.budget or args.baseline or args.baseline_tag):
        raise UsageError("nothing to check: give --budget SPEC and/or --baseline OLD")
    if args.tolerance is not None and not (args.baseline or args.baseline_tag):
        raise UsageError("--tolerance needs --baseline OLD (or --baseline-tag K=V)")
    junit = _junit_target(args.junit)
    current = load_side(args.path, args.db)
    checks = evaluate_budgets(args.budget, current) if args.budget else []
    if args.baseline or args.baseline_tag:
        base = (load_side(args.baseline, args.db) if args.baseline
                else load_tagged(args.baseline_tag, args.db))
        checks += check_baseline(base, current, args.tolerance or DEFAULT_TOLERANCE)
    if args.markdown:
        print(checks_markdown(checks))
    else:
        print_checks(checks, sys.stdout, title=f"lkmon check {args.path}")
    _write_junit(checks, junit, sys.stdout)
    return EXIT_GATE if failed(checks) else 0


class BudgetGate:
    """``--budget`` on ``lkmon run --headless`` and ``lkmon replay --export``: evaluated on the
    session once its snapshot (and store rows) are written, so a failed budget loses nothing.

    Raises:
        UsageError: ``--junit`` without ``--budget``, or in a folder that does not exist.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.budgets = args.budget
        if args.junit is not None and not self.budgets:
            raise UsageError("--junit needs --budget SPEC")
        self.junit = _junit_target(args.junit)
        self.checks: list[Any] | None = None

    def wrap(self, on_end: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
        """``on_end`` for ``run_headless``, then the budgets on the model."""
        if not self.budgets:
            return on_end

        def end(model: Any) -> None:
            if on_end is not None:
                on_end(model)
            self.evaluate(model)

        return end

    def evaluate(self, model: Any) -> None:
        """The budgets on a ``SessionModel``."""
        from lkmon.report.compare import sample_of_snapshot
        from lkmon.report.gate import evaluate_budgets
        from lkmon.store.convert import to_snapshot

        if self.budgets and model.session.started_at is not None:
            self.checks = evaluate_budgets(self.budgets,
                                           sample_of_snapshot(to_snapshot(model), "session"))

    def exit_code(self, out: TextIO | None = None) -> int:
        """Print the budget table (and write the JUnit XML); 1 when a budget failed."""
        from lkmon.report.gate import failed
        from lkmon.report.gate_text import print_checks

        if self.checks is None:
            return 0
        out = out or sys.stdout
        print_checks(self.checks, out, title="lkmon budgets")
        _write_junit(self.checks, self.junit, out)
        return EXIT_GATE if failed(self.checks) else 0


COMMANDS = {"compare": cmd_compare, "check": cmd_check}
"""Subcommand name -> handler, for ``lkmon.cli.main``."""
