"""Fault injection for the local plugins, for tests and demos. Off unless configured.

A fault fires at the Nth call of one plugin (``kind@N``), at calls N to M (``kind@N-M``), or at
every call (``kind``). Calls are counted per plugin ("stt", "llm", "tts") from the moment the
faults are configured; a retry that LiveKit makes is a new call, so ``llm_raise@1-4`` makes the
first reply fail for good (LiveKit's default ``APIConnectOptions`` allow 3 retries) while
``llm_raise@1`` is recovered by the first retry. Faults:

=============  ==========================================================================
``stt_raise``  ``WhisperSTT`` raises ``APIConnectionError`` before transcribing.
``llm_raise``  ``SmolLLM`` streams a few tokens, then raises ``APIStatusError`` (HTTP 500).
``llm_stall``  ``SmolLLM`` produces no token; the stream's own timeout
               (``APIConnectOptions.timeout``) raises ``APITimeoutError``.
``tts_raise``  ``PiperTTS`` raises ``APIStatusError`` (HTTP 503) before synthesising.
``tts_silent`` ``PiperTTS`` returns no audio; LiveKit's ``ChunkedStream`` then raises its own
               ``APIError("no audio frames were pushed ...")``.
=============  ==========================================================================

The errors are LiveKit's own types (``livekit.agents.APIConnectionError`` and friends), all
retryable, so LiveKit's retries, fallback adapters and the session's ``error`` event behave as
they do with a real provider.

Configure with the environment variable ``LKMON_FAULTS`` (e.g. ``llm_raise@2,tts_silent@3``) or
from Python with :func:`set_faults` / :func:`injected`. The Python setting wins over the variable.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from livekit.agents import APIConnectionError, APIError, APIStatusError

ENV_VAR = "LKMON_FAULTS"
"""Environment variable read for a fault spec, e.g. ``"llm_raise@2,tts_silent@3"``."""

FAULT_KINDS: dict[str, str] = {
    "stt_raise": "stt",
    "llm_raise": "llm",
    "llm_stall": "llm",
    "tts_raise": "tts",
    "tts_silent": "tts",
}
"""Fault kind -> the plugin it hits."""

LLM_RAISE_AFTER_TOKENS = 3
"""``llm_raise`` streams this many tokens before it raises (the fault is mid-stream)."""

LLM_STALL_MAX_SECONDS = 120.0
"""``llm_stall`` waits until the stream gives up on it (its timeout), or at most this long."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One configured fault.

    Attributes:
        kind: a key of :data:`FAULT_KINDS`.
        at: the 1-based call number of the plugin that fails, or ``None`` for every call.
        last: with ``at``, the last call that fails (``kind@N-M``); ``None`` for ``at`` alone.
    """

    kind: str
    at: int | None = None
    last: int | None = None

    @property
    def plugin(self) -> str:
        """The plugin it hits: ``"stt"``, ``"llm"`` or ``"tts"``."""
        return FAULT_KINDS[self.kind]

    def hits(self, call: int) -> bool:
        """True when the plugin's 1-based call number ``call`` fails."""
        if self.at is None:
            return True
        return self.at <= call <= (self.last if self.last is not None else self.at)

    def __str__(self) -> str:
        if self.at is None:
            return self.kind
        return f"{self.kind}@{self.at}" + (f"-{self.last}" if self.last is not None else "")


@dataclass(frozen=True, slots=True)
class FaultHit:
    """A fault firing on one plugin call.

    Attributes:
        kind: the fault kind.
        call: the plugin's 1-based call number that it hit.
    """

    kind: str
    call: int


