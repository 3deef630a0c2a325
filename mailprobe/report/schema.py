"""The JSON Schema of the JSON format, derived from the report model (the shipped file is its output).

`python -m mailprobe.report.schema > mailprobe/schema/report.schema.json` regenerates the shipped file; a test
holds the two equal, so a model change cannot leave the schema behind. The mapping is serialize.py's.
"""

from __future__ import annotations

import json
import re
import sys
import types
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any, Union, get_args, get_origin

from mailprobe.model import SCHEMA_VERSION, Report, type_hints
from mailprobe.report.serialize import PAIR_FIELDS, TYPE_KEY

_MS = {
    "description": "a number; non-finite values as the strings inf, -inf, nan",
    "oneOf": [{"type": "number"}, {"type": "string", "enum": ["inf", "-inf", "nan"]}],
}
_BYTES = {
    "type": "object",
    "description": "raw bytes: a readable form and the lossless base64",
    "properties": {
        "text": {"type": "string", "description": "display form: controls escaped (\\r, \\x1b, \\xff)"},
        "base64": {"type": "string", "pattern": "^[A-Za-z0-9+/]*={0,2}$", "description": "the exact bytes"},
    },
    "required": ["text", "base64"],
    "additionalProperties": False,
}
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}
_SUMMARY = {
    "type": "object",
    "description": "derived counts (read-only: ignored when a report is read back)",
    "properties": {
        "worst": {"anyOf": [{"$ref": "#/$defs/severity"}, {"type": "null"}]},
        "findings": {"type": "integer"},
        "places": {"type": "integer"},
        "by_severity": _COUNTS,
        "errors": {"type": "integer"},
        "errors_by_kind": _COUNTS,
        "could_not_probe": {
            "type": "array",
            "description": "what `errors` counts: the run errors, then every port and handshake that ended in error",
            "items": {
                "type": "object",
                "properties": {
                    "target": {"type": "string"},
                    "kind": {"$ref": "#/$defs/error_kind"},
                    "message": {"type": "string"},
                },
                "required": ["target", "kind", "message"],
                "additionalProperties": False,
            },
        },
        "checks": _COUNTS,
        "domains": {"type": "integer"},
        "ports": _COUNTS,
        "handshakes": _COUNTS,
        "egress_verdict": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "interrupted": {"type": "boolean"},
        "retried": {"type": "integer", "description": "--cluster: targets run again because their worker died"},
    },
    "required": ["worst", "findings", "by_severity", "errors", "domains", "ports", "handshakes", "egress_verdict"],
    "additionalProperties": False,
}


def def_name(cls: type) -> str:
    """HandshakeResult -> handshake_result."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


class _Builder:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {"ms": _MS, "bytes": _BYTES}
        self.tagged: set[type] = set()  # dataclasses that appear in a union of several: they carry "type"

    def ref(self, cls: type) -> dict[str, Any]:
        name = def_name(cls)
        if name not in self.defs:
            self.defs[name] = {}  # reserve: recursive types
            self.defs[name] = self._define(cls)
        return {"$ref": f"#/$defs/{name}"}

    def _define(self, cls: type) -> dict[str, Any]:
        if issubclass(cls, Enum):
            return {"type": "string", "enum": [member.value for member in cls]}
        assert is_dataclass(cls)
        hints = type_hints(cls)
        props: dict[str, Any] = {}
        for f in fields(cls):
            if (cls, f.name) in PAIR_FIELDS:
                props[f.name] = self._pairs(hints[f.name])
            else:
                props[f.name] = self.of(hints[f.name])
        out: dict[str, Any] = {"type": "object"}
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        if doc and not doc.startswith(f"{cls.__name__}("):
            out["description"] = doc
        out.update(properties=props, required=[f.name for f in fields(cls)], additionalProperties=False)
        return out

    def _pairs(self, tp: Any) -> dict[str, Any]:
        value = self.of(get_args(get_args(tp)[0])[1])
        return {
            "description": "an object, or [key, value] pairs when a key repeats",
            "oneOf": [
                {"type": "object", "additionalProperties": value},
                {
                    "type": "array",
                    "items": {
                        "type": "array",
                        "prefixItems": [{"type": "string"}, value],
                        "minItems": 2,
                        "maxItems": 2,
                    },
                },
            ],
        }

    def of(self, tp: Any) -> dict[str, Any]:
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            args = get_args(tp)
            choices = [self.of(a) for a in args if a is not type(None)]
            classes = [a for a in args if isinstance(a, type) and is_dataclass(a)]
            if len(classes) > 1:
                self.tagged.update(classes)
            if type(None) in args:
                choices.append({"type": "null"})
            return {"anyOf": choices} if len(choices) > 1 else choices[0]
        if origin is tuple:
            args = get_args(tp)
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.of(args[0])}
            items = [self.of(a) for a in args]
            return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
        if isinstance(tp, type) and (is_dataclass(tp) or issubclass(tp, Enum)):
            return self.ref(tp)
        simple = {str: {"type": "string"}, int: {"type": "integer"}, bool: {"type": "boolean"}}
        if tp in simple:
            return dict(simple[tp])
        if tp is float:
            return {"$ref": "#/$defs/ms"}
        if tp is bytes:
            return {"$ref": "#/$defs/bytes"}
        raise TypeError(f"no schema for {tp!r}")

    def tag(self) -> None:
        for cls in self.tagged:
            self.defs[def_name(cls)]["properties"][TYPE_KEY] = {"const": cls.__name__}


def json_schema_of_model() -> dict[str, Any]:
    builder = _Builder()
    top = builder._define(Report)
    builder.tag()
    props = dict(top["properties"])
    props["schema_version"] = {"const": SCHEMA_VERSION}
    props["summary"] = _SUMMARY
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://mailprobe.invalid/schema/report.schema.json",
        "title": "mailprobe report",
        "description": f"The JSON format of a mailprobe report (schema_version {SCHEMA_VERSION}), derived from "
        "mailprobe/model.py by mailprobe/report/schema.py; see mailprobe/report/serialize.py for the mapping.",
        "type": "object",
        "properties": props,
        "required": [*top["required"], "summary"],
        "additionalProperties": False,
        "$defs": dict(sorted(builder.defs.items())),
    }


def main() -> None:
    sys.stdout.write(json.dumps(json_schema_of_model(), indent=2) + "\n")


if __name__ == "__main__":
    main()
