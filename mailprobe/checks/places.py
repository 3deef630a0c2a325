"""Subjects the protocol and TLS checks judge, and how a place is written in findings."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from mailprobe.model import Category, HandshakeResult, ProbeStatus, Protocol, Report, Service


def place(h: HandshakeResult) -> str:
    """'mx1.example.org [203.0.113.25]:25/smtp', or '203.0.113.25:25/smtp' when probed by address."""
    t = h.target
    host = t.address if t.host == t.address else f"{t.host} [{t.address}]"
    return f"{host}:{t.port}/{t.service.value}"


def host_of(h: HandshakeResult) -> str:
    return h.target.host


def category_of(h: HandshakeResult) -> Category:
    """A protocol's own category: each protocol of the service registry has a category of its name."""
    return Category(h.target.service.protocol.value)


NOT_PROBED = (ProbeStatus.ERROR, ProbeStatus.BLOCKED)  # no verdict on the server: counted as could-not-probe


def handshakes(report: Report) -> Iterator[HandshakeResult]:
    """Sessions that reached a verdict-worthy end (not refused by the guard, not a crash of mailprobe's own)."""
    yield from (h for h in report.handshakes if h.status not in NOT_PROBED)


def greeted(report: Report) -> Iterator[HandshakeResult]:
    """Handshakes where a server answered with a greeting (what protocol checks can judge)."""
    yield from (h for h in report.handshakes if h.greeting_code)


def of_protocol(protocol: Protocol) -> Callable[[Report], Iterator[HandshakeResult]]:
    def subjects(report: Report) -> Iterator[HandshakeResult]:
        yield from (h for h in report.handshakes if h.greeting_code and h.target.service.protocol is protocol)

    return subjects


def of_service(*services: Service) -> Callable[[Report], Iterator[HandshakeResult]]:
    def subjects(report: Report) -> Iterator[HandshakeResult]:
        yield from (h for h in report.handshakes if h.greeting_code and h.target.service in services)

    return subjects