def parse_faults(spec: str) -> list[Fault]:
    """Parse ``"kind[@N[-M]],kind[@N[-M]],..."``; an empty spec means no faults.

    Raises:
        ValueError: an unknown kind or a bad call number or range (one-line message).
    """
    faults = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        kind, sep, at_text = part.partition("@")
        kind = kind.strip()
        if kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault {kind!r} in {spec!r}; choose from {', '.join(FAULT_KINDS)}"
            )
        at: int | None = None
        last: int | None = None
        if sep:
            first_text, dash, last_text = at_text.partition("-")
            try:
                at = int(first_text)
                last = int(last_text) if dash else None
            except ValueError:
                at = 0
            if at < 1 or (last is not None and last < at):
                raise ValueError(
                    f"bad call number in fault {part!r}: use kind@N or kind@N-M with 1 <= N <= M"
                )
        faults.append(Fault(kind, at, last))
    return faults


class FaultInjector:
    """Counts plugin calls and says which fault, if any, fires on each. Thread-safe."""

    def __init__(self, faults: list[Fault]) -> None:
        self.faults = list(faults)
        self._calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, plugin: str) -> FaultHit | None:
        """Count one call of ``plugin`` and return the fault that fires on it, if any."""
        with self._lock:
            n = self._calls.get(plugin, 0) + 1
            self._calls[plugin] = n
        for fault in self.faults:
            if fault.plugin == plugin and fault.hits(n):
                return FaultHit(fault.kind, n)
        return None

    def calls(self, plugin: str) -> int:
        """Calls of ``plugin`` counted so far."""
        with self._lock:
            return self._calls.get(plugin, 0)


_lock = threading.Lock()
_api: FaultInjector | None = None
_env: tuple[str, FaultInjector] | None = None


def set_faults(spec: str | list[Fault] | None) -> FaultInjector | None:
    """Configure faults from Python, overriding ``LKMON_FAULTS``; counters start at zero.

    Args:
        spec: a spec string, a list of :class:`Fault`, ``""``/``[]`` for no faults (the
            variable is then ignored), or ``None`` to go back to the variable.

    Raises:
        ValueError: a bad spec string.
    """
    global _api
    faults = parse_faults(spec) if isinstance(spec, str) else spec
    with _lock:
        _api = None if faults is None else FaultInjector(faults)
        return _api


def clear_faults() -> None:
    """Turn every fault off, whatever ``LKMON_FAULTS`` says."""
    set_faults([])


def current() -> FaultInjector | None:
    """The active injector: the Python setting, else one built from ``LKMON_FAULTS``.

    The variable is read on every call; when its value changes, counting starts again.

    Raises:
        ValueError: ``LKMON_FAULTS`` holds a bad spec.
    """
    global _env
    with _lock:
        if _api is not None:
            return _api
        spec = os.environ.get(ENV_VAR, "").strip()
        if not spec:
            _env = None
            return None
        if _env is None or _env[0] != spec:
            _env = (spec, FaultInjector(parse_faults(spec)))
        return _env[1]


def take(plugin: str) -> FaultHit | None:
    """Count one call of ``plugin`` (``"stt"``, ``"llm"``, ``"tts"``); return the fault it hits."""
    injector = current()
    return injector.take(plugin) if injector is not None else None


@contextlib.contextmanager
def injected(spec: str | list[Fault]) -> Iterator[FaultInjector]:
    """Context manager: faults on inside the block, the previous setting restored after."""
    global _api
    with _lock:
        previous = _api
    injector = set_faults(spec)
    assert injector is not None
    try:
        yield injector
    finally:
        with _lock:
            _api = previous


def fault_error(hit: FaultHit) -> APIError:
    """The LiveKit error a raising fault raises (retryable, as a provider's would be)."""
    what = f"injected fault {hit.kind} at {FAULT_KINDS[hit.kind]} call {hit.call}"
    if hit.kind == "stt_raise":
        return APIConnectionError(f"{what}: speech recognizer unreachable")
    if hit.kind == "llm_raise":
        return APIStatusError(f"{what}: stream broke mid-reply", status_code=500)
    if hit.kind == "tts_raise":
        return APIStatusError(f"{what}: synthesizer unavailable", status_code=503)
    raise ValueError(f"fault {hit.kind!r} does not raise by itself")
