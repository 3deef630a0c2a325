"""egress() end to end on loopback (port "25" is a spare port here), and the findings it turns into."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from mailprobe.checks.catalogue import lookup
from mailprobe.checks.reach import check_egress, check_ports
from mailprobe.config import Config, Limits, Resolver
from mailprobe.model import EgressResult, PortResult, PortState
from mailprobe.probes.egress import egress


@pytest.fixture
def control() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


def spare_port(kind: int = socket.SOCK_STREAM) -> int:
    sock = socket.socket(socket.AF_INET, kind)
    sock.bind(("127.0.0.1", 0))
    number: int = sock.getsockname()[1]
    sock.close()
    return number


def test_reset_on_the_smtp_port_while_the_control_port_connects(control: int) -> None:
    result = asyncio.run(egress(Config(), ["127.0.0.1"], [control], raw=False, smtp_port=spare_port()))
    assert result.verdict == "blocked-reset"
    states = {r.port: r.state for r in result.ports}
    assert states[control] is PortState.OPEN
    assert sorted(states.values()) == sorted([PortState.OPEN, PortState.CLOSED])


def test_everything_refused_is_all_blocked() -> None:
    result = asyncio.run(egress(Config(), ["127.0.0.1"], [spare_port()], raw=False, smtp_port=spare_port()))
    assert result.verdict == "all-blocked"


def test_unresolvable_target_is_reported_and_the_rest_continues(control: int) -> None:
    dead_resolver = Resolver("127.0.0.1", spare_port(socket.SOCK_DGRAM))  # nothing answers DNS there
    cfg = Config(resolver=dead_resolver, limits=Limits(connect_timeout=1.0))
    result = asyncio.run(egress(cfg, ["mx.nowhere.test", "127.0.0.1"], [control], raw=False, smtp_port=spare_port()))
    assert result.verdict == "blocked-reset"
    assert result.evidence[0].startswith("mx.nowhere.test: ")
    assert {r.host for r in result.ports} == {"127.0.0.1"}


def test_nothing_resolves() -> None:
    cfg = Config(resolver=Resolver("127.0.0.1", spare_port(socket.SOCK_DGRAM)), limits=Limits(connect_timeout=1.0))
    result = asyncio.run(egress(cfg, ["mx.nowhere.test"], [443], raw=False))
    assert result.verdict == "inconclusive"
    assert "no target could be resolved" in result.explanation


def test_egress_findings() -> None:
    assert check_egress(EgressResult("open", "fine", ())) == []
    [blocked] = check_egress(EgressResult("blocked-drop", "Port 25 is dropped.", ("a", "b")))
    assert blocked.code == "PORT25-BLOCKED"
    assert blocked.title.endswith("(blocked-drop)")
    assert blocked.evidence == "Port 25 is dropped. Evidence: a | b"
    codes = {v: check_egress(EgressResult(v, "x", ()))[0].code for v in ("intercepted", "all-blocked", "inconclusive")}
    assert codes == {
        "intercepted": "PORT25-INTERCEPTED",
        "all-blocked": "EGRESS-ALL-BLOCKED",
        "inconclusive": "EGRESS-INCONCLUSIVE",
    }
    assert lookup("port25-blocked") is not None


def test_port_findings_group_by_address_and_state() -> None:
    results = [
        PortResult("mx", "203.0.113.25", 25, PortState.OPEN, "syn-ack", 1.0),
        PortResult("mx", "203.0.113.25", 110, PortState.CLOSED, "conn-refused", 1.0),
        PortResult("mx", "203.0.113.25", 143, PortState.CLOSED, "conn-refused", 1.0),
        PortResult("mx", "203.0.113.25", 587, PortState.FILTERED, "no-response", 1.0),
        PortResult("203.0.113.9", "203.0.113.9", 25, PortState.UNREACHABLE, "admin-prohibited from 198.51.100.1", 1.0),
        PortResult("x", "203.0.113.1", 25, PortState.ERROR, "refused by safety guard", 0.0),
    ]
    found = {(f.code, f.target): f for f in check_ports(results)}
    assert set(found) == {
        ("PORT-CLOSED", "mx [203.0.113.25]"),
        ("PORT-FILTERED", "mx [203.0.113.25]"),
        ("PORT-UNREACHABLE", "203.0.113.9"),
    }
    assert found[("PORT-CLOSED", "mx [203.0.113.25]")].evidence == "ports 110, 143: conn-refused"
    assert found[("PORT-UNREACHABLE", "203.0.113.9")].evidence == "port 25: admin-prohibited from 198.51.100.1"
