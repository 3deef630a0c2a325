"""Reachability against the real lab: port states under each router policy, in connect and raw mode, checked
against `nmap -sT` and `nmap -sS` on the same targets, and the trace (egress verdicts: test_egress_lab.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.lab

MAIL_PORTS = [25, 587, 465, 110, 995, 143, 993]
CLOSED_PORT = 2525  # nothing listens there: the server's own RST
SCAN_PORTS = [*MAIL_PORTS, CLOSED_PORT]

SCAN_SCRIPT = """
import asyncio, dataclasses, json, sys
from mailprobe.config import Config, Limits
from mailprobe.probes.ports import scan_all, syn_scan
targets = [tuple(t) for t in json.loads(sys.argv[1])]
ports = json.loads(sys.argv[2])
scan = syn_scan if sys.argv[3] == "raw" else scan_all
results = asyncio.run(scan(targets, ports, Config(limits=Limits(connect_timeout=2.0))))
print(json.dumps([dataclasses.asdict(r) for r in results]))
"""


@pytest.fixture(scope="module")
def reach_lab(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The shared lab (conftest's `lab`) when there is one, else one for this module."""
    try:
        lab = request.getfixturevalue("lab")
        owned = None
    except pytest.FixtureLookupError:
        from labnet import Lab, LabUnavailable

        try:
            owned = lab = Lab.up()
        except LabUnavailable as exc:
            pytest.skip(f"lab unavailable: {exc}")
    # Routers rate-limit ICMP errors (1/s per peer after a burst); nmap and mailprobe probing the same
    # ports back to back must each get their ICMP, or the comparison is between two samples of a lottery.
    subprocess.run(
        ["ip", "netns", "exec", lab.router_ns, "sysctl", "-q", "-w",
         "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0"],
        check=True,
    )  # fmt: skip
    try:
        yield lab
    finally:
        lab.set_policy("open")
        if owned is not None:
            owned.down()


