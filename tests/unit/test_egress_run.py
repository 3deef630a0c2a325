"""egress_run() end to end on loopback (port "25" is a spare port here), and the findings it turns into."""

from __future__ import annotations

import asyncio
import socket

from judging import findings

from mailprobe.config import Config, Limits, Resolver
from mailprobe.model import PortResult, PortState
from mailprobe.probes.egress import egress_run


def spare_port(kind: int = socket.SOCK_STREAM) -> int:
    sock = socket.socket(socket.AF_INET, kind)
    sock.bind(("127.0.0.1", 0))
    number: int = sock.getsockname()[1]
    sock.close()
    return number


def test_reset_on_the_smtp_port_while_the_control_port_connects(control: int) -> None:
    result = asyncio.run(egress_run(Config(), ["127.0.0.1"], [control], raw=False, smtp_port=spare_port()))[0]
    assert result.verdict == "blocked-reset"
    states = {r.port: r.state for r in result.ports}
    assert states[control] is PortState.OPEN
    assert sorted(states.values()) == sorted([PortState.OPEN, PortState.CLOSED])


def test_everything_refused_is_all_blocked() -> None:
    result = asyncio.run(egress_run(Config(), ["127.0.0.1"], [spare_port()], raw=False, smtp_port=spare_port()))[0]
    assert result.verdict == "all-blocked"


def test_unresolvable_target_is_reported_and_the_rest_continues(control: int) -> None:
    dead_resolver = Resolver("127.0.0.1", spare_port(socket.SOCK_DGRAM))  # nothing answers DNS there
    cfg = Config(resolver=dead_resolver, limits=Limits(connect_timeout=1.0))
    targets = ["mx.nowhere.test", "127.0.0.1"]
    result, _ = asyncio.run(egress_run(cfg, targets, [control], raw=False, smtp_port=spare_port()))
    assert result.verdict == "blocked-reset"
    assert result.evidence[0].startswith("mx.nowhere.test: ")
    assert {r.host for r in result.ports} == {"127.0.0.1"}


def test_nothing_resolves() -> None:
    cfg = Config(resolver=Resolver("127.0.0.1", spare_port(socket.SOCK_DGRAM)), limits=Limits(connect_timeout=1.0))
    result = asyncio.run(egress_run(cfg, ["mx.nowhere.test"], [443], raw=False))[0]
    assert result.verdict == "inconclusive"
    assert "no target could be resolved" in result.explanation


def test_port_findings_are_one_per_problem_with_every_place() -> None:
    results = [
        PortResult("mx", "203.0.113.25", 25, PortState.OPEN, "syn-ack", 1.0),
        PortResult("mx", "203.0.113.25", 110, PortState.CLOSED, "conn-refused", 1.0),
        PortResult("mx", "203.0.113.25", 143, PortState.CLOSED, "conn-refused", 1.0),
        PortResult("mx2", "203.0.113.26", 143, PortState.CLOSED, "conn-refused", 1.0),
        PortResult("mx", "203.0.113.25", 587, PortState.FILTERED, "no-response", 1.0),
        PortResult("203.0.113.9", "203.0.113.9", 25, PortState.UNREACHABLE, "admin-prohibited from 198.51.100.1", 1.0),
        PortResult("x", "203.0.113.1", 25, PortState.ERROR, "refused by safety guard", 0.0),
    ]
    found = {f.code: f for f in findings(ports=results)}
    assert set(found) == {"PORT-CLOSED", "PORT-FILTERED", "PORT-UNREACHABLE"}
    closed = found["PORT-CLOSED"]
    assert closed.places == ("mx [203.0.113.25]:110", "mx [203.0.113.25]:143", "mx2 [203.0.113.26]:143")
    assert (closed.target, closed.evidence) == ("mx, mx2", "conn-refused")
    assert found["PORT-UNREACHABLE"].evidence == "admin-prohibited from 198.51.100.1"
