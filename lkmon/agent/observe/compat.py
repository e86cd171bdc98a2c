"""Every private or deprecated livekit-agents access lkmon makes, each behind one named function.

Everything else in lkmon uses LiveKit's public API. Each function below says which version it
was checked on and what breaks when it goes; ``tests/test_compat.py`` has one test per access,
against the installed livekit classes, that fails with a message naming the access and the
version. ``TESTED`` is the range ``pyproject.toml`` pins; ``check_version()`` logs one warning
on any other version.

The accesses (all checked on livekit-agents 1.8.9):

==================================  ===========================================================
``on_session_metrics``              ``AgentSession`` ``metrics_collected`` (deprecated), via the
                                    base ``EventEmitter.on``: the only source of ``EOUMetrics``
``vad_stream_opener``               ``sys._getframe``: who called ``VAD.stream()``
``tap_vad_streams``                 ``VAD.stream`` replaced on the instance
``intercept_session_start``         ``AgentSession.start``, ``JobContext.wait_for_participant``
                                    replaced while a run lasts
``on_job_shutdown``                 ``JobContext._on_shutdown``
``shutdown_callbacks``              ``JobContext._shutdown_callbacks``
``server_entrypoint``               ``AgentServer._entrypoint_fnc``
``server_session_end``              ``AgentServer._session_end_fnc``
``end_segment_capture``             the base ``AudioOutput.flush`` (its private segment counter)
``reset_stt_error_count``           ``AgentSession._stt_error_counts``
``deferred_plugin_metrics``         plugin metrics' ``speech_id``, filled in place by the
                                    activity's own ``metrics_collected`` handler
``livekit_tracer_provider``         ``telemetry.traces.tracer._tracer_provider``: the tracer
                                    provider LiveKit's spans go to
==================================  ===========================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from importlib import metadata
from typing import Any

logger = logging.getLogger("lkmon.compat")

CHECKED_ON = "1.8.9"
"""The livekit-agents version every access here was checked on."""
TESTED = ">=1.8.9,<1.9"
"""The livekit-agents versions lkmon is tested with (the pin in pyproject.toml)."""

_warned: list[str] = []


def installed_version() -> str | None:
    """The installed livekit-agents version, or ``None`` when it cannot be read."""
    try:
        return metadata.version("livekit-agents")
    except metadata.PackageNotFoundError:
        return None


def version_tested(version: str | None) -> bool:
    """True when ``version`` (``"1.8.9"``) is in ``TESTED`` (>=1.8.9,<1.9)."""
    if version is None:
        return False
    parts: list[int] = []
    for piece in version.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit()) if piece else ""
        if not digits:
            break
        parts.append(int(digits))
        if digits != piece:  # 1.8.10rc1: a pre-release of a patch still counts
            break
    while len(parts) < 3:
        parts.append(0)
    return (1, 8, 9) <= tuple(parts) < (1, 9, 0)


def check_version() -> bool:
    """Log one warning (once per process) when the installed livekit-agents is not in ``TESTED``.

    Returns:
        True when the version is tested.
    """
    version = installed_version()
    ok = version_tested(version)
    if not ok and not _warned:
        _warned.append(str(version))
        logger.warning(
            "livekit-agents %s is not tested with lkmon (tested: %s); figures may be missing",
            version, TESTED,
        )
    return ok


# -- session events ----------------------------------------------------------------------------


def on_session_metrics(session: Any, handler: Callable[[Any], None]) -> Callable[[], None]:
    """Subscribe ``handler(MetricsCollectedEvent)`` to the session's ``metrics_collected``.

    Checked on 1.8.9: deprecated at session level (``AgentSession.on`` logs a warning, so this
    goes through the base ``EventEmitter.on``), and the only place ``EOUMetrics`` appear
    (``AgentActivity._user_turn_completed_impl`` emits them on the session). If it goes: no EOU
    metric, so spoken turns lose ``has_eou`` and ``eou_at`` (their delays still come from the
    user ``ChatMessage.metrics``) and the joiner falls back on its guesses.

    Returns:
        A function that unsubscribes.
    """
    from livekit.agents import utils

    utils.EventEmitter.on(session, "metrics_collected", handler)
    return lambda: session.off("metrics_collected", handler)


def deferred_plugin_metrics(
    handler: Callable[[Any], None],
) -> Callable[[Any], None]:
    """A plugin ``metrics_collected`` handler that calls ``handler(metrics)`` one loop tick later.

    Checked on 1.8.9: an ``LLMMetrics`` / ``TTSMetrics`` leaves the plugin with
    ``speech_id=None``; the activity's own handler on the same plugin
    (``AgentActivity._on_metrics_collected``) writes the speech's id into the object. lkmon's
    handler may run before it (handlers run in subscription order and the activity subscribes
    again at each handoff), so it reads the metric after the emit has finished. If it goes:
    LLM and TTS metrics have no ``speech_id`` and join the active turn by the joiner's fallback
    (a discarded preemptive reply's TTFT is then joined to the wrong turn).
    """

    def on_metrics(metrics: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # emitted from a thread with no loop: read it now
            handler(metrics)
            return
        loop.call_soon(handler, metrics)

    return on_metrics


# -- VAD streams -------------------------------------------------------------------------------

STT_ADAPTER_MODULE = "livekit.agents.stt"
"""Module prefix of ``stt.StreamAdapter``, which opens its own stream on the session's VAD."""


def vad_stream_opener(depth: int = 2) -> str:
    """The ``__name__`` of the module that called ``VAD.stream()``, ``depth`` frames up.

    Checked on 1.8.9: ``stt.StreamAdapterWrapper._run`` (module ``livekit.agents.stt.
    stream_adapter``) opens a second stream on the session's VAD for a non-streaming STT; the
    voice pipeline's stream is opened in ``livekit.agents.voice.audio_recognition``. There is
    no public way to tell them apart. If it goes: the VAD pane counts every event twice for a
    non-streaming STT (or not at all if the frame layout changes; the test says which).
    """
    try:
        frame = sys._getframe(depth)
    except ValueError:
        return ""
    return str(frame.f_globals.get("__name__", ""))


def tap_vad_streams(vad: Any, wrap: Callable[[Any], Any]) -> None:
    """Replace ``vad.stream`` on the instance: the voice pipeline's stream becomes
    ``wrap(stream)``; the stream ``stt.StreamAdapter`` opens is left as it is.

    Checked on 1.8.9: ``VAD.stream()`` takes no arguments and VAD instances have a
    ``__dict__``; VAD events (probability, inference time) are only visible on the stream.
    If it goes: no VAD pane (``VadActivity`` events). Undo with ``untap_vad_streams``.
    """
    original = vad.stream

    @functools.wraps(original)
    def stream(*args: Any, **kwargs: Any) -> Any:
        inner = original(*args, **kwargs)
        if vad_stream_opener().startswith(STT_ADAPTER_MODULE):
            return inner
        return wrap(inner)

    vad.stream = stream


def untap_vad_streams(vad: Any) -> None:
    """Undo ``tap_vad_streams`` (the class's ``stream`` shows through again)."""
    vad.__dict__.pop("stream", None)


# -- running a job in-process ------------------------------------------------------------------

StartFn = Callable[..., Awaitable[Any]]


@contextlib.contextmanager
def intercept_session_start(
    make_start: Callable[[StartFn], StartFn],
    wait_for_participant: Callable[..., Awaitable[Any]],
) -> Iterator[None]:
    """While active, ``AgentSession.start`` is ``make_start(original_start)`` and
    ``JobContext.wait_for_participant`` is ``wait_for_participant``; both are restored after.

    Checked on 1.8.9: ``AgentSession.start(self, agent, *, room=..., room_options=...,
    room_input_options=..., room_output_options=..., record=...)`` and
    ``JobContext.wait_for_participant(self, *, identity=None, kind=...)`` are coroutine
    functions on the classes. A user's unchanged agent file calls ``session.start(room=
    ctx.room)``: there is no public hook to give its session lkmon's audio instead. If it goes:
    ``lkmon run`` cannot take over the session (the start timeout's error says so).
    """
    from livekit.agents import AgentSession, JobContext

    original = AgentSession.start
    original_wait = JobContext.wait_for_participant
    # The ignores: these are the patches this function exists for (checked on 1.8.9, above);
    # mypy rejects assigning to a method, and the wrappers' signatures are the loose StartFn.
    patched = functools.wraps(original)(make_start(original))
    AgentSession.start = patched  # type: ignore[method-assign,assignment]  # the patch
    JobContext.wait_for_participant = wait_for_participant  # type: ignore[method-assign,assignment]  # patch
    try:
        yield
    finally:
        AgentSession.start = original  # type: ignore[method-assign]  # restores the original
        JobContext.wait_for_participant = original_wait  # type: ignore[method-assign]  # restores


def on_job_shutdown(ctx: Any, fn: Callable[[str], None]) -> None:
    """Make ``ctx.shutdown(reason)`` call ``fn(reason)`` (a worker would end the job).

    Checked on 1.8.9: ``JobContext.shutdown`` calls ``self._on_shutdown(reason)``; the fake job
    context's is a no-op. If it goes: an agent that calls ``ctx.shutdown()`` no longer ends the
    lkmon run (it ends when the caller finishes or on quit).
    """
    ctx._on_shutdown = fn


def shutdown_callbacks(ctx: Any) -> list[Callable[[str], Awaitable[None]]]:
    """The callbacks the agent registered with ``ctx.add_shutdown_callback``, each taking the
    reason.

    Checked on 1.8.9: ``JobContext._shutdown_callbacks`` (``add_shutdown_callback`` wraps a
    callback without arguments). No public way to run them outside a worker. If it goes: the
    agent's shutdown callbacks are not run at the end of a run.
    """
    return list(getattr(ctx, "_shutdown_callbacks", None) or [])


def server_entrypoint(server: Any) -> Callable[[Any], Awaitable[None]] | None:
    """The ``@server.rtc_session()`` entrypoint of an ``AgentServer``, or ``None``.

    Checked on 1.8.9: ``AgentServer._entrypoint_fnc`` (no public accessor). If it goes: an
    agent file with an ``AgentServer`` is refused as "not a LiveKit agent file".
    """
    return getattr(server, "_entrypoint_fnc", None)


def server_session_end(server: Any) -> Callable[[Any], Awaitable[None]] | None:
    """The ``on_session_end`` callback given to ``@server.rtc_session(...)``, or ``None``.

    Checked on 1.8.9: ``AgentServer._session_end_fnc`` (no public accessor). If it goes: the
    agent's ``on_session_end`` is not run at the end of a run.
    """
    return getattr(server, "_session_end_fnc", None)


# -- audio output and errors -------------------------------------------------------------------


def end_segment_capture(output: Any) -> None:
    """Close the playback segment ``output`` is capturing without flushing its audio.

    Checked on 1.8.9: the base ``voice.io.AudioOutput.capture_frame`` counts a segment at the
    first frame after a ``flush`` (private ``__capturing``, ``__playback_segments_count``) and
    only the base ``flush`` resets it. A sink cleared in mid-segment must call the base
    ``flush`` itself, or the next reply's frames are counted into the cleared segment and
    ``wait_for_playout`` returns early. If it goes: after an interruption the next reply's
    playout is not waited for (its ``playback_finished`` is reported as extra).
    """
    from livekit.agents.voice import io

    io.AudioOutput.flush(output)


def reset_stt_error_count(session: Any) -> bool:
    """Reset LiveKit's count of consecutive unrecoverable STT errors, as it does when the STT
    recovers. Returns False when the session has no such count.

    Checked on 1.8.9: ``AgentSession._stt_error_counts``, compared with
    ``conn_options.max_unrecoverable_errors`` in ``AgentSession._on_error``, which closes the
    session. lkmon resets it with ``--input text`` (no audio reaches the STT, so its errors are
    not the session's). If it goes: with ``--input text`` a failing cloud STT closes the session
    after a few errors.
    """
    if not hasattr(session, "_stt_error_counts"):
        return False
    session._stt_error_counts = 0
    return True


# -- telemetry ---------------------------------------------------------------------------------


def livekit_tracer_provider() -> Any:
    """The OpenTelemetry tracer provider LiveKit's own tracer uses now.

    Checked on 1.8.9: ``livekit.agents.telemetry.traces.tracer`` is a ``_DynamicTracer`` whose
    private ``_tracer_provider`` is the global provider at import time (a
    ``ProxyTracerProvider`` when none was set) or the one last given to the public
    ``set_tracer_provider``, which has no getter. If it goes: lkmon cannot tell whether a user
    gave LiveKit a provider, so it adds its span processor to the global one or installs its
    own (replacing a provider the agent file gave LiveKit before the session started).
    """
    from livekit.agents.telemetry import traces

    return getattr(traces.tracer, "_tracer_provider", None)
