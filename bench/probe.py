"""Event-loop lag probe: how late a task that sleeps 10 ms wakes up, plus process CPU and GC.

The agent, its plugins and (with the TUI) Textual all share one asyncio loop. Anything that holds
the loop (a slow callback, a long render, a full garbage collection) delays every other callback
on it, including LiveKit's audio pumps. ``LoopLagProbe`` measures that delay the standard way: a
task sleeps ``interval`` seconds (10 ms) again and again and records how much later than asked it
woke up (``loop.time()``, monotonic). It also samples the process CPU time
(``time.process_time()``: all threads) every ``cpu_every`` seconds, so that the CPU spent during
any window of the run can be read afterwards. ``GcWatch`` records every garbage collection with
its generation and pause.

Pure asyncio and the standard library: no textual, no livekit. lkmon's benchmarks
(``bench/overhead.py``) attach it to the loop of a ``lkmon run`` process from the outside with
``probe_new_loops()``, so that neither the runner nor the app needs a hook.

Example::

    probe = LoopLagProbe()
    probe.start()                 # inside a running loop
    ...
    stats = probe.stats()         # LagStats(count, p50_ms, p99_ms, max_ms)
    probe.stop()
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

INTERVAL = 0.010
"""Seconds the probe task sleeps between wake-ups (10 ms)."""
CPU_EVERY = 0.1
"""Seconds between process-CPU samples."""


@dataclass(frozen=True)
class LagStats:
    """Loop-lag statistics over a window.

    Attributes:
        count: wake-ups in the window.
        p50_ms: median lateness, milliseconds.
        p99_ms: 99th percentile lateness, milliseconds (``statistics.quantiles``, inclusive).
        max_ms: largest lateness, milliseconds.
    """

    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    def to_dict(self) -> dict[str, float]:
        """The fields as a dict (JSON-ready)."""
        return asdict(self)


def lag_stats(lags_s: list[float]) -> LagStats:
    """Statistics of lateness values given in seconds.

    Raises:
        ValueError: fewer than two values.
    """
    if len(lags_s) < 2:
        raise ValueError(f"need at least 2 wake-ups, got {len(lags_s)}")
    ms = [v * 1000.0 for v in lags_s]
    p99 = statistics.quantiles(ms, n=100, method="inclusive")[98]
    return LagStats(count=len(ms), p50_ms=statistics.median(ms), p99_ms=p99, max_ms=max(ms))


class LoopLagProbe:
    """A task that sleeps ``interval`` seconds and records how late it wakes.

    Args:
        interval: seconds to sleep each time (default 10 ms).
        cpu_every: seconds between process-CPU samples (``time.process_time``).

    Attributes:
        lags: ``(epoch seconds at wake-up, lateness in seconds)`` per wake-up; lateness is the
            time slept beyond ``interval`` (``loop.time()``), never below 0.
        cpu: ``(epoch seconds, process CPU seconds)`` samples, all threads of the process.
        thread: name of the thread whose loop the probe runs on.
        created: epoch seconds when the probe started.
    """

    def __init__(self, interval: float = INTERVAL, cpu_every: float = CPU_EVERY) -> None:
        self.interval = interval
        self.cpu_every = cpu_every
        self.lags: list[tuple[float, float]] = []
        self.cpu: list[tuple[float, float]] = []
        self.thread = ""
        self.created = time.time()
        self._task: asyncio.Task[None] | None = None

    def start(self, loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Task[None]:
        """Start the probe task on ``loop`` (default: the running loop).

        Raises:
            RuntimeError: no loop given and none is running.
        """
        loop = loop or asyncio.get_running_loop()
        self.thread = threading.current_thread().name
        self.created = time.time()
        self._task = loop.create_task(self._run(), name="bench.probe")
        return self._task

    def stop(self) -> None:
        """Cancel the probe task (samples are kept)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.interval
        lags = self.lags
        cpu = self.cpu
        wall = time.time
        cpu_time = time.process_time
        cpu.append((wall(), cpu_time()))
        next_cpu = loop.time() + self.cpu_every
        try:
            while True:
                t0 = loop.time()
                await asyncio.sleep(interval)
                now = loop.time()
                lags.append((wall(), max(0.0, now - t0 - interval)))
                if now >= next_cpu:
                    cpu.append((wall(), cpu_time()))
                    next_cpu = now + self.cpu_every
        except asyncio.CancelledError:
            cpu.append((wall(), cpu_time()))
            raise

    def lags_between(self, since: float | None = None, until: float | None = None) -> list[float]:
        """Lateness values (seconds) of wake-ups between two epoch times (inclusive)."""
        lo = float("-inf") if since is None else since
        hi = float("inf") if until is None else until
        return [lag for ts, lag in self.lags if lo <= ts <= hi]

    def stats(self, since: float | None = None, until: float | None = None) -> LagStats:
        """Lag statistics of the wake-ups between two epoch times (default: all).

        Raises:
            ValueError: fewer than two wake-ups in the window.
        """
        return lag_stats(self.lags_between(since, until))

    def cpu_between(self, since: float, until: float) -> float:
        """Process CPU seconds spent between two epoch times (linear between samples).

        Raises:
            ValueError: fewer than two CPU samples.
        """
        return cpu_between(self.cpu, since, until)

    def to_dict(self) -> dict[str, Any]:
        """Every sample, JSON-ready: ``thread``, ``created``, ``interval``, ``lags``, ``cpu``."""
        return {
            "thread": self.thread,
            "created": self.created,
            "interval": self.interval,
            "lags": self.lags,
            "cpu": self.cpu,
        }


