"""Report <-> JSON-able dicts, lossless both ways (the JSON format, baselines and `mailprobe merge` use it).

The mapping, documented in mailprobe/schema/report.schema.json:
- dataclasses -> objects with their fields in model order; enums -> their value; tuples -> arrays;
- bytes (transcript data) -> {"text": <terminal_safe display form>, "base64": <the exact bytes>};
  only "base64" is read back;
- key/value pairs (Report.meta, HandshakeResult.facts) -> an object when the keys are unique (the normal
  case), else an array of [key, value] pairs so nothing is lost; MxHost.ptr/fcrdns are always arrays of pairs;
- floats that are not finite -> the strings "inf", "-inf", "nan";
- a field that holds one of several dataclasses (DnsRecord.parsed) -> the object with a "type" key naming the
  class (SpfEvaluation, DmarcRecord, ...);
- derived, read-only fields: "summary" (counts per severity, worst, ...), ignored when read back.
`schema_version` comes first; a document with another version is refused with a UsageError.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import types
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields, is_dataclass, replace
from enum import Enum, Flag
from functools import cache
from importlib import resources
from typing import Any, Union, get_args, get_origin

from mailprobe.errors import UsageError
from mailprobe.model import SCHEMA_VERSION, Report, type_hints
from mailprobe.report.escape import terminal_safe
from mailprobe.report.summary import summarize

DERIVED_KEYS = frozenset({"summary"})
# Named facts read best as objects; MxHost.ptr/fcrdns stay [address, value] arrays (one address may have
# several PTR names, and a fixed shape is easier on consumers).
PAIR_FIELDS = frozenset({(Report, "meta")})
TYPE_KEY = "type"  # names the class of a value in a field that may hold several dataclasses
# Top-level key order: what a reader wants first. Fields not listed follow in model order.
_TOP_ORDER = (
    "schema_version",
    "tool_version",
    "command",
    "targets",
    "started_at",
    "elapsed_ms",
    "profile",
    "meta",
    "summary",
    "errors",
)
_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of to_jsonable's output, shipped as mailprobe/schema/report.schema.json."""
    text = resources.files("mailprobe").joinpath("schema/report.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def to_jsonable(report: Report, given: Mapping[str, list[Any]] | None = None) -> dict[str, Any]:
    """The report as plain dicts/lists/str/int/float/bool/None, ready for json.dumps. `given`: fields of the
    report already encoded (as lists, by field name), taken as they are instead of encoding the report's."""
    if given:
        emptied: dict[str, Any] = {key: () for key in given}
        body = _encode(replace(report, **emptied))
        body.update(given)
    else:
        body = _encode(report)
    body["summary"] = summarize(report).as_jsonable()
    ordered = {key: body[key] for key in _TOP_ORDER}
    ordered.update((key, value) for key, value in body.items() if key not in ordered)
    return ordered


def report_from_jsonable(data: Any) -> Report:
    """The inverse of to_jsonable; a UsageError that names the path when the document does not fit."""
    if not isinstance(data, dict):
        raise UsageError("not a mailprobe report: expected a JSON object")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise UsageError(
            f"unsupported report schema_version {version!r}: this mailprobe reads version {SCHEMA_VERSION}"
        )
    report = _decode(Report, data, "report")
    assert isinstance(report, Report)
    return report


# --- encoding -------------------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Any part of a report (a HandshakeResult, a DnsRecord, ...) as to_jsonable writes it."""
    return _encode(value)


_AS_IS = frozenset({str, int, bool, type(None)})  # encoded as themselves (exactly these types, not subclasses)
_PLAIN, _PAIRS, _CHOICE = 0, 1, 2  # how a dataclass field is encoded: as its value, as pairs, with its type named


def _encode(value: Any) -> Any:
    kind: type = type(value)
    if kind in _AS_IS:
        return value
    if kind is tuple:
        return [item if type(item) in _AS_IS else _encode(item) for item in value]
    if kind is float:
        return value if math.isfinite(value) else _non_finite_name(value)
    encoder = _encoder(kind)
    if encoder is not None:
        return encoder(value)
    return _encode_other(value)


@cache
def _encoder(cls: type) -> Callable[[Any], Any] | None:
    """How a value of `cls` is encoded, found once per class: an enum's member looked up in a table of the
    values (`member.value` is a descriptor call; the table saved 6-9 % of a port scan's JSONL), a dataclass's
    encoder written from its layout; None for anything else (_encode_other)."""
    if issubclass(cls, Enum) and not issubclass(cls, Flag):  # a Flag's combinations are not members
        values: dict[Any, Any] = {member: member.value for member in cls}
        return values.__getitem__
    return _dataclass_encoder(cls)


def _dataclass_encoder(cls: type) -> Callable[[Any], Any] | None:
    """One dict display, a field of a type taken as it is written without a call (a JSONL line of a port
    scan's target encodes ~180 values)."""
    layout = _layout(cls)
    if layout is None:
        return None
    items = []
    for name, how in layout:  # field names are identifiers: safe to write into the source
        if how == _PLAIN:
            items.append(f"{name!r}: (_x if type(_x := value.{name}) in AS_IS else E(_x))")
        elif how == _PAIRS:
            items.append(f"{name!r}: P(value.{name})")
        else:
            items.append(f"{name!r}: (None if (_x := value.{name}) is None else {{K: type(_x).__name__, **E(_x)}})")
    source = "def encode(value):\n    return {" + ", ".join(items) + "}\n"
    namespace: dict[str, Any] = {"AS_IS": _AS_IS, "E": _encode, "P": _encode_pairs, "K": TYPE_KEY}
    exec(source, namespace)  # the source is built above from the model's own field names, nothing else
    encoder: Callable[[Any], Any] = namespace["encode"]
    return encoder


def _encode_other(value: Any) -> Any:
    """Enums, floats, bytes, and subclasses of the types _encode takes as they are."""
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _non_finite_name(value)
    if isinstance(value, bytes):
        return {"text": terminal_safe(value), "base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    raise TypeError(f"cannot serialise {type(value).__name__}")


@cache
def _layout(cls: type) -> tuple[tuple[str, int], ...] | None:
    """A dataclass's fields in model order, each with how it is encoded; None for anything else."""
    if not is_dataclass(cls):
        return None
    hints = type_hints(cls)
    layout = []
    for f in fields(cls):
        if (cls, f.name) in PAIR_FIELDS:
            layout.append((f.name, _PAIRS))
        elif _choices(hints[f.name]):
            layout.append((f.name, _CHOICE))
        else:
            layout.append((f.name, _PLAIN))
    return tuple(layout)


def _non_finite_name(value: float) -> str:
    if math.isnan(value):
        return "nan"
    return "inf" if value > 0 else "-inf"


def _encode_pairs(pairs: tuple[tuple[str, Any], ...]) -> dict[str, Any] | list[list[Any]]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) == len(keys):
        return {key: _encode(value) for key, value in pairs}
    return [[key, _encode(value)] for key, value in pairs]


# --- decoding -------------------------------------------------------------------------------------------


def _fail(path: str, expected: str, data: Any) -> UsageError:
    return UsageError(f"bad report at {path}: expected {expected}, got {type(data).__name__} {_short(data)}")


def _short(data: Any) -> str:
    text = repr(data)
    return terminal_safe(text if len(text) <= 40 else text[:37] + "...")


def _decode(tp: Any, data: Any, path: str) -> Any:
    origin = get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return _decode_optional(tp, data, path)
    if origin is tuple:
        return _decode_tuple(get_args(tp), data, path)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(data)
        except ValueError:
            choices = ", ".join(repr(member.value) for member in tp)
            raise _fail(path, f"one of {choices}", data) from None
    if is_dataclass(tp) and isinstance(tp, type):
        return _decode_dataclass(tp, data, path)
    if tp is bool:
        if not isinstance(data, bool):
            raise _fail(path, "true or false", data)
        return data
    if tp is int:
        if not isinstance(data, int) or isinstance(data, bool):
            raise _fail(path, "an integer", data)
        return data
    if tp is float:
        return _decode_float(data, path)
    if tp is str:
        if not isinstance(data, str):
            raise _fail(path, "a string", data)
        return data
    if tp is bytes:
        return _decode_bytes(data, path)
    raise TypeError(f"no decoder for {tp!r} at {path}")


@cache
def _choices(tp: Any) -> dict[str, type]:
    """The dataclasses a union type may hold, by name, when it holds more than one (else empty)."""
    if get_origin(tp) not in (Union, types.UnionType):
        return {}
    classes = [arg for arg in get_args(tp) if is_dataclass(arg) and isinstance(arg, type)]
    return {cls.__name__: cls for cls in classes} if len(classes) > 1 else {}


def _decode_optional(tp: Any, data: Any, path: str) -> Any:
    args = [arg for arg in get_args(tp) if arg is not type(None)]
    if data is None and len(args) < len(get_args(tp)):
        return None
    choices = _choices(tp)
    if choices:
        name = data.get(TYPE_KEY) if isinstance(data, dict) else None
        if name not in choices:
            raise _fail(f"{path}.{TYPE_KEY}", f"one of {', '.join(sorted(choices))}", name)
        return _decode(choices[name], data, path)
    if len(args) != 1:
        raise TypeError(f"unsupported union {tp!r} at {path}")
    return _decode(args[0], data, path)


def _decode_tuple(args: tuple[Any, ...], data: Any, path: str) -> tuple[Any, ...]:
    if not isinstance(data, list):
        raise _fail(path, "an array", data)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_decode(args[0], item, f"{path}[{i}]") for i, item in enumerate(data))
    if len(data) != len(args):
        raise _fail(path, f"an array of {len(args)} items", data)
    return tuple(_decode(arg, item, f"{path}[{i}]") for i, (arg, item) in enumerate(zip(args, data, strict=True)))


