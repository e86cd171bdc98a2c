"""``lkmon run AGENT_FILE --process [--python PATH]``: the agent in its own interpreter, over
LiveKit's session protocol (``lkmon.sources.ProtocolSource``; ``lkmon.cli`` wires it).

So far typed turns only (``--input text``): the agent's audio goes to a real-time null sink.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from lkmon.errors import UsageError

if TYPE_CHECKING:
    from lkmon.agent.host.options import RunOptions
    from lkmon.sources import SessionSource


def add_options(run: Any) -> None:
    """Add ``--process`` and ``--python`` to ``lkmon run``."""
    run.add_argument(
        "--process", action="store_true",
        help="run the agent in its own interpreter (python -m livekit.agents console AGENT "
        "--connect-addr), lkmon as the session protocol's server; --input text only so far",
    )
    run.add_argument("--python", metavar="PATH", default="python",
                     help="--process: the interpreter (default: the python on PATH)")


def source(args: argparse.Namespace, options: RunOptions) -> SessionSource:
    """The ``ProtocolSource`` for ``--process``; the agent's output goes beside the journal.

    Raises:
        UsageError: an input other than text, or ``--python`` without ``--process``.
    """
    from lkmon.sources import ProtocolSource

    if list(options.inputs) != ["text"]:
        raise UsageError("--process takes only --input text so far")
    log = None
    if options.journal is not None:
        j = options.journal
        log = j.with_name(j.name.removesuffix(".jsonl").removesuffix(".journal") + ".agent.log")
    return ProtocolSource(options.agent_file, python=args.python, journal=options.journal,
                          text_lines=options.text_lines, log_path=log)
