"""Argument types shared by ``lkmon``'s subcommands (``lkmon.cli``): ``--thresholds``,
``--fault`` and ``--gap``. Each raises ``argparse.ArgumentTypeError`` (one line, exit 2 through
the parser)."""

from __future__ import annotations

import argparse

__all__ = ["FAULT_HELP", "fault_spec", "parse_thresholds", "seconds_arg"]


def seconds_arg(text: str) -> float:
    """A number of seconds, 0 or more (``--gap``).

    Raises:
        argparse.ArgumentTypeError: not a number, negative, or infinite.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 or more seconds")
    return value


def parse_thresholds(text: str) -> tuple[float, float]:
    """``"GOOD,BAD"`` -> (good, bad) e2e latency thresholds in seconds, 0 < good < bad.

    Raises:
        argparse.ArgumentTypeError: not two numbers, not positive, or good >= bad.
    """
    parts = [p.strip() for p in text.split(",")]
    try:
        good, bad = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use GOOD,BAD in seconds, e.g. 1.0,2.0"
        ) from None
    if not (0 < good < bad) or bad == float("inf"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: need 0 < GOOD < BAD (seconds), e.g. 1.0,2.0"
        )
    return good, bad


def fault_spec(text: str) -> str:
    """Check a ``--fault`` spec with ``lkmon.local.faults.parse_faults``."""
    from lkmon.local.faults import parse_faults

    try:
        parse_faults(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


FAULT_HELP = (
    "inject a fault into the embedded local plugins, for demos: KIND[@N[-M]][,...] with "
    "KIND one of stt_raise, llm_raise (mid-stream), llm_stall (past the LLM timeout), "
    "tts_raise, tts_silent (no audio); @N hits only the plugin's Nth call, @N-M calls N to M "
    "(a retry is a new call), else every call. "
    "Overrides $LKMON_FAULTS. Repeatable"
)
