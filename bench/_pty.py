"""A process in a pseudo-terminal, its output drained by a thread, for benchmarks.

A TUI that writes to a terminal nobody reads blocks as soon as the pty buffer is full, and that
would show up as loop lag. ``Terminal`` spawns the process in a pty of a given size
(``ptyprocess``), reads everything it writes on a dedicated thread as soon as it arrives (as a
terminal emulator would), time-stamps each chunk, and keeps a text copy with the escape sequences
removed so that tests can wait for what is on screen. Its CPU time is read from
``resource.getrusage(RUSAGE_CHILDREN)`` around ``wait()``.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ptyprocess import PtyProcess

ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|.)")
"""CSI, OSC, DCS and two-byte escape sequences."""


class Terminal:
    """A process running in a pty; its output is drained and time-stamped on a thread.

    Args:
        argv: the command.
        cwd: working directory.
        env: extra environment variables (added to ``os.environ``; ``TERM`` is
            ``xterm-256color`` unless given).
        size: ``(columns, rows)``.

    Attributes:
        started: epoch seconds just before the process was spawned.
        chunks: ``(epoch seconds, bytes)`` read from the terminal, in order.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        size: tuple[int, int] = (120, 40),
    ) -> None:
        full_env = dict(os.environ)
        full_env.setdefault("TERM", "xterm-256color")
        full_env.update(env or {})
        full_env["COLUMNS"], full_env["LINES"] = str(size[0]), str(size[1])
        self._rusage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.started = time.time()
        self.proc = PtyProcess.spawn(
            list(argv), cwd=str(cwd) if cwd else None, env=full_env,
            dimensions=(size[1], size[0]), echo=False,
        )
        self.chunks: list[tuple[float, bytes]] = []
        self._text: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        self.exit_status: int | None = None
        self.cpu_seconds: float | None = None
        """User + system CPU seconds of the process and its children (after ``wait``)."""
        self._reader = threading.Thread(target=self._read, name="pty-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        """The process id."""
        return int(self.proc.pid)

    def _read(self) -> None:
        while True:
            try:
                data = self.proc.read(65536)
            except EOFError:
                break
            except OSError:
                break
            now = time.time()
            with self._cond:
                self.chunks.append((now, data))
                self._text.append(ANSI.sub("", data.decode("utf-8", "replace")))
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def text(self) -> str:
        """Everything written so far, escape sequences removed."""
        with self._cond:
            return "".join(self._text)

    def first_output_at(self, predicate: Callable[[str], bool]) -> float | None:
        """Epoch seconds of the first chunk after which ``predicate(text so far)`` holds."""
        acc = ""
        with self._cond:
            chunks = list(self.chunks)
        for ts, data in chunks:
            acc += ANSI.sub("", data.decode("utf-8", "replace"))
            if predicate(acc):
                return ts
        return None

    def wait_for(self, predicate: Callable[[str], bool], timeout: float) -> bool:
        """Wait until ``predicate(text so far)`` holds; False on timeout or end of output."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if predicate("".join(self._text)):
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    return False
                self._cond.wait(min(left, 0.5))

    def count(self, pattern: str) -> int:
        """How many times ``pattern`` (a regular expression) occurs in the text so far."""
        return len(re.findall(pattern, self.text()))

    def send(self, data: str) -> None:
        """Type ``data`` into the terminal."""
        self.proc.write(data.encode())

    def signal(self, sig: int = signal.SIGTERM) -> None:
        """Send a signal to the process (if it is still running)."""
        if self.proc.isalive():
            self.proc.kill(sig)

    def wait(self, timeout: float) -> int:
        """Wait for the process to end (SIGKILL after ``timeout`` seconds).

        Returns:
            the exit status (negative: killed by that signal).
        """
        deadline = time.monotonic() + timeout
        while self.proc.isalive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.proc.isalive():
            self.proc.kill(signal.SIGKILL)
            self.proc.wait()
        self._reader.join(timeout=5)
        status = self.proc.exitstatus
        if status is None and self.proc.signalstatus is not None:
            status = -int(self.proc.signalstatus)
        self.exit_status = status
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu_seconds = (ru.ru_utime - self._rusage0.ru_utime) + (
            ru.ru_stime - self._rusage0.ru_stime
        )
        try:
            self.proc.close(force=True)
        except OSError:
            pass
        return -1 if status is None else status
