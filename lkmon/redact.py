"""The one redaction module: secrets out of everything lkmon writes or shows, and ``--redact``.

Two kinds of redaction, each with one placeholder everywhere (screen, journal, snapshot, HTML,
SVG, headless output):

- **Secrets** are always hidden. A secret is the value (4 characters or more) of
  ``LIVEKIT_API_KEY``, ``LIVEKIT_API_SECRET`` or any variable whose name ends in ``_API_KEY``,
  ``_KEY``, ``_SECRET``, ``_TOKEN`` or ``_PASSWORD`` (in the environment or a ``.env`` file), and
  any other value read from a ``.env`` file that could be a credential: 8 characters or more and
  not a plain word or number (``looks_secret``: ``POSTGRES_USER=user``, ``LOG_LEVEL=INFO``,
  ``DEBUG=true``, ``HOST=localhost``, ``PORT=8080`` are settings, not secrets). Each occurrence
  becomes ``SECRET_PLACEHOLDER`` (``[REDACTED]``), whatever its length, so nothing of the secret
  is told. Where (``Redactor.redact_obj``): such ``.env`` values only inside **free text**
  (``FREE_TEXT_KEYS``: transcripts, log and error messages, tool arguments and outputs);
  values named like a secret in every other string too (a model label, a file name); neither
  ever in keys, ids or fixed vocabularies (``KEPT_KEYS``: event types, log levels, states, close
  reasons), so what lkmon writes it can always read back.
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
MIN_SECRET_LEN = 4
"""The shortest value of a variable named like a secret that is hidden (``"1"``, ``"on"`` are
ordinary text)."""
MIN_DOTENV_LEN = 8
"""The shortest value of any other ``.env`` variable that is hidden (``looks_secret``)."""
_PLAIN = re.compile(r"[A-Za-z]+|[-+]?[0-9][0-9_.,:]*")
FREE_TEXT_KEYS = frozenset({
    "text", "message", "arguments", "output", "error",  # events (journal lines, snapshot events)
    "user_text", "agent_text", "unheard_text", "close_error",  # snapshot turns and session
})
"""The JSON keys whose string values (at any depth) are free text: where ``Redactor.redact_obj``
replaces every secret, ``.env`` settings included."""
KEPT_KEYS = frozenset({
    "type", "level", "role", "kind", "reason", "close_reason", "agent_state", "user_state",
    "old_state", "new_state", "session_id", "speech_id", "item_id", "item_ids", "request_id",
    "call_id", "lkmon_version",
})
"""The JSON keys whose values ``Redactor.redact_obj`` never touches: ids and fixed vocabularies
(event type, log level, role, states, close reason) that lkmon reads back as such."""


def looks_secret(value: str) -> bool:
    """True when a ``.env`` value not named like a secret could be a credential: at least
    ``MIN_DOTENV_LEN`` (8) characters and not a plain word or number (letters only, or digits
    with separators). ``"user"``, ``"INFO"``, ``"true"``, ``"localhost"``, ``"8080"`` are not;
    ``"dotenv-7f3a91"``, ``"hunter22x"``, ``"postgres://u:p@db/x"`` are."""
    value = value.strip()
    return len(value) >= MIN_DOTENV_LEN and _PLAIN.fullmatch(value) is None


class Redactor:
    """Replaces known secret values in text with ``[REDACTED]``.

    Two kinds of values: **credentials** (named like a secret, or given to ``add``) are hidden in
    every string value but keys and ``KEPT_KEYS``' (ids and fixed vocabularies); **settings**
    (other ``.env`` values that ``looks_secret``, ``add(..., anywhere=False)``) only in free
    text (``FREE_TEXT_KEYS``).

    Args:
        secrets: credentials to hide; values shorter than ``MIN_SECRET_LEN`` (4) characters are
            ignored.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._anywhere: set[str] = set()
        self._free_only: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._strong: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str], *, anywhere: bool = True) -> None:
        """Add secret values to hide: credentials (``anywhere``), or ``.env`` settings hidden in
        free text only (``anywhere=False``)."""
        fresh = {s for s in secrets if s and len(s) >= MIN_SECRET_LEN}
        (self._anywhere if anywhere else self._free_only).update(fresh)
        self._free_only -= self._anywhere
        self._pattern = _alternation(self._anywhere | self._free_only)
        self._strong = _alternation(self._anywhere)

    @property
    def active(self) -> bool:
        """True when there is at least one secret to hide."""
        return self._pattern is not None

    @property
    def values(self) -> frozenset[str]:
        """Every value hidden in free text (credentials and ``.env`` settings)."""
        return frozenset(self._anywhere | self._free_only)

    def redact(self, text: str) -> str:
        """Return free ``text`` with every secret value replaced by ``[REDACTED]``."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(SECRET_PLACEHOLDER, text)

    def shown(self, text: str, *, mask: bool) -> str:
        """``text`` as lkmon shows or writes it: secrets replaced, then, with ``mask``
        (``--redact``), every visible character replaced by ``TEXT_PLACEHOLDER``."""
        text = self.redact(text)
        return _VISIBLE.sub(TEXT_PLACEHOLDER, text) if mask else text

    def redact_obj(self, obj: Any) -> Any:
        """A copy of a JSON-like object (dict/list/str/number) with secrets redacted: every
        secret in free text (string values under a ``FREE_TEXT_KEYS`` key, at any depth; a
        bare string), credentials in other values too; keys and the values of ``KEPT_KEYS``
        (ids, levels, states, close reasons, roles: what lkmon reads back as such) never."""
        if self._pattern is None:
            return obj
        return self._walk(obj, _FREE if isinstance(obj, str) else _OTHER)

    def _walk(self, obj: Any, where: int) -> Any:
        if isinstance(obj, str):
            pattern = self._pattern if where == _FREE else self._strong
            if where == _KEPT or pattern is None:
                return obj
            return pattern.sub(SECRET_PLACEHOLDER, obj)
        if isinstance(obj, Mapping):
            return {k: self._walk(v, _child(where, k)) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return [self._walk(v, where) for v in obj]
        return obj


class StreamRedactor:
    """Redacts free text that arrives in pieces (an agent's transcript deltas, word by word), so
    that a secret split across pieces (a multi-word value) is hidden whole.

    ``feed`` returns what is safe to pass on: the text so far, redacted, less a held-back tail
    that could still be the start of a secret (held until a later piece shows it is not, or
    completes the secret); ``flush`` returns that tail at the end of the text.

    Args:
        redactor: whose secrets to hide (the process-wide one by default, read at each piece).
    """

    def __init__(self, redactor: Redactor | None = None) -> None:
        self._redactor = redactor or _default
        self._held = ""

    def feed(self, piece: str) -> str:
        """The safe part of the text so far with ``piece`` added (maybe ``""``)."""
        text = self._redactor.redact(self._held + piece)
        keep = _prefix_tail(text, self._redactor.values)
        self._held = text[len(text) - keep:] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        """The held-back tail (the text ended: it was no secret); the stream starts over."""
        held, self._held = self._held, ""
        return held


def _prefix_tail(text: str, secrets: Iterable[str]) -> int:
    """Length of the longest end of ``text`` that is the start (not the whole) of a secret."""
    longest = 0
    for secret in secrets:
        for n in range(min(len(secret) - 1, len(text)), longest, -1):
            if text.endswith(secret[:n]):
                longest = n
                break
    return longest


_OTHER, _FREE, _KEPT = 0, 1, 2


def _child(where: int, key: object) -> int:
    if where == _FREE or key in FREE_TEXT_KEYS:
        return _FREE
    return _KEPT if key in KEPT_KEYS else where


def _alternation(values: set[str]) -> re.Pattern[str] | None:
    ordered = sorted(values, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None


def secret_values(environ: Mapping[str, str] | None = None, dotenv: Path | None = None) -> set[str]:
    """Collect secret values from the environment and, if it exists, a ``.env`` file.

    Args:
        environ: variables to scan; defaults to ``os.environ``.
        dotenv: path of a ``.env`` file: its values named like a secret, and the others that
            ``looks_secret``; ``None`` to skip.
    """
    named, settings = _values(environ, dotenv)
    return named | settings


def _values(environ: Mapping[str, str] | None, dotenv: Path | None) -> tuple[set[str], set[str]]:
    """(values named like a secret, other ``.env`` values that ``looks_secret``)."""
    env = os.environ if environ is None else environ
    named = {v for k, v in env.items() if SECRET_NAME.search(k.upper())}
    settings: set[str] = set()
    if dotenv is not None and dotenv.is_file():
        for k, v in dotenv_values(dotenv).items():
            if not v:
                continue
            if SECRET_NAME.search(k.upper()):
                named.add(v)
            elif looks_secret(v):
                settings.add(v)
    return named, settings


_default = Redactor()


def default_redactor() -> Redactor:
    """The process-wide redactor that lkmon's writers use. ``install_from_env`` fills it."""
    return _default


def install_from_env(dotenv: Path | None = None) -> Redactor:
    """Add the current environment's and ``dotenv``'s secrets to the process-wide redactor:
    values named like a secret everywhere, other ``.env`` values in free text only."""
    named, settings = _values(None, dotenv)
    _default.add(named)
    _default.add(settings, anywhere=False)
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
