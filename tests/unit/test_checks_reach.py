"""Port 25 of MX hosts: a fault of the MX only when this network is seen to pass port 25 (one problem, one
finding); silence on 25 everywhere while other ports of the same addresses answer is this network's pattern."""

from __future__ import annotations

from dataclasses import replace

from mailprobe.checks.run import judge
from mailprobe.model import (
    BusyPath,
    DomainDns,
    HandshakeResult,
    MxHost,
    MxStatus,
    PortResult,
    PortState,
    ProbeStatus,
    Report,
    Service,
    Severity,
    Target,
)

MX1 = MxHost(10, "mx1.example.test", ("203.0.113.25",))
MX2 = MxHost(20, "mx2.example.test", ("203.0.113.26",))


def port(mx: MxHost, number: int, state: PortState) -> PortResult:
    reason = {PortState.OPEN: "syn-ack", PortState.FILTERED: "no-response"}[state]
    return PortResult(mx.name, mx.addresses[0], number, state, reason, 50.0)


def findings(*ports: PortResult) -> dict[str, tuple[str, ...]]:
    dns = (DomainDns("example.test", MxStatus.FOUND, "ok", 1.0, mx=(MX1, MX2)),)
    report = Report("audit", ("example.test",), "2026-01-01T00:00:00+00:00", 0.0, dns=dns, ports=ports)
    return {f.code: f.places for f in judge(report).findings}


def test_port_25_silent_everywhere_while_587_answers_is_not_the_mx_hosts_fault() -> None:
    found = findings(
        port(MX1, 25, PortState.FILTERED), port(MX1, 587, PortState.OPEN),
        port(MX2, 25, PortState.FILTERED), port(MX2, 587, PortState.OPEN),
    )  # fmt: skip
    assert "PORT25-MX-NOT-OPEN" not in found and "PORT-FILTERED" not in found
    both = ("mx1.example.test [203.0.113.25]:25", "mx2.example.test [203.0.113.26]:25")
    assert found["PORT25-NOT-TESTABLE-HERE"] == both  # one finding, every place


def test_port_25_open_at_one_mx_makes_the_silent_one_its_own_fault() -> None:
    found = findings(
        port(MX1, 25, PortState.OPEN), port(MX1, 587, PortState.OPEN),
        port(MX2, 25, PortState.FILTERED), port(MX2, 587, PortState.OPEN),
    )  # fmt: skip
    assert found["PORT25-MX-NOT-OPEN"] == ("mx2.example.test [203.0.113.26]:25",)
    assert "PORT-FILTERED" not in found and "PORT25-NOT-TESTABLE-HERE" not in found


def test_everything_silent_says_nothing_about_this_network() -> None:
    found = findings(port(MX1, 25, PortState.FILTERED), port(MX1, 587, PortState.FILTERED))
    assert found["PORT25-MX-NOT-OPEN"] == ("mx1.example.test [203.0.113.25]:25",)
    assert found["PORT-FILTERED"] == ("mx1.example.test [203.0.113.25]:587",)


def test_silence_while_the_path_was_busy_is_a_note_not_a_firewall_or_an_mx_fault() -> None:
    busy = {"busy_path": BusyPath.LOST_SYNS, "attempts": 6, "rounds": 2}
    mx25 = replace(port(MX2, 25, PortState.FILTERED), **busy)
    submission = replace(port(MX2, 587, PortState.FILTERED), **busy)
    report = Report(
        "audit", ("example.test",), "2026-01-01T00:00:00+00:00", 0.0,
        dns=(DomainDns("example.test", MxStatus.FOUND, "ok", 1.0, mx=(MX1, MX2)),),
        ports=(port(MX1, 25, PortState.OPEN), mx25, submission),
    )  # fmt: skip
    found = {f.code: f for f in judge(report).findings}
    assert "PORT25-MX-NOT-OPEN" not in found and "PORT-FILTERED" not in found
    note = found["PORT-SILENT-BUSY-PATH"]
    assert sorted(note.places) == ["mx2.example.test [203.0.113.26]:25", "mx2.example.test [203.0.113.26]:587"]
    assert note.evidence == (
        "no answer to 6 tries in 2 rounds; the address had answered earlier in the run, and this port on its "
        "network answered only a retry shortly before"
    )
    assert note.severity is Severity.INFO


def test_a_session_that_found_no_answer_on_a_busy_path_is_the_same_note() -> None:
    target = Target("203.0.113.26", "203.0.113.26", 993, Service.IMAPS)
    silent = HandshakeResult(target, ProbeStatus.CONNECT_TIMEOUT, "no answer to the TCP handshake (2 tries)", 250.0)
    stalled = replace(silent, busy_path=BusyPath.STALLED_SESSIONS)
    report = Report("handshake", ("203.0.113.26",), "2026-01-01T00:00:00+00:00", 0.0, handshakes=(silent,))
    assert [f.code for f in judge(report).findings] == ["PORT-FILTERED"]
    [note] = judge(replace(report, handshakes=(stalled,))).findings
    assert note.code == "PORT-SILENT-BUSY-PATH" and note.places == ("203.0.113.26:993",)
    assert note.evidence == (
        "no answer to the TCP handshake (2 tries); the address had answered earlier in the run, and a session "
        "to this port on its network stalled shortly before"
    )