@pytest.fixture
def policy(reach_lab: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    reach_lab.set_policy(request.param)
    try:
        yield request.param
    finally:
        reach_lab.set_policy("open")


def mailprobe_scan(lab: Any, targets: list[tuple[str, str]], mode: str) -> dict[tuple[str, int], dict[str, Any]]:
    done = lab.run_client([sys.executable, "-c", SCAN_SCRIPT, json.dumps(targets), json.dumps(SCAN_PORTS), mode])
    assert done.returncode == 0, done.stderr[-3000:]
    return {(r["address"], r["port"]): r for r in json.loads(done.stdout.strip().splitlines()[-1])}


def nmap_scan(lab: Any, kind: str, addresses: list[str]) -> dict[tuple[str, int], tuple[str, str]]:
    """nmap's (state, reason) per (address, port); one run per address family."""
    found: dict[tuple[str, int], tuple[str, str]] = {}
    for family in ("4", "6"):
        chosen = [a for a in addresses if (":" in a) == (family == "6")]
        if not chosen:
            continue
        argv = ["nmap", kind, "-Pn", "-n", "-T4", "--reason", "-oX", "-", "-p", ",".join(map(str, SCAN_PORTS))]
        done = lab.run_client([*argv, *(["-6"] if family == "6" else []), *chosen], timeout=120)
        assert done.returncode == 0, done.stderr
        for host in ET.fromstring(done.stdout).iter("host"):
            address = host.find("address").get("addr")  # type: ignore[union-attr]
            for port in host.iter("port"):
                state = port.find("state")
                assert state is not None
                found[(str(address), int(port.get("portid", "0")))] = (state.get("state", ""), state.get("reason", ""))
    return found


def as_nmap(state: str) -> str:
    """nmap calls an ICMP-rejected port filtered; mailprobe says unreachable and names the sender."""
    return "filtered" if state == "unreachable" else state


EXPECTED_25 = {
    "open": "open",
    "drop-25": "filtered",
    "reset-25": "closed",
    "icmp-25": "unreachable",
    "dnat-25": "open",
    "drop-mail": "filtered",
}


@pytest.mark.parametrize("policy", list(EXPECTED_25), indirect=True)
def test_port_states_match_nmap(reach_lab: Any, policy: str) -> None:
    lab = reach_lab
    targets = [("mx1.lab.test", lab.mail4), ("mx1.lab.test", lab.mail6)]
    addresses = [lab.mail4, lab.mail6]
    connect = mailprobe_scan(lab, targets, "connect")
    raw = mailprobe_scan(lab, targets, "raw")
    nmap_connect = nmap_scan(lab, "-sT", addresses)
    nmap_syn = nmap_scan(lab, "-sS", addresses)

    for address in addresses:
        # What the policy says, independently of any tool.
        assert connect[(address, 25)]["state"] == EXPECTED_25[policy], connect[(address, 25)]
        assert raw[(address, 25)]["state"] == EXPECTED_25[policy], raw[(address, 25)]
        other = "filtered" if policy == "drop-mail" else "open"
        for port in MAIL_PORTS[1:]:
            assert connect[(address, port)]["state"] == other
        assert connect[(address, CLOSED_PORT)]["state"] == "closed"
        assert raw[(address, CLOSED_PORT)]["state"] == "closed"

    # Every port agrees with nmap, connect scan with -sT and SYN scan with -sS.
    for key in connect:
        assert as_nmap(connect[key]["state"]) == nmap_connect[key][0], (key, connect[key], nmap_connect[key])
        assert as_nmap(raw[key]["state"]) == nmap_syn[key][0], (key, raw[key], nmap_syn[key])
    assert len(connect) == len(nmap_connect) == len(raw) == len(nmap_syn) == 2 * len(SCAN_PORTS)


@pytest.mark.parametrize("policy", ["icmp-25"], indirect=True)
def test_icmp_reject_is_read_from_the_error_queue(reach_lab: Any, policy: str) -> None:
    lab = reach_lab
    connect = mailprobe_scan(lab, [("mx1", lab.mail4), ("mx1", lab.mail6)], "connect")
    v4, v6 = connect[(lab.mail4, 25)], connect[(lab.mail6, 25)]
    assert v4["icmp"] == {"type": 3, "code": 13, "sender": "198.51.100.1", "description": "admin-prohibited"}
    assert v4["reason"] == "admin-prohibited from 198.51.100.1"
    assert v6["icmp"] == {"type": 1, "code": 1, "sender": "2001:db8:100::1", "description": "admin-prohibited"}


@pytest.mark.parametrize("policy", ["reset-25"], indirect=True)
def test_raw_mode_sees_the_routers_reset_by_its_ttl(reach_lab: Any, policy: str) -> None:
    lab = reach_lab
    raw = mailprobe_scan(lab, [("mx1", lab.mail4)], "raw")
    forged, genuine, syn_ack = raw[(lab.mail4, 25)], raw[(lab.mail4, CLOSED_PORT)], raw[(lab.mail4, 587)]
    assert forged["reason"] == "reset" and forged["ttl"] == 64  # the router, zero hops from us
    assert genuine["ttl"] == syn_ack["ttl"] == 63  # the server, one router away
    assert syn_ack["reason"] == "syn-ack" and syn_ack["ip_id"] is not None


@pytest.mark.parametrize(
    ("policy", "diverges", "words"),
    [("open", None, "same answer"), ("drop-25", 2, "no answer"), ("icmp-25", 2, "admin-prohibited")],
    indirect=["policy"],
)
def test_trace_shows_where_port_25_parts_from_the_control_port(
    reach_lab: Any, policy: str, diverges: int | None, words: str
) -> None:
    done = reach_lab.mailprobe(
        "trace", "mx1.lab.test", "--resolver", reach_lab.dns4, "--port", "25", "--control-port", "587",
        "--max-hops", "4", "--timeout", "1", "--json", timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["diverged_at"] == diverges, result
    assert words in result["summary"]
    assert result["hops"][0]["probe"]["kind"] == "time-exceeded"
    assert result["hops"][0]["probe"]["responder"] == "198.51.100.1"
