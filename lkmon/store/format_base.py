"""The base of the snapshot and journal formats: the strict pydantic ``Part`` and the figure
types (re-exported by ``lkmon.store.format``). No textual or livekit import here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from lkmon.store.events import Finite

__all__ = ["Count", "Epoch", "Part", "Seconds", "SessionId"]

Seconds = Finite | None
"""A duration in seconds, or ``None`` (unknown)."""
Epoch = Finite | None
"""Epoch seconds (``time.time()``), or ``None`` (unknown)."""
Count = Annotated[int, Field(ge=0)]
SessionId = Annotated[
    str,
    Field(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        json_schema_extra={"format": "uuid"},
    ),
]
"""A session id: a UUID in its canonical lower-case text form."""


class Part(BaseModel):
    """Base of every snapshot model: strict JSON types, unknown keys ignored, docstrings under
    fields become the schema's descriptions. A float field is ``Finite``: a NaN or an infinity
    is written as null, and refused when read."""

    model_config = ConfigDict(
        strict=True, extra="ignore", use_attribute_docstrings=True, ser_json_inf_nan="null"
    )
