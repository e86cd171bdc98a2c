"""Messages the panes post to the app, instead of reaching into it.

Textual messages bubble from a widget to its screen and on to the app: a pane never holds the
app, never looks it up (no ``getattr`` on it, no ``textual._context.active_app``). The app
handles each of these in one place.
"""

from __future__ import annotations

from textual.message import Message


class WidgetError(Message):
    """An exception raised inside a pane (caught by ``guarded``); the app shows it in the error
    banner and the log pane (``LkmonApp.report_error``) and the pane goes on.

    Attributes:
        where: the code that raised, e.g. ``"turns.render_line"``.
        error: the exception.
    """

    def __init__(self, where: str, error: BaseException) -> None:
        super().__init__()
        self.where = where
        self.error = error
