"""The JSON renderer's pretty-printer writes exactly what json.dumps(indent=2, ensure_ascii=True,
allow_nan=False) writes, and leaves to json.dumps what it does not expect (so the errors are json's)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from samples import hostile_report, sample_report

from mailprobe.engine import merge
from mailprobe.model import Report
from mailprobe.report.json import Prerendered, pretty, render

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


def _per_target(report: Report) -> list[Report]:
    """A report cut as a run's targets deliver it: the first with everything but its results, then one report
    per result (DNS record, port, handshake)."""
    first = replace(report, dns=(), ports=(), handshakes=())
    bare = Report(command=report.command, targets=(), started_at=report.started_at, elapsed_ms=0.0)
    return [
        first,
        *(replace(bare, dns=(d,)) for d in report.dns),
        *(replace(bare, ports=(p,)) for p in report.ports),
        *(replace(bare, handshakes=(h,)) for h in report.handshakes),
    ]


@pytest.mark.parametrize("sample", [sample_report, hostile_report])
def test_a_report_written_as_its_targets_arrive_is_the_same_text(sample: Callable[[], Report]) -> None:
    """--format json: the results written as each target's report arrives, joined at the end, are exactly
    render()'s text of the merged report (also when it is then marked interrupted)."""
    parts = _per_target(sample())
    assert len(parts) > 2
    written = Prerendered()
    for part in parts:
        written.add(part)
    merged = merge(parts, "audit")
    assert written.render(merged) == render(merged)
    stopped = replace(merged, interrupted=True, unfinished=("mx.example.com",))
    assert written.render(stopped) == render(stopped)


def test_a_result_that_was_not_added_is_written_at_the_end() -> None:
    report = sample_report()
    written = Prerendered()
    written.add(replace(report, handshakes=()))
    assert report.handshakes and written.render(report) == render(report)
    odd = replace(report, elapsed_ms=math.inf)  # written as the string "inf", as render() writes it
    assert written.render(odd) == render(odd)
