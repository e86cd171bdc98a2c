"""Run ``lkmon`` (or any Python script) with a loop-lag probe on every event loop it creates.

    python -m bench._driver --out RESULT.json -- run agent_entry.py --input ... [--headless]
    python -m bench._driver --out RESULT.json --script agent_entry.py -- console --text
    python -m bench._driver --out RESULT.json --module livekit.agents -- console AGENT ...

Without ``--script`` the arguments go to ``lkmon.cli.main`` unchanged: the very code path of the
``lkmon`` command (argument parsing, ``RunOptions``, ``runner.prepare()``, the app or the headless
runner). With ``--script FILE`` the file runs as ``__main__`` with those arguments, as
``python FILE ARGS...`` would (LiveKit's own console, or ``bench/_bare.py``); with ``--module
NAME`` the module runs as ``python -m NAME ARGS...`` would (the agent process of ``lkmon run
--process``, through ``bench/_process.py``'s interpreter wrapper).

Nothing in lkmon is patched: ``bench.probe.probe_new_loops()`` installs an event-loop policy that
starts a ``LoopLagProbe`` on each new loop, and ``GcWatch`` records every garbage collection. When
the program ends, RESULT.json gets: ``exit`` (exit code), ``probes`` (per loop: thread, lag and
CPU samples), ``gc`` (``[epoch s, generation, pause s]``), ``rusage`` (user/system CPU seconds of
the whole process) and ``started``/``ended`` (epoch seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import runpy
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(args: argparse.Namespace) -> int:
    if args.script is None and args.module is None:
        from lkmon.cli import main

        return int(main(args.args))
    try:
        if args.module is not None:
            sys.argv = [args.module, *args.args]
            sys.path.insert(0, os.getcwd())  # as python -m puts the current folder first
            runpy.run_module(args.module, run_name="__main__", alter_sys=True)
        else:
            script = str(Path(args.script).resolve())
            sys.argv = [script, *args.args]
            sys.path.insert(0, str(Path(script).parent))
            runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        code = e.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the program under the probes and write the results; returns its exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench._driver", description=__doc__)
    parser.add_argument("--out", required=True, help="where to write the results (JSON)")
    parser.add_argument("--script", help="run this Python file as __main__ instead of lkmon")
    parser.add_argument("--module", help="run this module as __main__ (python -m) instead")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments after --")
    args = parser.parse_args(argv)
    if args.args and args.args[0] == "--":
        args.args = args.args[1:]
    from bench.probe import GcWatch, probe_new_loops

    started = time.time()
    gc_watch = GcWatch().install()
    code = 1
    probes: list = []
    try:
        with probe_new_loops() as new_probes:
            probes = new_probes
            code = _run(args)
    except KeyboardInterrupt:
        code = 130
    finally:
        gc_watch.uninstall()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        result = {
            "argv": args.args,
            "script": args.script,
            "module": args.module,
            "exit": code,
            "started": started,
            "ended": time.time(),
            "rusage": {"user": ru.ru_utime, "system": ru.ru_stime, "maxrss_kb": ru.ru_maxrss},
            "probes": [p.to_dict() for p in probes],
            "gc": gc_watch.collections,
        }
        tmp = Path(args.out).with_suffix(".tmp")
        tmp.write_text(json.dumps(result))
        os.replace(tmp, args.out)
    return code


if __name__ == "__main__":
    sys.exit(main())