def _decode_pairs(tp: Any, data: Any, path: str) -> tuple[tuple[str, Any], ...]:
    if isinstance(data, dict):  # the object form: keys were unique
        data = [[key, value] for key, value in data.items()]
    return _decode(tp, data, path)  # type: ignore[no-any-return]


def _decode_dataclass(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise _fail(path, "an object", data)
    hints = type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise UsageError(f"bad report at {path}: missing {f.name!r}")
            continue
        sub = f"{path}.{f.name}"
        if (cls, f.name) in PAIR_FIELDS:
            kwargs[f.name] = _decode_pairs(hints[f.name], data[f.name], sub)
        else:
            kwargs[f.name] = _decode(hints[f.name], data[f.name], sub)
    return cls(**kwargs)


def _decode_float(data: Any, path: str) -> float:
    if isinstance(data, str) and data in _NON_FINITE:
        return _NON_FINITE[data]
    if not isinstance(data, (int, float)) or isinstance(data, bool):
        raise _fail(path, "a number", data)
    return float(data)


def _decode_bytes(data: Any, path: str) -> bytes:
    encoded = data.get("base64") if isinstance(data, dict) else None
    if not isinstance(encoded, str):
        raise _fail(path, 'an object with "base64"', data)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(path, "valid base64", encoded) from None
