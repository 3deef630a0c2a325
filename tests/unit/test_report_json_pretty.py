"""The JSON renderer's pretty-printer writes exactly what json.dumps(indent=2, ensure_ascii=True,
allow_nan=False) writes, and leaves to json.dumps what it does not expect (so the errors are json's)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailprobe.report.json import pretty

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()  # controls, surrogates, astral characters: all \u escapes
)
documents = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=40,
)


def stdlib(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=True, allow_nan=False)


@given(documents)
def test_pretty_writes_what_json_dumps_writes(value: Any) -> None:
    assert pretty(value) == stdlib(value)


@pytest.mark.parametrize(
    "value",
    [{}, [], {"a": {}}, [[]], {"a": [1, 2.5, -0.0, 1e300, True, None, "x\x1b\u202e\U0001d11e"]}, "\ud800", 10**30],
)
def test_edge_values(value: Any) -> None:
    assert pretty(value) == stdlib(value)


def test_what_it_does_not_expect_goes_to_json_dumps() -> None:
    assert pretty({1: "a", None: [2]}) == stdlib({1: "a", None: [2]})  # json makes keys strings
    assert pretty((1, 2)) == stdlib((1, 2))  # a tuple is an array to json
    with pytest.raises(ValueError, match="Out of range float"):
        pretty({"x": float("nan")})
    with pytest.raises(TypeError, match="not JSON serializable"):
        pretty({"x": object()})
