"""Helpers shared by the lkmon panes: terminal styles, the level meter, and the guard around
widget code.

No widget here; every pane imports these. Stage names, colours and number formats are
``lkmon.model.vocab``'s (the HTML report and the headless tables use the same); durations are in
seconds throughout.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

from rich.text import Text
from textual.geometry import Size
from textual.message_pump import MessagePump
from textual.scrollbar import ScrollBar
from textual.widget import Widget

from lkmon.model.vocab import RATING_COLOURS, STAGES, rate_e2e
from lkmon.tui.widgets.messages import WidgetError

log = logging.getLogger("lkmon.ui")

F = TypeVar("F", bound=Callable[..., Any])

GOOD = RATING_COLOURS["good"]
WARN = RATING_COLOURS["warn"]
BAD = RATING_COLOURS["bad"]
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


def stage_style(key: str) -> str:
    """The Rich style of stage ``key``'s colour (``lkmon.model.vocab``); bold when it has none."""
    stage = STAGES.get(key)
    return stage.colour if stage is not None and stage.colour else "bold"


def e2e_style(seconds: float | None, thresholds: tuple[float, float]) -> str:
    """The style of an e2e latency rated against ``thresholds`` (``vocab.rate_e2e``)."""
    rating = rate_e2e(seconds, thresholds)
    return DIM if rating is None else f"bold {RATING_COLOURS[rating]}"


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


def report_widget_error(sender: object, where: str, error: BaseException) -> None:
    """Report an exception raised inside ``sender``'s code, never re-raise.

    A running widget, screen or app posts a ``WidgetError`` message straight to its app (which
    shows it in the error banner and the log pane; repeats are counted, not shown again);
    anything else, or a widget no longer running, logs it.

    The message goes to the app, not up from the widget: an error inside ``render_line`` is
    raised while the screen composes, so the message's sender is the screen, and Textual stops
    bubbling at the sender; the app would never see it.
    """
    if isinstance(sender, MessagePump) and sender.is_running:
        try:
            app = sender.app  # the widget's own app (public Textual API)
        except Exception:  # not attached to an app any more
            app = None
        if app is not None and app.is_running and app.post_message(WidgetError(where, error)):
            return
    log.error("error in %s: %s", where, error, exc_info=error)


def guarded(where: str, fallback: Any = None) -> Callable[[F], F]:
    """Decorate a widget (or app) method so that an exception is reported as a ``WidgetError``
    message from the widget (banner + log) and swallowed.

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
                    report_widget_error(args[0] if args else None, where, e)
                    return fallback(*args, **kwargs) if callable(fallback) else fallback

            # wraps keeps fn's signature; the result is fn's or the fallback
            return cast(F, awrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # shown in the banner and the log pane, never fatal
                report_widget_error(args[0] if args else None, where, e)
                return fallback(*args, **kwargs) if callable(fallback) else fallback

        return cast(F, wrapper)  # as above

    return deco


def grows_in_place(widget: Widget, size: Size) -> bool:
    """Whether ``widget`` (a ``ScrollView``) can take the virtual ``size`` (cells) without a
    layout: only its height changes, and its vertical scrollbar is always shown
    (``overflow-y: scroll``, lkmon's lists), so no scrollbar appears or goes and no region
    moves."""
    old, box = widget.virtual_size, widget.container_size
    return bool(box) and size.width == old.width and not widget.show_horizontal_scrollbar \
        and widget.styles.overflow_y == "scroll" and widget.show_vertical_scrollbar


def set_virtual_size(widget: Widget, size: Size) -> None:
    """Set ``widget.virtual_size`` to ``size`` (cells). Textual lays the whole screen out again
    on every change of it (``virtual_size`` is a layout reactive); a list whose scrollbars stay
    as they are (``grows_in_place``) is repainted instead, and a shown vertical scrollbar is
    given its new length (``ScrollBar.window_virtual_size``), which is what that layout did.
    The bar is not repainted here: the caller scrolls, then calls ``refresh_scrollbar``, so
    that the bar is drawn once, at its new position (and not at all when it looks the same,
    ``tui.compat.quiet_scrollbars``)."""
    if size == widget.virtual_size:
        return
    if grows_in_place(widget, size):
        widget.set_reactive(Widget.virtual_size, size)
        if widget.show_vertical_scrollbar:
            widget.vertical_scrollbar.set_reactive(ScrollBar.window_virtual_size, size.height)
        widget.refresh()
    else:
        widget.virtual_size = size


def refresh_scrollbar(widget: Widget) -> None:
    """Repaint ``widget``'s vertical scrollbar, when shown (after ``set_virtual_size`` and a
    scroll; a bar that looks the same is not drawn again)."""
    if widget.show_vertical_scrollbar:
        widget.vertical_scrollbar.refresh()
