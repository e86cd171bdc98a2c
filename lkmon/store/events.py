"""The event codec: lkmon events as JSON objects, one codec for the journal and the snapshot.

An event is written as ``{"type": NAME, "ts": ..., <its fields>}``. ``NAME`` is the event's
``type`` (``lkmon.model.events``): LiveKit's event name where an lkmon event carries one LiveKit
event (``conversation_item_added``, ``user_input_transcribed``, ``speech_created``,
``metrics_collected``, ``session_usage_updated``, ``agent_state_changed``, ``user_state_changed``,
``function_tools_executed`` (one line per tool call), ``error``, ``close``), lkmon's own name for
the rest (``session_started``, ``load_progress``, ``speech_done``, ``agent_transcript``,
``agent_handoff``, ``vad``, ``level``, ``log``). ``OLD_NAMES`` maps the names lkmon 0.1 and 0.2
wrote (``chat_message``, ``metrics``, ``usage``...) to these, so every older journal and
snapshot still reads.

Decoding validates with pydantic (each event type is a ``TypedDict`` built from the dataclass's
own fields, so the fields are defined once, in ``lkmon.model.events``) straight into the
dataclass. No textual or livekit import here.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, NotRequired, TypeAlias, Union

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    with_config,
)
from pydantic_core import core_schema
from typing_extensions import TypedDict

from lkmon.model.events import EVENT_TYPES, Event, ModelUsage, UsageUpdated
from lkmon.model.figures import MetricValues

OLD_NAMES: dict[str, str] = {
    "agent_state": "agent_state_changed",
    "user_state": "user_state_changed",
    "user_transcribed": "user_input_transcribed",
    "chat_message": "conversation_item_added",
    "tool_called": "function_tools_executed",
    "metrics": "metrics_collected",
    "usage": "session_usage_updated",
    "session_closed": "close",
}
"""Event names written by lkmon 0.1 and 0.2 -> today's (``EVENT_TYPES`` keys)."""

EVENT_NAMES: frozenset[str] = frozenset(EVENT_TYPES) | frozenset(OLD_NAMES)
"""Every ``type`` a journal line or snapshot event may carry, today's and older."""

_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in EVENT_TYPES.values()
}
_CONTAINERS = (dict, list)


def encode(event: Event) -> dict[str, Any]:
    """``event`` as a JSON-ready dict: ``{"type": NAME, **fields}``, its dicts and lists copied
    (the caller may hand it to another thread).

    Raises:
        KeyError: ``event`` is not an lkmon event.
    """
    data = _fields(event)
    for name, value in data.items():
        if type(value) in _CONTAINERS:
            data[name] = value.copy()
        elif isinstance(value, MetricValues):
            data[name] = value.as_dict()
    if type(event) is UsageUpdated:
        data["usage"] = [_usage_dict(u) for u in event.usage]
    return data


def _fields(event: Event) -> dict[str, Any]:
    """``{"type": NAME, **fields}`` of ``event``, sharing its values (for serialisers)."""
    cls = type(event)
    data: dict[str, Any] = {"type": cls.type}
    for name in _FIELDS[cls]:
        data[name] = getattr(event, name)
    return data


def _usage_dict(u: ModelUsage) -> dict[str, Any]:
    return {f: getattr(u, f) for f in ModelUsage.__slots__}


def record(
    cls: type, *, name: str | None = None, tag: Any = None, absent: Mapping[str, Any] = {}
) -> Any:
    """A pydantic type for the dataclass ``cls``: a JSON object with ``cls``'s own fields (strict
    JSON types, finite numbers; those with a default may be left out) validated into a ``cls``
    instance, and serialised back as its fields. The fields are defined once, by the dataclass.

    Args:
        cls: an lkmon dataclass (an event, ``TurnMetrics``, ``TranscriptEntry``...).
        name: the schema's name for it (default: the class name).
        tag: the ``type`` key's type (a ``Literal`` of names), for an event.
        absent: a value for each field left out, in place of the dataclass default (a marker
            the caller resolves).
    """
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {} if tag is None else {"type": tag}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if hint == list[ModelUsage]:
            hint = types.GenericAlias(list, _USAGE)  # list[_USAGE]: _USAGE is built at run time
        elif hint is float or hint == float | None:
            hint = Finite if hint is float else Finite | None
        elif hint == Mapping[str, Any]:  # a metric's values: LiveKit's numbers, by name
            hint = dict[str, MetricValue]
        elif hint == dict[str, float]:  # a chat message's figures
            hint = dict[str, Finite]
        elif hint is int and cls is ModelUsage:  # a usage count is never negative (the bridge's)
            hint = Annotated[int, Field(ge=0)]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        fields[f.name] = hint if required else NotRequired[hint]
    # built at run time from the dataclass's fields: mypy checks only literal TypedDict definitions
    shape = TypedDict(name or cls.__name__, fields)  # type: ignore[misc]  # a run-time TypedDict
    shape.__doc__ = (cls.__doc__ or "").split("\n\n")[0].strip()
    with_config(ConfigDict(strict=True, extra="ignore"))(shape)

    if absent:
        defaults = dict(absent)

        def build(data: dict[str, Any]) -> Any:
            return cls(**(defaults | data))

    elif tag is not None:

        def build(data: dict[str, Any]) -> Any:
            del data["type"]
            return cls(**data)

    else:

        def build(data: dict[str, Any]) -> Any:
            return cls(**data)

    if tag is not None:  # an event: a union member, whose ``type`` pydantic must see
        return Annotated[shape, AfterValidator(build), PlainSerializer(_same, return_type=Any)]
    return Annotated[shape, _Instances(cls, build)]


