"""``lkmon run AGENT_FILE --process [--python PATH]``: the agent in its own interpreter, over
LiveKit's session protocol (``lkmon.sources.ProtocolSource``; ``lkmon.cli`` wires it).

Every caller of ``lkmon run`` works: typed turns (``--input text``), WAV recordings and folders,
or the microphone (``--input mic``), sent as the protocol's ``run_input`` requests or
``audio_input`` frames. The agent's audio plays in the sink ``--output`` asks for, as in-process:
the speakers or the real-time null sink.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lkmon.agent.host.options import RunOptions
    from lkmon.sources import SessionSource


def add_options(run: Any) -> None:
    """Add ``--process`` and ``--python`` to ``lkmon run``."""
    run.add_argument(
        "--process", action="store_true",
        help="run the agent in its own interpreter (python -m livekit.agents console AGENT "
        "--connect-addr), lkmon as the session protocol's server",
    )
    run.add_argument("--python", metavar="PATH", default="python",
                     help="--process: the interpreter (default: the python on PATH)")


def source(args: argparse.Namespace, options: RunOptions) -> SessionSource:
    """The ``ProtocolSource`` for ``--process``; the agent's output goes beside the journal.
    Bad input (a recording, no input or output device) is refused by its ``open``."""
    from lkmon.sources import ProtocolSource

    inputs = None if list(options.inputs) == ["text"] else list(options.inputs)
    log = None
    if options.journal is not None:
        j = options.journal
        log = j.with_name(j.name.removesuffix(".jsonl").removesuffix(".journal") + ".agent.log")
    import os

    from lkmon.agent.host.options import MODELS_ENV

    env = {**os.environ, MODELS_ENV: options.models}  # as in-process: --models reaches the file
    return ProtocolSource(options.agent_file, python=args.python, journal=options.journal, env=env,
                          text_lines=options.text_lines if inputs is None else None,
                          inputs=inputs, mic_device=options.mic_device, gap=options.gap,
                          reply_timeout=options.reply_timeout, log_path=log, tags=options.tags,
                          output=options.output, speaker_device=options.speaker_device)
