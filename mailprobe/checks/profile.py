"""A profile's expectations, applied to a report: what was expected becomes a pass, what was not a finding."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from mailprobe.checks.catalogue import define, finding
from mailprobe.checks.handshake import _label
from mailprobe.checks.reach import check_egress, check_mx_port25, check_ports
from mailprobe.model import Finding, PortState, Report, Severity, StartTlsOutcome
from mailprobe.profiles import TLS_VERSIONS, Profile

EXPECTED_OPEN = define(
    "PROFILE-PORT-NOT-OPEN",
    Severity.HIGH,
    "A port the profile expects open is not open",
    "The profile says this port must accept connections; it did not.",
    "Open the port in the firewall and make sure the service listens on it, or fix the profile.",
)
EXPECTED_BLOCKED_SEEN = define(
    "PROFILE-EXPECTED-BLOCKED",
    Severity.INFO,
    "Port blocked, as the profile expects",
    "The network this runs on blocks the port and the profile says so: not a failure.",
    "Nothing to do; remove the port from expect_blocked when the network changes.",
)
EXPECTED_BLOCKED_OPEN = define(
    "PROFILE-BLOCKED-PORT-OPEN",
    Severity.MEDIUM,
    "A port the profile expects blocked is open",
    "The profile says this network blocks the port, but it connected: the network changed.",
    "Update the profile (remove the port from expect_blocked) if the change is intended.",
)
STARTTLS_REQUIRED = define(
    "PROFILE-STARTTLS-MISSING",
    Severity.HIGH,
    "STARTTLS required by the profile but not in use",
    "The profile requires every plaintext service to upgrade to TLS; this one did not.",
    "Enable STARTTLS with a valid certificate on the service.",
)
TLS_TOO_OLD = define(
    "PROFILE-TLS-VERSION",
    Severity.HIGH,
    "TLS version below the profile's minimum",
    "The negotiated TLS version is older than the profile allows.",
    "Enable newer TLS versions on the server (TLS 1.2 and 1.3).",
)
CERT_DAYS = define(
    "PROFILE-CERT-DAYS",
    Severity.HIGH,
    "Certificate expires sooner than the profile allows",
    "The profile wants more days of validity left than the certificate has.",
    "Renew the certificate.",
)
CAPABILITY_MISSING = define(
    "PROFILE-CAPABILITY-MISSING",
    Severity.MEDIUM,
    "A capability the profile expects is not offered",
    "The profile lists capabilities this service must offer; one is missing.",
    "Enable the capability on the server, or fix the profile.",
)
BANNER_MISMATCH = define(
    "PROFILE-BANNER-MISMATCH",
    Severity.MEDIUM,
    "Greeting does not match the profile's pattern",
    "The server's greeting does not match the regular expression the profile pins.",
    "Check which server answers (a changed banner can mean a changed or intercepted server).",
)

# Findings that a port in expect_blocked makes moot: the network's block is known and accepted.
_BLOCK_CODES = ("PORT-", "PORT25-", "EGRESS-")


def apply_profile(report: Report, prof: Profile) -> Iterator[Finding]:
    expect = prof.expect
    blocked = set(expect.blocked_ports)
    if blocked:
        # A block the profile expects is a pass: judge the ports again without the expected-blocked ones.
        ports = [p for p in report.ports if p.port not in blocked or p.state is PortState.OPEN]
        kept = [f for f in report.findings if not f.code.startswith(_BLOCK_CODES)]
        kept += check_ports(ports) + check_mx_port25(replace(report, ports=tuple(ports)))
        if 25 not in blocked and report.egress is not None:
            kept += check_egress(report.egress)
    else:
        kept = list(report.findings)
    yield from kept
    yield from _ports(report, prof)
    yield from _handshakes(report, prof)


def _ports(report: Report, prof: Profile) -> Iterator[Finding]:
    for result in report.ports:
        where = f"{result.address}:{result.port}"
        is_open = result.state is PortState.OPEN
        if result.port in prof.expect.open_ports and not is_open:
            yield finding(EXPECTED_OPEN, where, f"{result.state.value}: {result.reason}")
        if result.port in prof.expect.blocked_ports:
            kind = EXPECTED_BLOCKED_OPEN if is_open else EXPECTED_BLOCKED_SEEN
            yield finding(kind, where, f"{result.state.value}: {result.reason}")


def _handshakes(report: Report, prof: Profile) -> Iterator[Finding]:
    expect = prof.expect
    capabilities = dict(expect.capabilities)
    banners = dict(expect.banner_patterns)
    for h in report.handshakes:
        where = _label(h)
        service = h.target.service.value
        if expect.starttls_required and not h.target.service.implicit_tls and h.starttls is not StartTlsOutcome.OK:
            yield finding(STARTTLS_REQUIRED, where, f"STARTTLS {h.starttls.value}")
        if h.tls is not None and expect.min_tls_version is not None:
            version = "TLSv1" if h.tls.version == "TLSv1.0" else h.tls.version
            if version in TLS_VERSIONS and TLS_VERSIONS.index(version) < TLS_VERSIONS.index(expect.min_tls_version):
                yield finding(TLS_TOO_OLD, where, f"negotiated {h.tls.version}, profile wants {expect.min_tls_version}")
        leaf = h.tls.leaf if h.tls is not None else None
        if leaf is not None and expect.cert_min_days is not None and leaf.days_left < expect.cert_min_days:
            yield finding(CERT_DAYS, where, f"{leaf.days_left} days left, profile wants {expect.cert_min_days}")
        wanted = capabilities.get(service, ())
        offered = {c.keyword for c in (h.capabilities_after or h.capabilities_before)}
        for keyword in wanted:
            if h.greeting_code and keyword.upper() not in offered:
                yield finding(CAPABILITY_MISSING, where, f"{keyword} not among: {' '.join(sorted(offered))}")
        pattern = banners.get(service)
        if pattern is not None and h.greeting_code and re.search(pattern, h.banner) is None:
            yield finding(BANNER_MISMATCH, where, f"{h.banner!r} does not match /{pattern}/")
