"""Command-line values coerced without pydantic, for the plain types mailprobe's options have.

typer (from 0.2x) coerces every parameter through a pydantic TypeAdapter: importing pydantic and building
the adapters costs a tenth of a second of CPU on every run, more than the rest of the command line's
parsing. mailprobe's options are str, int, float, bool, Path and lists of these, whose coercion from a
command-line word is one call. `install()` gives typer a runtime parameter that does that call for the
words it is sure of and hands everything else (another type, a word that does not parse, an empty path) to
typer's own coercion, built on first need: results and error messages stay typer's.

With a typer that has no such hook (older versions coerce through click, without pydantic) `install()` does
nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin

# Words whose value no parser can disagree on: ASCII digits, an optional sign, a plain decimal or exponent.
_INTEGER = re.compile(r"[+-]?[0-9]{1,18}\Z")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,15}(?:\.[0-9]{0,15})?|\.[0-9]{1,15})(?:[eE][+-]?[0-9]{1,3})?\Z")

_UNSURE = object()  # the fast path declines: typer's own coercion decides
_LEAVES = (str, int, float, bool, Path)

Convert = Callable[[Any, Any, Any], Any]  # (value, param, ctx) -> the coerced value or _UNSURE


def _text(value: Any, _param: Any, _ctx: Any) -> Any:
    return value if type(value) is str else _UNSURE


def _integer(value: Any, _param: Any, _ctx: Any) -> Any:
    if type(value) is int:
        return value
    return int(value) if type(value) is str and _INTEGER.match(value) else _UNSURE


def _decimal(value: Any, _param: Any, _ctx: Any) -> Any:
    if type(value) is float:
        return value
    return float(value) if type(value) is str and _DECIMAL.match(value) else _UNSURE


def _flag(value: Any, _param: Any, _ctx: Any) -> Any:
    return value if type(value) is bool else _UNSURE


def _leaf(annotation: Any, parameter_info: Any) -> Convert | None:
    """How to coerce one word to `annotation`, or None when the fast path does not handle it."""
    if annotation is str:
        return _text
    if annotation is int:
        return _integer
    if annotation is float:
        return _decimal
    if annotation is bool:
        return _flag
    if annotation is Path and parameter_info.path_type is None:
        try:
            from typer._param_types import coerce_cli_path
        except ImportError:
            return None

        def path(value: Any, param: Any, ctx: Any) -> Any:
            if type(value) is not str or not value:
                return _UNSURE
            # typer's own checks (exists, readable, a file or a directory) on the path as typer would make it.
            return coerce_cli_path(Path(value), parameter_info, path_type=Path, param=param, ctx=ctx)

        return path
    return None


def _list(item: Convert) -> Convert:
    def convert(value: Any, param: Any, ctx: Any) -> Any:
        items = value if isinstance(value, (list, tuple)) else [value]
        done = [item(one, param, ctx) for one in items]
        return _UNSURE if any(one is _UNSURE for one in done) else done

    return convert


def fast_converter(annotation: Any, parameter_info: Any) -> Convert | None:
    """The fast path for a parameter, or None when typer's coercion must do it all."""
    if parameter_info.parser is not None or parameter_info.min is not None or parameter_info.max is not None:
        return None
    if get_origin(annotation) is list:
        args = get_args(annotation)
        item = _leaf(args[0], parameter_info) if len(args) == 1 and args[0] in _LEAVES else None
        return _list(item) if item is not None else None
    return _leaf(annotation, parameter_info)


def install() -> bool:
    """Put the fast path in front of typer's coercion (once); False when this typer has no such hook."""
    try:
        from typer import _coercion, core
    except ImportError:
        return False
    found = getattr(core, "build_runtime_param", None)
    base = getattr(_coercion, "RuntimeParam", None)
    if found is None or base is None:
        return False
    if getattr(found, "mailprobe_fast", False):
        return True
    typer_build: Callable[[Any], Any] = found

    @dataclass(frozen=True)
    class FastRuntimeParam(base):  # type: ignore[misc, valid-type]
        """typer's RuntimeParam contract: the fast path first, typer's coercion (made on first need) else."""

        descriptor: Any = None
        convert: Convert | None = None
        _typer: list[Any] = field(default_factory=list)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            assert self.convert is not None
            done = self.convert(value, param, ctx)
            if done is not _UNSURE:
                return done
            if not self._typer:
                self._typer.append(typer_build(self.descriptor))
            return self._typer[0]._coerce_value(value, param=param, ctx=ctx)

    def build_runtime_param(descriptor: Any) -> Any:
        convert = None if descriptor.file_annotation is not None else fast_converter(
            descriptor.annotation, descriptor.parameter_info
        )
        if convert is None:
            return typer_build(descriptor)
        return FastRuntimeParam(
            parameter_info=descriptor.parameter_info,
            annotation=descriptor.annotation,
            descriptor=descriptor,
            convert=convert,
        )

    build_runtime_param.mailprobe_fast = True  # type: ignore[attr-defined]
    setattr(core, "build_runtime_param", build_runtime_param)  # noqa: B010 (typer does not export it)
    return True
