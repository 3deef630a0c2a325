"""A profile's expectations, judged like any other check (Report.context.expect holds them). Pure functions."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mailprobe.checks.catalogue import finding
from mailprobe.checks.defs import expectations as x
from mailprobe.checks.framework import Check
from mailprobe.checks.places import greeted, place
from mailprobe.checks.reach import busy_words, port_label, ports
from mailprobe.model import Category, Finding, HandshakeResult, PortResult, PortState, Report, StartTlsOutcome
from mailprobe.profiles import TLS_VERSIONS


def expected_ports(report: Report) -> Iterator[PortResult]:
    expect = report.context.expect
    if expect is None:
        return
    wanted = {*expect.open_ports, *expect.blocked_ports}
    yield from (p for p in ports(report) if p.port in wanted)


def _port(report: Report, p: PortResult) -> Iterator[Finding]:
    expect = report.context.expect
    assert expect is not None
    where, is_open = port_label(p), p.state is PortState.OPEN
    if p.port in expect.open_ports and not is_open:
        busy = f" ({busy_words(p.busy_path)})" if p.busy_path is not None else ""
        yield finding(x.EXPECTED_OPEN, p.address, f"{p.state.value}: {p.reason}{busy}", places=(where,))
    if p.port in expect.blocked_ports and is_open:
        yield finding(x.EXPECTED_BLOCKED_OPEN, p.address, f"{p.state.value}: {p.reason}", places=(where,))


def expected_handshakes(report: Report) -> Iterator[HandshakeResult]:
    if report.context.expect is not None:
        yield from greeted(report)


def _handshake(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    expect = report.context.expect
    assert expect is not None
    where, host, service = place(h), h.target.host, h.target.service.value
    if expect.starttls_required and not h.target.service.implicit_tls and h.starttls is not StartTlsOutcome.OK:
        yield finding(x.STARTTLS_REQUIRED, host, f"STARTTLS {h.starttls.value}", places=(where,))
    if h.tls is not None and expect.min_tls_version is not None:
        version = "TLSv1" if h.tls.version == "TLSv1.0" else h.tls.version
        if version in TLS_VERSIONS and TLS_VERSIONS.index(version) < TLS_VERSIONS.index(expect.min_tls_version):
            evidence = f"negotiated {h.tls.version}, profile wants {expect.min_tls_version}"
            yield finding(x.TLS_TOO_OLD, host, evidence, places=(where,))
    leaf = h.tls.leaf if h.tls is not None else None
    if leaf is not None and expect.cert_min_days is not None and leaf.days_left < expect.cert_min_days:
        evidence = f"{leaf.days_left} days left, profile wants {expect.cert_min_days}"
        yield finding(x.CERT_DAYS, host, evidence, places=(where,))
    offered = {c.keyword for c in (h.capabilities_after or h.capabilities_before)}
    for keyword in dict(expect.capabilities).get(service, ()):
        if keyword.upper() not in offered:
            evidence = f"{keyword} not among: {' '.join(sorted(offered))}"
            yield finding(x.CAPABILITY_MISSING, host, evidence, places=(where,))
    pattern = dict(expect.banner_patterns).get(service)
    if pattern is not None and re.search(pattern, h.banner) is None:
        yield finding(x.BANNER_MISMATCH, host, f"{h.banner!r} does not match /{pattern}/", places=(where,))


CHECKS: tuple[Check[PortResult] | Check[HandshakeResult], ...] = (
    Check("expected-ports", Category.EXPECTATIONS, expected_ports, port_label, _port),
    Check("expected-handshakes", Category.EXPECTATIONS, expected_handshakes, place, _handshake),
)
