"""Session snapshots: write a ``SessionModel`` as a versioned JSON file (and, re-exported from
``lkmon.store.restore``, load a snapshot or a journal back).

The format (``{"lkmon_snapshot": 5, ...}``) is defined once by the pydantic models of
``lkmon.store.format``; ``docs/snapshot-format.md`` describes it and the JSON Schema
``lkmon/store/snapshot.schema.json`` is generated from the models. ``write_snapshot`` is
``to_snapshot`` (``lkmon.store.convert``) then a dump: everything written passes through
``lkmon.redact.default_redactor()``; ``redact_text=True`` also replaces transcript text with
same-length placeholders (timings kept), for sharing.

No textual or livekit import here.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from pydantic_core import PydanticSerializationError

from lkmon.model.state import SessionModel
from lkmon.redact import Redactor, default_redactor
from lkmon.store.convert import PLACEHOLDER_CHAR, placeholder, to_snapshot
from lkmon.store.files import json_utf8, write_private_atomic
from lkmon.store.format import SNAPSHOT_VERSION, Snapshot
from lkmon.store.restore import (
    SnapshotError,
    load_session,
    load_snapshot,
    model_from_snapshot,
    no_gc,
    schema,
    validate_snapshot,
)

__all__ = [
    "PLACEHOLDER_CHAR",
    "SNAPSHOT_VERSION",
    "Snapshot",
    "SnapshotError",
    "build_snapshot",
    "dump_snapshot",
    "dumps_redacted",
    "load_session",
    "load_snapshot",
    "model_from_snapshot",
    "placeholder",
    "redacted_snapshot",
    "schema",
    "snapshot_json",
    "to_snapshot",
    "validate_snapshot",
    "write_snapshot",
]

try:  # optional speed-up for the rare redacted re-dump; pydantic writes the snapshot itself
    import orjson
except ImportError:  # pragma: no cover - the standard library does the same, slower
    orjson = None  # type: ignore[assignment]  # optional: None stands for 'not installed'


def build_snapshot(model: SessionModel, *, redact_text: bool = False) -> dict[str, Any]:
    """The snapshot of ``model`` as a JSON-ready dict (``to_snapshot(...)`` dumped).

    Secrets are NOT redacted here (``write_snapshot`` does it); ``redact_text`` as in
    ``to_snapshot``. Missing figures are ``None``.
    """
    return to_snapshot(model, redact_text=redact_text).model_dump(mode="json")


def dump_snapshot(snapshot: Snapshot) -> bytes:
    """UTF-8 JSON of ``snapshot`` with secrets redacted (see ``dumps_redacted``); a NaN or an
    infinity (JSON has none) is written as null; text that is not UTF-8 (a lone surrogate) as
    the visible escape ``\\udcff`` (``lkmon.store.files.json_utf8``)."""
    try:
        raw = snapshot.__pydantic_serializer__.to_json(snapshot)
    except PydanticSerializationError:  # a lone surrogate: the standard library escapes it
        raw = _dumps(snapshot.model_dump(mode="json"))
    return _redacted(raw, lambda: snapshot.model_dump(mode="json"))


def snapshot_json(model: SessionModel, *, redact_text: bool = False) -> str:
    """The snapshot as JSON text, secrets redacted (as ``default_redactor().redact_obj`` does)."""
    return dump_snapshot(to_snapshot(model, redact_text=redact_text)).decode("utf-8")


_JSON_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|.)")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/"}


def _unescape(m: re.Match[str]) -> str:
    seq = m.group(0)[1:]
    if seq[0] == "u":
        return chr(int(seq[1:], 16))
    return _SIMPLE_ESCAPES.get(seq, seq)


def _dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON; a NaN or infinity (JSON has none) is written as null."""
    if orjson is not None:
        try:
            return orjson.dumps(data)
        except TypeError:
            pass  # e.g. an integer beyond 64 bits: the standard library copes
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), ensure_ascii=False, separators=(",", ":"))
    return json_utf8(text)


def dumps_redacted(data: Any) -> bytes:
    """UTF-8 JSON of ``data`` with secrets redacted as ``default_redactor().redact_obj`` does."""
    return _redacted(_dumps(data), lambda: data)


def redacted_snapshot(snapshot: Snapshot, redactor: Redactor | None = None) -> Snapshot:
    """``snapshot`` with secrets replaced in its free text (``Redactor.redact_obj``): itself
    when none occurs, else a copy (for the views that render a snapshot, the HTML report)."""
    redactor = redactor or default_redactor()
    if not redactor.active:
        return snapshot
    try:
        raw = snapshot.__pydantic_serializer__.to_json(snapshot)
    except PydanticSerializationError:  # a lone surrogate
        raw = _dumps(snapshot.model_dump(mode="json"))
    if not _holds_secret(raw, redactor):
        return snapshot
    return Snapshot.model_validate(redactor.redact_obj(snapshot.model_dump(mode="json")))


def _holds_secret(raw: bytes, redactor: Redactor) -> bool:
    text = raw.decode("utf-8")
    probe = _JSON_ESCAPE.sub(_unescape, text) if "\\" in text else text
    return redactor.redact(probe) != probe


def _redacted(raw: bytes, plain: Any) -> bytes:
    """``raw`` if it holds no secret, else ``plain()`` redacted with ``redact_obj`` (free text
    only: keys, enum values and lkmon's own fields are kept) and dumped.

    Walking a large object with ``redact_obj`` costs about 1.5 s for 10,000 turns, so the JSON
    text (with its string escapes undone) is first scanned for any secret in one pass; only if
    one occurs is the object redacted and serialised again. The result is the same either way.
    """
    redactor = default_redactor()
    if not redactor.active or not _holds_secret(raw, redactor):
        return raw
    return _dumps(redactor.redact_obj(plain()))


def _finite(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``None``."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def write_snapshot(model: SessionModel, path: str | Path, *, redact_text: bool = False,
                   overwrite: bool = True) -> Path:
    """Write the snapshot of ``model`` to ``path`` atomically, with mode 0600.

    The JSON goes to a temporary file in the same directory, is fsynced, then ``os.replace``d
    onto ``path`` (``overwrite``), or linked there without replacing a file that exists (then
    ``path-1``, ``path-2``...: ``lkmon.store.files.write_private_atomic``), so a reader never
    sees a half-written snapshot.

    Args:
        model: the session.
        path: destination file (its directory must exist).
        redact_text: replace transcript text with same-length placeholders.
        overwrite: replace a file at ``path`` (False: never; a free name is used instead).

    Returns:
        The file written.

    Raises:
        OSError: the directory is missing, read-only or full (the temporary file is removed).
    """
    with no_gc():
        payload = dump_snapshot(to_snapshot(model, redact_text=redact_text))
    return write_private_atomic(Path(path), payload, overwrite=overwrite)
