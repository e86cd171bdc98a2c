"""The status strip: agent and user state, mic and agent output levels, models, elapsed time.

States come from LiveKit ``agent_state_changed`` / ``user_state_changed``, levels (dBFS) from the
runner's audio input and output (``AudioLevel``), models from ``SessionStarted.models``. Levels
change many times a second; re-renders are requested with ``StatusStrip.Changed``, a message whose
``can_replace`` lets the message pump coalesce a burst into one render.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.message import Message

from lkmon.model.areas import Area
from lkmon.model.state import SessionModel
from lkmon.model.vocab import fmt_duration, printable
from lkmon.tui.widgets.common import ACCENT, BAD, DIM, GOOD, WARN, guarded, level_bar
from lkmon.tui.widgets.rows import RowsPane

AGENT_STATE_STYLES = {
    "initializing": DIM,
    "idle": DIM,
    "listening": ACCENT,
    "thinking": WARN,
    "speaking": GOOD,
}
USER_STATE_STYLES = {"speaking": GOOD, "listening": DIM, "away": WARN}


class StatusStrip(RowsPane):
    """Two lines at the top: states, levels and elapsed time; the models in use."""

    AREAS = frozenset({Area.STATUS, Area.SESSION})
    MIN_INTERVAL = 0.25  # seconds between re-renders: levels arrive ~20 times a second

    class Changed(Message):
        """The strip should re-render. Only the latest matters, so pending ones coalesce."""

        def can_replace(self, message: Message) -> bool:
            """Any pending ``Changed`` is superseded by this one."""
            return isinstance(message, StatusStrip.Changed)

    def __init__(self, model: SessionModel, *, live: bool,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(id="status")
        self.model = model
        self.live = live
        """A live session (``LIVE``/``ENDED``), or a replay (``REPLAY``)."""
        self.clock = clock
        """Epoch seconds now: the elapsed time of a live session runs from it."""
        self.session_over = not live
        """The session has ended (the app's runner returned); set with ``show_state``."""
        self.mic_muted = False
        """The microphone is muted (``m``); set with ``show_state``."""

    def show_state(self, *, session_over: bool | None = None,
                   mic_muted: bool | None = None) -> None:
        """What the app knows and the model does not: the session ended, the mic is muted.
        The app calls this; the strip never asks the app."""
        if session_over is not None:
            self.session_over = session_over
        if mic_muted is not None:
            self.mic_muted = mic_muted
        self.request_update()

    def update_view(self) -> None:
        """Ask for a re-render, coalesced with any pending request (levels come in bursts)."""
        self.post_message(self.Changed())

    request_update = update_view

    def on_status_strip_changed(self, message: Changed) -> None:
        """Re-render once for a burst of requests."""
        message.stop()
        self.render_now()

    @guarded("status.render")
    def render_now(self) -> None:
        """Re-render from the model and ``show_state``'s state (muted, live, session over).

        Only a row that changed is drawn (most level updates change no bar).
        """
        self.show_rows(self.build())

    def build(self) -> list[Text]:
        """The two rows of the strip."""
        model = self.model
        text = Text(no_wrap=True, overflow="ellipsis")
        live = self.live
        over = self.session_over or model.session.closed_at is not None
        if not live:
            text.append(" REPLAY ", style="bold reverse #b48ead")
        elif over:
            text.append(" ENDED ", style=f"bold reverse {DIM}")
        else:
            text.append(" LIVE ", style=f"bold reverse {GOOD}")
        text.append(" agent ", style=DIM)
        state = model.agent_state
        text.append(f"{state:<13}", style=f"bold {AGENT_STATE_STYLES.get(state, '')}")
        text.append("user ", style=DIM)
        ustate = model.user_state
        text.append(f"{ustate:<10}", style=f"bold {USER_STATE_STYLES.get(ustate, '')}")
        duration = model.session.duration
        started = model.session.started_at
        if live and not over and started is not None:
            duration = max(self.clock() - started, 0.0)
        text.append("  elapsed ", style=DIM)
        text.append(fmt_duration(duration), style="bold")
        if model.error_count:
            text.append(f"  ⚠ {model.error_count} error{'s' * (model.error_count != 1)}",
                        style=f"bold {BAD}")
        if over and model.session.close_reason:
            text.append(f"  · closed: {printable(model.session.close_reason)}", style=DIM)
            if model.session.close_error:
                text.append(f" ({printable(model.session.close_error)})", style=BAD)
        levels = model.levels
        states, text = text, Text(no_wrap=True, overflow="ellipsis")  # the second row
        text.append(" mic ", style=DIM)
        if self.mic_muted:
            text.append("MUTED   ", style=f"bold {BAD}")
        else:
            text.append_text(level_bar(levels.mic_dbfs))
        text.append(" out ", style=DIM)
        text.append_text(level_bar(levels.agent_dbfs))
        text.append(" ")
        models = model.session.models
        if not models and model.usage:  # a source that does not name them: from the usage
            models = {u.kind: f"{u.provider}/{u.model}" for u in model.usage}
        if models:
            order: list[str] = [r for r in ("stt", "llm", "tts", "vad") if r in models]
            order += [r for r in models if r not in order]
            for role in order:
                text.append(f" {role} ", style=DIM)
                # "provider/model": the model is what tells sessions apart; the usage pane and
                # the detail screen show the provider.
                label = printable(models[role])
                text.append(label.split("/", 1)[1] if "/" in label else label)
        else:
            text.append(" models: waiting for the session to start", style=DIM)
        return [states, text]