def cpu_between(samples: list[tuple[float, float]] | list[list[float]], since: float,
                until: float) -> float:
    """CPU seconds between two epoch times from ``(epoch s, CPU s)`` samples.

    Values between samples are interpolated linearly; times outside the samples are clamped to
    the first or last sample.

    Raises:
        ValueError: fewer than two samples.
    """
    if len(samples) < 2:
        raise ValueError("need at least 2 CPU samples")
    return _interp(samples, until) - _interp(samples, since)


def _interp(samples: list[tuple[float, float]] | list[list[float]], t: float) -> float:
    if t <= samples[0][0]:
        return float(samples[0][1])
    if t >= samples[-1][0]:
        return float(samples[-1][1])
    lo, hi = 0, len(samples) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if samples[mid][0] <= t:
            lo = mid
        else:
            hi = mid
    (t0, c0), (t1, c1) = samples[lo], samples[hi]
    if t1 == t0:
        return float(c1)
    return float(c0 + (c1 - c0) * (t - t0) / (t1 - t0))


class GcWatch:
    """Records every garbage collection: ``(epoch s at start, generation, pause s)``.

    Uses ``gc.callbacks``; ``install()`` and ``uninstall()`` add and remove the callback.
    """

    def __init__(self) -> None:
        self.collections: list[tuple[float, int, float]] = []
        self._started: float | None = None

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            pause = time.perf_counter() - self._started
            self.collections.append((time.time() - pause, info.get("generation", -1), pause))
            self._started = None

    def install(self) -> GcWatch:
        """Start recording; returns self."""
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)
        return self

    def uninstall(self) -> None:
        """Stop recording."""
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)


class _ProbingPolicy(asyncio.DefaultEventLoopPolicy):
    """The default policy, plus a callback for every new event loop."""

    def __init__(self, on_new_loop: Callable[[asyncio.AbstractEventLoop], None]) -> None:
        super().__init__()
        self._on_new_loop = on_new_loop

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        self._on_new_loop(loop)
        return loop


@contextmanager
def probe_new_loops(
    interval: float = INTERVAL, cpu_every: float = CPU_EVERY
) -> Iterator[list[LoopLagProbe]]:
    """Attach a ``LoopLagProbe`` to every asyncio loop created inside the ``with`` block.

    ``asyncio.run``, Textual's ``App.run`` and ``asyncio.new_event_loop`` all create their loop
    through the event-loop policy; a policy that wraps the default one schedules a probe on each
    new loop, which starts as soon as the loop runs. Code under test needs no change.

    Yields:
        the list of probes, one per loop, in creation order (filled as loops are created).
    """
    probes: list[LoopLagProbe] = []

    def on_new_loop(loop: asyncio.AbstractEventLoop) -> None:
        probe = LoopLagProbe(interval, cpu_every)
        probes.append(probe)
        loop.call_soon(probe.start, loop)

    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(_ProbingPolicy(on_new_loop))
    try:
        yield probes
    finally:
        asyncio.set_event_loop_policy(previous)