def _same(value: Any) -> Any:
    return value  # pydantic serialises a dataclass's fields (ClassVars left out)


class _FiniteInJson:
    """Pydantic marker: in JSON a finite number only (a NaN literal, ``Infinity`` or ``1e400``
    is refused: lkmon writes a non-finite float as null, so what it reads it can write back);
    from Python any float (the writer's, turned into null)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.json_or_python_schema(
            json_schema=core_schema.float_schema(allow_inf_nan=False, strict=True),
            python_schema=handler(source),
        )


Finite = Annotated[float, _FiniteInJson()]
"""A float field of the snapshot and journal formats: finite when read from JSON."""
MetricValue = bool | int | Finite | str | None
"""One of a plugin metric's ``values`` (``PluginMetrics.values``): a number, a flag, a label;
never a nested value (which could nest deeper than a reader's limit once in a snapshot)."""


class _Instances:
    """Pydantic marker: from Python, an instance of ``cls`` is taken as it is (``to_snapshot``
    hands over its own copies); a dict, and any JSON, is validated and built by ``build``."""

    def __init__(self, cls: type, build: Any) -> None:
        self.cls = cls
        self.build = build

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        built = core_schema.no_info_after_validator_function(self.build, handler(source))
        return core_schema.json_or_python_schema(
            json_schema=built,
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(self.cls), built], mode="left_to_right"
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(_same),
        )


_USAGE = record(ModelUsage)


def _member(name: str, cls: type) -> Any:
    """The union member of event class ``cls`` (``name``: its ``type``): its ``type`` is today's
    name or an old one."""
    names = [name, *(old for old, new in OLD_NAMES.items() if new == name)]
    return record(cls, tag=Literal[tuple(names)])


if TYPE_CHECKING:
    EventField: TypeAlias = Event  # to a type checker: what it validates into
else:
    EventField = Annotated[
        Union[tuple(_member(name, cls) for name, cls in EVENT_TYPES.items())],  # noqa: UP007
        Field(discriminator="type"),
        PlainSerializer(_fields, return_type=dict[str, Any]),
    ]
    """An lkmon event as a pydantic field type: validates a JSON object (today's or an older
    ``type``) into the event dataclass, serialises as ``encode`` does."""

_ADAPTER: TypeAdapter[Event] = TypeAdapter(EventField)


def decode(data: Mapping[str, Any]) -> Event:
    """Rebuild an event from ``encode``'s dict (or one that lkmon 0.1/0.2 wrote).

    Raises:
        ValueError: an unknown ``type`` or fields that do not fit the event (one line).
    """
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as e:
        raise ValueError(_one_line(e, data.get("type"))) from None


def decode_json(line: bytes | str) -> Event:
    """Parse and rebuild one event from its JSON text (a journal line).

    Raises:
        ValueError: not JSON, an unknown ``type``, or fields that do not fit (one line).
    """
    try:
        return _ADAPTER.validate_json(line)
    except ValidationError as e:
        raise ValueError(_one_line(e, None)) from None


def _one_line(error: ValidationError, kind: object) -> str:
    first = error.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return f"not JSON: {first.get('ctx', {}).get('error', first['msg'])}"
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        found = first.get("ctx", {}).get("tag", kind)
        return f"unknown event type {found!r}"
    at = "/".join(str(p) for p in first["loc"][1:]) or "event"
    return f"bad {first['loc'][0] if first['loc'] else kind} event: {at}: {first['msg']}"
