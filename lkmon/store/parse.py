"""Parsing a snapshot's or journal's JSON, and the one-line errors of the readers.

``SnapshotError`` is what every reader raises for a file it cannot load (``str()`` is one line
saying what and where: the file, the JSON path or the line). No textual or livekit import here.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any
from uuid import UUID

from pydantic import ValidationError

try:  # optional speed-up for sniffing what a file is
    import orjson
except ImportError:  # pragma: no cover - the standard library does the same, slower
    orjson = None  # type: ignore[assignment]  # optional: None stands for 'not installed'

BOM = b"\xef\xbb\xbf"
"""The UTF-8 byte order mark some editors put first; a snapshot or journal may start with it."""


class SnapshotError(ValueError):
    """A file that is not a loadable lkmon snapshot or journal; ``str()`` is one line."""


def loads(raw: bytes | str) -> Any:
    """Parse JSON (orjson when installed; the standard library for what orjson refuses but
    JSON allows, such as a lone surrogate escape ``"\\udcff"``); raises
    ``json.JSONDecodeError``, also for nesting deeper than the interpreter's recursion limit."""
    if orjson is not None:
        try:
            return orjson.loads(raw)
        except json.JSONDecodeError:
            pass
    try:
        return json.loads(raw)
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", "", 0) from None
    except UnicodeDecodeError:
        raise json.JSONDecodeError("not UTF-8", "", 0) from None


def json_error(problem: str, where: str) -> SnapshotError:
    """The line for pydantic's JSON parse error ``problem`` (``"EOF while parsing a value at
    line 1 column 8"``): "truncated" only when the text ends too early."""
    if problem.startswith("EOF while parsing"):
        return SnapshotError(f"{where}: truncated snapshot (invalid JSON: {problem})")
    if problem.startswith("recursion limit exceeded"):
        problem = "nested deeper than 200 levels" + problem.removeprefix("recursion limit exceeded")
    return SnapshotError(f"{where}: invalid JSON: {problem}")


def invalid(error: ValidationError, where: str) -> SnapshotError:
    """One line for a snapshot that does not validate: its first error, by its JSON path."""
    errors = error.errors(include_url=False)
    # from Python, a record is "an instance, or a dict": the dict's error is the one to show
    first = next((e for e in errors if not _instance_check(e["loc"])), errors[0])
    if first["type"] == "json_invalid":
        return json_error(str(first.get("ctx", {}).get("error", first["msg"])), where)
    at = "/".join(str(p) for p in first["loc"] if not _schema_step(p)) or "top level"
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        tag = first.get("ctx", {}).get("tag")
        msg = f"unknown event type {tag!r}" if tag is not None else "an event without a type"
    else:
        msg = str(first["msg"]).splitlines()[0][:160]
    return SnapshotError(f"{where}: invalid snapshot at {at}: {msg}")


def _instance_check(loc: tuple[int | str, ...]) -> bool:
    return any(isinstance(p, str) and p.startswith("is-instance[") for p in loc)


def _schema_step(step: int | str) -> bool:
    """A pydantic schema step in an error's loc (``function-after[build(), ...]``), no key."""
    return isinstance(step, str) and "[" in step and step.endswith("]")


def without_surrogates(obj: Any) -> Any:
    """``obj`` (parsed JSON) with each lone surrogate in its strings (``"\\udcff"``: JSON allows
    the escape, UTF-8 cannot hold it) replaced by U+FFFD; a valid pair becomes its character.
    A string without surrogates is returned as it is."""
    if isinstance(obj, str):
        if obj.isascii():
            return obj
        try:
            obj.encode("utf-8")
            return obj
        except UnicodeEncodeError:
            return obj.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(obj, dict):
        return {without_surrogates(k): without_surrogates(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [without_surrogates(v) for v in obj]
    return obj


_NAMESPACE = UUID("6c6b6d6f-6e00-4e55-9a11-5e5510000000")


def derived_session_id(
    started_at: float | None, agent_file: str, lkmon_version: str, content: bytes
) -> str:
    """A stable id for a session recorded before session ids (format 1/2 snapshots, 0.1
    journals): a UUID5 of its start time (epoch seconds), agent file and lkmon version, which a
    snapshot and the journal of one session share; of ``content``'s SHA-256 when the start is
    unknown. Loading the same file twice gives the same id."""
    if started_at is None:
        key = "sha256:" + hashlib.sha256(content).hexdigest()
    else:
        key = f"session:{started_at!r}:{agent_file}:{lkmon_version}"
    return str(uuid.uuid5(_NAMESPACE, key))
