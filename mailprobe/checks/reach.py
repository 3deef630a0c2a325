"""Checks of port states: ports that do not answer, MX hosts that do not take mail on 25. Pure functions.

A port that is closed (or filtered) is a port state, whether the port stage saw it or a handshake found it
so: a service that is simply not offered is a note, never a failed handshake. What a profile expects
blocked is a pass.
"""

from __future__ import annotations

from collections.abc import Iterator

from mailprobe.checks.catalogue import FindingKind, finding
from mailprobe.checks.defs import expectations as x
from mailprobe.checks.defs import reach as r
from mailprobe.checks.framework import Check
from mailprobe.checks.places import place
from mailprobe.model import (
    BusyPath,
    Category,
    Finding,
    HandshakeResult,
    PortResult,
    PortState,
    ProbeStatus,
    Report,
)

_BY_STATE: dict[PortState, FindingKind] = {
    PortState.CLOSED: r.PORT_CLOSED,
    PortState.FILTERED: r.PORT_FILTERED,
    PortState.UNREACHABLE: r.PORT_UNREACHABLE,
}
# A handshake that never got a connection says what a port probe would have said.
_STATUS_STATE = {
    ProbeStatus.REFUSED: PortState.CLOSED,
    ProbeStatus.CONNECT_TIMEOUT: PortState.FILTERED,
    ProbeStatus.UNREACHABLE: PortState.UNREACHABLE,
}


def _target(p: PortResult) -> str:
    return p.host if p.host and p.host != p.address else p.address


def _where(p: PortResult) -> str:
    host = p.address if not p.host or p.host == p.address else f"{p.host} [{p.address}]"
    return f"{host}:{p.port}"


def _blocked_expected(report: Report, port: int) -> bool:
    expect = report.context.expect
    return expect is not None and port in expect.blocked_ports


NOT_PROBED = (PortState.ERROR, PortState.BLOCKED)  # no verdict on the port: counted as could-not-probe instead


def ports(report: Report) -> Iterator[PortResult]:
    yield from (p for p in report.ports if p.state not in NOT_PROBED)


def port_label(p: PortResult) -> str:
    return _where(p)


def _port_state(report: Report, p: PortResult) -> Iterator[Finding]:
    kind = _BY_STATE.get(p.state)
    if kind is None or (p.port == 25 and _is_mx_address(report, p)):
        return  # an MX's port 25 is judged by mx-port-25: one problem, one finding
    if _blocked_expected(report, p.port):
        yield finding(x.EXPECTED_BLOCKED_SEEN, _target(p), f"{p.state.value}: {p.reason}", places=(_where(p),))
        return
    if p.state is PortState.FILTERED and p.busy_path is not None:
        yield finding(r.PORT_SILENT_BUSY, _target(p), busy_evidence(p, p.busy_path), places=(_where(p),))
        return
    yield finding(kind, _target(p), p.reason, places=(_where(p),), title=f"{kind.title}")


def busy_words(busy: BusyPath) -> str:
    """No port number in the words: the places name it, and one busy network is one finding."""
    return f"the address had answered earlier in the run, and {busy.seen}"


def busy_evidence(p: PortResult, busy: BusyPath) -> str:
    rounds = f" in {p.rounds} rounds" if p.rounds > 1 else ""
    return f"no answer to {p.attempts} tries{rounds}; {busy_words(busy)}"


def unprobed_handshakes(report: Report) -> Iterator[HandshakeResult]:
    """Handshakes that found the port not open, where no port result says so already."""
    probed = {(p.address, p.port) for p in report.ports}
    for h in report.handshakes:
        if h.status in _STATUS_STATE and (h.target.address, h.target.port) not in probed:
            yield h


def _handshake_port(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    state = _STATUS_STATE[h.status]
    where = f"{place(h).rsplit('/', 1)[0]}"
    if _blocked_expected(report, h.target.port):
        yield finding(x.EXPECTED_BLOCKED_SEEN, h.target.host, f"{state.value}: {h.reason}", places=(where,))
        return
    if h.busy_path is not None:
        evidence = f"{h.reason}; {busy_words(h.busy_path)}"
        yield finding(r.PORT_SILENT_BUSY, h.target.host, evidence, places=(where,))
        return
    yield finding(_BY_STATE[state], h.target.host, h.reason, places=(where,))


def _is_mx_address(report: Report, p: PortResult) -> bool:
    return any(mx.name == p.host and p.address in mx.addresses for d in report.dns for mx in d.mx)


def mx_port25(report: Report) -> Iterator[PortResult]:
    """Port 25 of every probed MX address (judged only where port 25 was probed)."""
    yield from (p for p in ports(report) if p.port == 25 and _is_mx_address(report, p))


SILENT = (PortState.FILTERED, PortState.UNREACHABLE)


def answered_elsewhere(report: Report) -> tuple[PortResult, ...]:
    """When port 25 went unanswered at every address probed while other ports of those addresses answered,
    those answering ports (the pattern of this network blocking outbound 25); else ()."""
    on25 = [p for p in ports(report) if p.port == 25]
    if not on25 or any(p.state not in SILENT for p in on25):
        return ()
    addresses = {p.address for p in on25}
    return tuple(p for p in report.ports if p.port != 25 and p.address in addresses and p.state is PortState.OPEN)


def _mx_takes_mail(report: Report, p: PortResult) -> Iterator[Finding]:
    if p.state is PortState.OPEN:
        return
    if _blocked_expected(report, 25):
        yield finding(x.EXPECTED_BLOCKED_SEEN, _target(p), f"{p.state.value}: {p.reason}", places=(_where(p),))
        return
    elsewhere = answered_elsewhere(report)
    if elsewhere:  # no evidence about the MX: port 25 of every address was silent, other ports were not
        silent = ", ".join(sorted({q.address for q in ports(report) if q.port == 25}))
        answering = ", ".join(str(n) for n in sorted({q.port for q in elsewhere}))
        evidence = f"port 25 {p.state.value} at {silent}; ports {answering} of the same addresses answered"
        yield finding(r.PORT25_NOT_TESTED_HERE, _target(p), evidence, places=(_where(p),))
        return
    if p.state is PortState.FILTERED and p.busy_path is not None:  # no evidence the MX refuses mail: a busy path
        yield finding(r.PORT_SILENT_BUSY, _target(p), busy_evidence(p, p.busy_path), places=(_where(p),))
        return
    yield finding(r.MX_PORT25, _target(p), f"port 25 {p.state.value} ({p.reason})", places=(_where(p),))


CHECKS: tuple[Check[PortResult] | Check[HandshakeResult], ...] = (
    Check("port-state", Category.REACH, ports, port_label, _port_state),
    Check("handshake-port-state", Category.REACH, unprobed_handshakes, place, _handshake_port),
    Check("mx-port-25", Category.REACH, mx_port25, port_label, _mx_takes_mail),
)
