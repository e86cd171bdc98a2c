"""Helpers shared by the lkmon panes: formatting, colours, and the guard around widget code.

No widget here; every pane imports these. Durations are in seconds throughout.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from rich.text import Text

log = logging.getLogger("lkmon.ui")

F = TypeVar("F", bound=Callable[..., Any])

# Stage colours, shared by the turns pane, the detail screen and the legend.
# Keys are those of ``Turn.stages()`` plus "other" (the rest of e2e) and "e2e".
STAGE_COLOURS: dict[str, str] = {
    "eou": "#5e81ac",  # end-of-utterance delay
    "llm_ttft": "#b48ead",  # LLM time to first token
    "tts_ttfb": "#d08770",  # TTS time to first byte
    "other": "#4c566a",  # the rest of e2e (scheduling, playback start)
}
STAGE_LABELS: dict[str, str] = {
    "eou": "EOU",
    "llm_ttft": "LLM TTFT",
    "tts_ttfb": "TTS TTFB",
    "other": "other",
    "e2e": "e2e",
}
GOOD = "#a3be8c"
WARN = "#ebcb8b"
BAD = "#bf616a"
DIM = "#6c7689"
ACCENT = "#88c0d0"

ROLE_STYLES: dict[str, str] = {
    "user": "bold #88c0d0",
    "assistant": "bold #b48ead",
    "agent": "bold #b48ead",
    "tool": "bold #ebcb8b",
    "system": "bold #6c7689",
}

LEVEL_STYLES: dict[str, str] = {
    "DEBUG": DIM,
    "INFO": "",
    "WARNING": WARN,
    "ERROR": BAD,
    "CRITICAL": f"bold {BAD}",
}


def fmt_s(seconds: float | None, *, digits: int = 2) -> str:
    """Format seconds as ``1.23s``; ``-`` for an unknown figure."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    return f"{seconds:.{digits}f}s"


def fmt_ms(seconds: float | None) -> str:
    """Format seconds as milliseconds, ``123 ms``; ``-`` for an unknown figure."""
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms"


def fmt_clock(ts: float | None) -> str:
    """Format epoch seconds as local ``HH:MM:SS``; ``--:--:--`` when unknown."""
    if ts is None:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.localtime(ts))


def fmt_duration(seconds: float | None) -> str:
    """Format a duration in seconds as ``M:SS`` or ``H:MM:SS``."""
    if seconds is None or seconds < 0:
        return "-:--"
    total = int(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_count(n: float | None) -> str:
    """Format a count with thousands separators; ``-`` when unknown."""
    if n is None:
        return "-"
    return f"{n:,.0f}"


def fmt_cost(usd: float | None) -> str:
    """Format a cost in US dollars; ``-`` when unknown (no price)."""
    if usd is None:
        return "-"
    if usd == 0:
        return "$0"
    if usd < 0.01:
        return f"${usd:.4f}"
    return f"${usd:.2f}"


def e2e_style(seconds: float | None, thresholds: tuple[float, float]) -> str:
    """Colour for an e2e latency: good below ``thresholds[0]``, bad from ``thresholds[1]``."""
    if seconds is None:
        return DIM
    good, bad = thresholds
    if seconds < good:
        return f"bold {GOOD}"
    if seconds < bad:
        return f"bold {WARN}"
    return f"bold {BAD}"


def level_bar(dbfs: float | None, width: int = 8, floor: float = -60.0) -> Text:
    """A horizontal audio meter for a level in dBFS (``floor``..0 fills 0..``width`` cells)."""
    text = Text()
    if dbfs is None or math.isinf(dbfs) or dbfs <= floor:
        text.append("·" * width, style=DIM)
        return text
    frac = min(1.0, max(0.0, (dbfs - floor) / -floor))
    cells = frac * width
    full = int(cells)
    style = GOOD if dbfs < -12 else (WARN if dbfs < -3 else BAD)
    text.append("█" * full, style=style)
    rest = cells - full
    if full < width:
        partial = " ▏▎▍▌▋▊▉"[int(rest * 8)]
        text.append(partial if partial != " " else "·", style=style if partial != " " else DIM)
        text.append("·" * (width - full - 1), style=DIM)
    return text


def report_widget_error(where: str, error: BaseException) -> None:
    """Log an exception raised inside lkmon UI code and show it in the app, never re-raise.

    The running app (``LkmonApp.report_error``) turns it into an ``ErrorRaised`` event so it
    appears in the error banner and the log pane. Repeats of the same error are counted, not
    shown again.
    """
    from textual._context import active_app

    try:
        app = active_app.get()
    except LookupError:
        app = None
    handler = getattr(app, "report_error", None)
    if handler is None:
        log.error("error in %s: %s", where, error, exc_info=error)
        return
    handler(where, error)


def guarded(where: str, fallback: Any = None) -> Callable[[F], F]:
    """Decorate a widget method so that an exception is reported (banner + log) and swallowed.

    Args:
        where: a short name of the code, e.g. ``"turns.render_line"``.
        fallback: returned instead of the method's result when it raised; a callable fallback is
            called with the same arguments.
    """

    def deco(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(*args, **kwargs)
                except Exception as e:  # shown in the banner and the log pane, never fatal
                    report_widget_error(where, e)
                    return fallback(*args, **kwargs) if callable(fallback) else fallback

            return awrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # shown in the banner and the log pane, never fatal
                report_widget_error(where, e)
                return fallback(*args, **kwargs) if callable(fallback) else fallback

        return wrapper  # type: ignore[return-value]

    return deco
