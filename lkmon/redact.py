"""The one redaction module: secrets out of everything lkmon writes or shows, and ``--redact``.

Two kinds of redaction, each with one placeholder everywhere (screen, journal, snapshot, HTML,
SVG, headless output):

- **Secrets** are always hidden. A secret is the value of ``LIVEKIT_API_KEY``,
  ``LIVEKIT_API_SECRET``, any variable whose name ends in ``_API_KEY``, ``_KEY``, ``_SECRET``,
  ``_TOKEN`` or ``_PASSWORD``, and every value read from a ``.env`` file. Each occurrence becomes
  ``SECRET_PLACEHOLDER`` (``[REDACTED]``), whatever its length, so nothing of the secret is told.
- **Text** (user and agent text, the transcript, tool arguments and outputs) is hidden only with
  ``--redact``, for sharing a session: every non-space character becomes ``TEXT_PLACEHOLDER``
  (``█``, U+2588), so lengths, words and timings stay readable (``"Hi there!"`` -> ``"██ ██████"``).

``shown(text, mask=...)`` does both, in that order: what every view calls for a piece of text.
No textual or livekit import here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, overload

from dotenv import dotenv_values

SECRET_NAME = re.compile(r"(^LIVEKIT_API_(KEY|SECRET)$|_(API_KEY|KEY|SECRET|TOKEN|PASSWORD)$)")
SECRET_PLACEHOLDER = "[REDACTED]"
"""What a secret value is replaced by, everywhere."""
PLACEHOLDER = SECRET_PLACEHOLDER  # the name before 0.2
TEXT_PLACEHOLDER = "\u2588"
"""What each non-space character of redacted text (``--redact``) becomes, everywhere: "█"."""
_VISIBLE = re.compile(r"\S")
_MIN_LEN = 4  # shorter values ("1", "on") would redact ordinary text


class Redactor:
    """Replaces known secret values in text with ``[REDACTED]``.

    Args:
        secrets: the secret values to hide; values shorter than 4 characters are ignored.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Add secret values to hide."""
        self._secrets.update(s for s in secrets if s and len(s) >= _MIN_LEN)
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    @property
    def active(self) -> bool:
        """True when there is at least one secret to hide."""
        return self._pattern is not None

    def redact(self, text: str) -> str:
        """Return ``text`` with every secret value replaced by ``[REDACTED]``."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(SECRET_PLACEHOLDER, text)

    def shown(self, text: str, *, mask: bool) -> str:
        """``text`` as lkmon shows or writes it: secrets replaced, then, with ``mask``
        (``--redact``), every visible character replaced by ``TEXT_PLACEHOLDER``."""
        text = self.redact(text)
        return _VISIBLE.sub(TEXT_PLACEHOLDER, text) if mask else text

    def redact_obj(self, obj: Any) -> Any:
        """Return a copy of a JSON-like object (dict/list/str/number) with secrets redacted."""
        if self._pattern is None:
            return obj
        if isinstance(obj, str):
            return self.redact(obj)
        if isinstance(obj, Mapping):
            return {self.redact(str(k)): self.redact_obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.redact_obj(v) for v in obj]
        return obj


def secret_values(environ: Mapping[str, str] | None = None, dotenv: Path | None = None) -> set[str]:
    """Collect secret values from the environment and, if it exists, a ``.env`` file.

    Args:
        environ: variables to scan; defaults to ``os.environ``.
        dotenv: path of a ``.env`` file whose every value is a secret; ``None`` to skip.
    """
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if SECRET_NAME.search(k.upper())}
    if dotenv is not None and dotenv.is_file():
        values.update(v for v in dotenv_values(dotenv).values() if v)
    return values


_default = Redactor()


def default_redactor() -> Redactor:
    """The process-wide redactor that lkmon's writers use. ``install_from_env`` fills it."""
    return _default


def install_from_env(dotenv: Path | None = None) -> Redactor:
    """Add the current environment's and ``dotenv``'s secrets to the process-wide redactor."""
    _default.add(secret_values(dotenv=dotenv))
    return _default


def redact(text: str) -> str:
    """Redact ``text`` with the process-wide redactor."""
    return _default.redact(text)


@overload
def placeholder(text: str) -> str: ...
@overload
def placeholder(text: None) -> None: ...
def placeholder(text: str | None) -> str | None:
    """``text`` with every non-space character replaced by ``TEXT_PLACEHOLDER`` ("█"): same
    length, same words; ``None`` stays ``None``."""
    if text is None:
        return None
    return _VISIBLE.sub(TEXT_PLACEHOLDER, text)


def shown(text: str, *, mask: bool) -> str:
    """``text`` as lkmon shows or writes it (``Redactor.shown`` with the process-wide one)."""
    return _default.shown(text, mask=mask)
