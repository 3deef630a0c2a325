"""summarize() keeps the last report's summary: asked again for the same (immutable) report object, it is not
counted again; any other report is."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailprobe.model import PortResult, PortState, Report
from mailprobe.report import summary


def test_the_same_report_is_counted_once_and_another_again(monkeypatch: pytest.MonkeyPatch) -> None:
    counted: list[Report] = []
    count = summary._summarize

    def counting(report: Report) -> summary.Summary:
        counted.append(report)
        return count(report)

    monkeypatch.setattr(summary, "_summarize", counting)
    monkeypatch.setattr(summary, "_LAST_SUMMARY", [])
    port = PortResult("h", "203.0.113.1", 25, PortState.OPEN, "syn-ack", 1.0)
    report = Report("ports", ("h",), "2026-01-01T00:00:00+00:00", 1.0, ports=(port,))
    first = summary.summarize(report)
    assert summary.summarize(report) is first and len(counted) == 1
    closed = replace(report, ports=(replace(port, state=PortState.CLOSED),))
    assert dict(summary.summarize(closed).ports) == {PortState.CLOSED: 1} and len(counted) == 2
    equal = replace(report)  # equal, but another object: counted again, with the same result
    assert summary.summarize(equal) == first and len(counted) == 3
