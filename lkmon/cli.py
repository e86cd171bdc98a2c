"""``lkmon`` command line: thin argument parsing that builds a session source (``lkmon.sources``)
and hands it to the app or to headless mode.

    lkmon run [AGENT_FILE] [--input mic|text|FILES/DIRS...] [--output null|speaker]
              [--models auto|local|cloud] [--headless] [--export PATH] [--journal PATH]
              [--redact] [--prices FILE] [--thresholds GOOD,BAD] [--fault SPEC] [--db PATH|--no-db]
    lkmon replay SNAPSHOT_OR_JOURNAL [--export OUT.json|DIR/] [--thresholds GOOD,BAD]
    lkmon watch [JOURNAL_OR_FOLDER] [--thresholds GOOD,BAD] (``lkmon.cli_watch``)
    lkmon import PATH... [--db PATH]; lkmon sessions [--db PATH] [--last N] [--json] [--delete ID]
    lkmon compare A B; lkmon check PATH --budget SPEC --baseline OLD (``lkmon.cli_gate``)

Every bad input is one line on stderr (``lkmon: error: ...``) and exit code 2, with no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from lkmon import __version__, cli_gate, cli_process, cli_store, cli_watch
from lkmon.cli_args import FAULT_HELP, fault_spec, parse_thresholds, seconds_arg
from lkmon.cli_output import resolve_output
from lkmon.errors import EXIT_USAGE, SaveFailed, UsageError
from lkmon.examples import default_agent_file
from lkmon.model.vocab import printable
from lkmon.store.files import QUIT_SIGNALS, deferred_signals

if TYPE_CHECKING:
    from lkmon.model.areas import Area
    from lkmon.model.state import SessionModel
    from lkmon.model.usage import PriceTable
    from lkmon.sources import SessionSource


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    """The ``lkmon`` argument parser."""
    p = _Parser(prog="lkmon", description="A terminal monitor for LiveKit voice agents.")
    p.add_argument("--version", action="version", version=f"lkmon {__version__}")
    sub = p.add_subparsers(
        dest="command", metavar="{run,replay,watch,import,sessions,compare,check}",
        parser_class=_Parser,
    )
    sub.required = True

    run = sub.add_parser("run", help="run a LiveKit agent file in-process and monitor it")
    run.add_argument(
        "agent_file",
        nargs="?",
        metavar="AGENT_FILE",
        help="LiveKit agent file (default: ./agent_entry.py if the current folder has one, "
        "else lkmon's own agent_entry.py: local models, or LiveKit Inference with credentials)",
    )
    run.add_argument(
        "--input",
        nargs="+",
        action="extend",  # --input a.wav --input b.wav plays both, in order
        metavar="SRC",
        help="'mic', 'text', or WAV files/folders, played in order; may be repeated "
        "(default: mic if there is one, else text)",
    )
    run.add_argument(
        "--output",
        choices=("null", "speaker"),
        help="agent audio: speaker, or a silent real-time sink (default: speaker "
        "if there is one, else null)",
    )
    run.add_argument(
        "--models",
        choices=("auto", "local", "cloud"),
        default="auto",
        help="models for agent_entry.py (default: auto: cloud with credentials)",
    )
    run.add_argument(
        "--headless",
        action="store_true",
        help="no TUI: a line per turn, a table at the end, a snapshot",
    )
    run.add_argument(
        "--export",
        metavar="PATH",
        help="snapshot file, or folder (DIR/ is created) for a time-stamped file in it "
        "(never overwritten: a time-stamped name is used instead)",
    )
    run.add_argument("--journal", metavar="PATH", help="session journal (JSON Lines) path")
    run.add_argument(
        "--redact", action="store_true", help="replace transcript text with placeholders in exports"
    )
    run.add_argument("--prices", metavar="FILE", help="price table (TOML) overriding the defaults")
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="headless: also print livekit/lkmon warnings and errors on stderr",
    )
    run.add_argument(
        "--start-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="seconds the agent file may take to start its session (default 60)",
    )
    run.add_argument(
        "--gap",
        type=seconds_arg,
        default=1.0,
        metavar="SECONDS",
        help="seconds of agent quiet the caller waits for before each recording or typed line, "
        "and before a recorded or piped session ends (default 1)",
    )
    run.add_argument(
        "--thresholds",
        type=parse_thresholds,
        default=(1.0, 2.0),
        metavar="GOOD,BAD",
        help="e2e latency colours in seconds: green below GOOD, red from BAD (default 1.0,2.0)",
    )
    run.add_argument(
        "--fault", action="append", type=fault_spec, metavar="SPEC", help=FAULT_HELP
    )
    cli_store.add_run_options(run)
    cli_process.add_options(run)
    cli_gate.add_budget_options(run)

    replay = sub.add_parser("replay", help="open a snapshot or journal, or convert it")
    replay.add_argument("path", metavar="SNAPSHOT_OR_JOURNAL")
    replay.add_argument(
        "--export",
        metavar="OUT.json",
        help="write a snapshot instead of opening the UI: a file, or a folder (DIR/ is created) "
        "for a time-stamped file in it; never overwritten",
    )
    replay.add_argument(
        "--redact", action="store_true", help="replace transcript text with placeholders in exports"
    )
    replay.add_argument(
        "--thresholds",
        type=parse_thresholds,
        default=(1.0, 2.0),
        metavar="GOOD,BAD",
        help="e2e latency colours in seconds: green below GOOD, red from BAD (default 1.0,2.0)",
    )
    cli_gate.add_budget_options(replay)
    cli_store.add_replay_options(replay)
    cli_watch.add_parser(sub, parse_thresholds)
    cli_store.add_parsers(sub)
    cli_gate.add_parsers(sub, cli_store.DB_HELP)
    return p


def _default_input() -> list[str]:
    from lkmon.agent.audio.mic import has_input_device

    return ["mic"] if has_input_device() else ["text"]


def _default_output() -> str:
    from lkmon.agent.audio.sinks import has_output_device

    return "speaker" if has_output_device() else "null"


def _load_prices(path: str | None) -> PriceTable | None:
    if path is None:
        return None
    from lkmon.model.usage import PriceTable

    try:
        return PriceTable.load(path)
    except ValueError as e:  # PriceTableError: one line
        raise UsageError(str(e)) from None


def _configure_faults(specs: list[str] | None) -> None:
    """Check ``$LKMON_FAULTS`` and apply ``--fault`` (which overrides it).

    Raises:
        UsageError: a bad spec in ``$LKMON_FAULTS`` (``--fault`` is checked by argparse).
    """
    env = os.environ.get("LKMON_FAULTS", "").strip()
    if not env and not specs:
        return  # lkmon.local (the models' libraries) is only imported when needed
    from lkmon.local import faults

    try:
        faults.parse_faults(env)
    except ValueError as e:
        raise UsageError(f"{faults.ENV_VAR}: {e}") from None
    if specs:
        faults.set_faults(",".join(specs))
    active = ",".join(specs) if specs else env
    print(f"lkmon: injecting faults {active} (lkmon's local plugins only)", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    """``lkmon run``: the TUI, or ``--headless``, on an ``InProcessSource``."""
    from lkmon.agent.host.options import RunOptions
    from lkmon.redact import install_from_env
    from lkmon.sources import InProcessSource

    if (args.budget or args.junit) and not args.headless:
        raise UsageError("--budget and --junit need --headless "
                         "(or 'lkmon check SNAPSHOT --budget SPEC')")
    _configure_faults(args.fault)
    agent_file = Path(args.agent_file) if args.agent_file else default_agent_file()
    install_from_env(agent_file.parent / ".env")
    install_from_env(Path.cwd() / ".env")
    prices = _load_prices(args.prices)
    inputs = args.input or _default_input()
    if args.output is None:
        output = (
            "null" if inputs not in (["mic"], ["text"]) and args.headless else _default_output()
        )
    else:
        output = args.output
    export = resolve_output(args.export, "snapshot", ".json", "--export")
    journal = resolve_output(args.journal, "journal", ".jsonl", "--journal")
    gate = cli_gate.BudgetGate(args)  # --junit: after --export DIR/ made its folder
    cli_store.check_for_run(args)
    text_lines = sys.stdin if inputs == ["text"] and args.headless else None
    options = RunOptions(
        agent_file=agent_file,
        inputs=inputs,
        output=output,
        models=args.models,
        journal=journal,
        text_lines=text_lines,
        start_timeout=args.start_timeout,
        gap=args.gap,
        stderr_log_level="WARNING" if args.verbose and args.headless else None,
        capture_root_logs=True,  # headless too: an agent's own logs are redacted and journaled
        tags=cli_store.tags_of(args),
    )
    source = cli_process.source(args, options) if args.process else InProcessSource(options)
    if args.headless:
        from lkmon.headless import run_headless

        on_end, watch = cli_store.run_hooks(args, agent_file, out=sys.stdout)
        run_headless(source, export, prices=prices, redact=args.redact, on_end=gate.wrap(on_end),
                     watch=watch)
        return gate.exit_code(sys.stdout)
    # --export FILE: quitting writes exactly there; else a time-stamped file in the folder
    snapshot_path = export if args.export is not None and not Path(args.export).is_dir() else None
    return _run_tui(source, export, prices, args.redact, args.thresholds, snapshot_path,
                    *cli_store.run_hooks(args, agent_file))


def _run_tui(source: SessionSource, export: Path, prices: PriceTable | None, redact: bool,
             thresholds: tuple[float, float] = (1.0, 2.0), snapshot_path: Path | None = None,
             on_end: Callable[[SessionModel], None] | None = None,
             watch: Callable[[SessionModel, set[Area]], None] | None = None) -> int:
    """Open ``source`` (bad input is refused before the screen opens: ``UsageError``), run the
    app on it; raise the error that ended the session (``SessionFailed``), if any."""
    from lkmon.tui.app import LkmonApp

    model = source.open(prices)
    if source.journal is not None:
        print(f"lkmon: journal {source.journal}", file=sys.stderr)
    app = LkmonApp(model, source, export_dir=export.parent, prices=prices, redact=redact,
                   thresholds=thresholds, snapshot_path=snapshot_path)
    app.watch_changes = watch
    saved = app.run()
    with deferred_signals():  # the store's write is not cut short by a late signal
        if on_end is not None:  # the app's loop has ended: not on it
            on_end(model)
    # the terminal may be gone (SIGHUP ended the app): these lines are then dropped, and the
    # run still ends with the session's own outcome
    with contextlib.suppress(OSError):
        if saved is not None:
            print(f"lkmon: snapshot {saved}", file=sys.stderr, flush=True)
        for note in source.journal_notes:  # shown in the log pane while it ran
            print(f"lkmon: warning: {note}", file=sys.stderr, flush=True)
    if source.error is not None:
        raise source.error
    if app.save_failure is not None:
        where, _, reason = app.save_failure.rpartition(": ")
        raise SaveFailed(where, reason, source.journal)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """``lkmon replay``: open a snapshot or journal, or convert it with ``--export``."""
    from lkmon.sources import ReplaySource
    from lkmon.store.snapshot import write_snapshot

    if (args.budget or args.junit) and not args.export:
        raise UsageError("--budget and --junit need --export "
                         "(or 'lkmon check PATH --budget SPEC')")
    source = ReplaySource(args.path)
    model = source.open()  # SourceError (a UsageError): one line
    if args.export:
        out = resolve_output(args.export, "snapshot", ".json", "--export")
        gate = cli_gate.BudgetGate(args)
        try:
            path = write_snapshot(model, out, redact_text=args.redact, overwrite=False)
        except OSError as e:
            raise SaveFailed(out, e.strerror or str(e)) from None
        print(f"lkmon: {len(model.turns)} turns -> {path}")
        cli_store.store_replayed(args)
        gate.evaluate(model)
        return gate.exit_code(sys.stdout)
    cli_store.store_replayed(args)
    from lkmon.tui.app import LkmonApp

    LkmonApp(model, source, export_dir=Path(args.path).parent, redact=args.redact,
             thresholds=args.thresholds).run()
    return 0


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lkmon`` console script; returns the exit code."""
    for stream in (sys.stdout, sys.stderr):  # text that is not UTF-8 prints as \udcff
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    if threading.current_thread() is threading.main_thread():
        # until the session installs its own handlers, SIGTERM and SIGHUP interrupt like Ctrl+C
        for sig in QUIT_SIGNALS:
            if sig != signal.SIGINT:
                signal.signal(sig, _interrupt)
    try:
        args = build_parser().parse_args(argv)
        commands = {"run": cmd_run, "replay": cmd_replay, **cli_watch.COMMANDS,
                    **cli_store.COMMANDS, **cli_gate.COMMANDS}
        return commands[args.command](args)
    except UsageError as e:
        print(printable(f"lkmon: error: {e}"), file=sys.stderr)
        return EXIT_USAGE
    except SaveFailed as e:
        print(printable(f"lkmon: error: {e}"), file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("lkmon: interrupted", file=sys.stderr)
        return 130


def run() -> NoReturn:
    """``sys.exit(main())``."""
    sys.exit(main())


if __name__ == "__main__":
    run()
