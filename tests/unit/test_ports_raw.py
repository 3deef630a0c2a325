"""Raw-mode answers and the traceroute comparison, on crafted scapy packets (nothing is sent)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from scapy.layers.inet import ICMP, IP, TCP, IPerror, TCPerror
from scapy.layers.inet6 import ICMPv6DestUnreach, ICMPv6TimeExceeded, IPv6

from mailprobe.model import PortState, Service
from mailprobe.net.raw import classify_answer
from mailprobe.net.trace import NO_ANSWER, TIME_EXCEEDED, Hop, HopAnswer, answer_from_packet, compare_paths, trim
from mailprobe.protocols.ttl import hop_distance, initial_ttl


def classify(packet: object) -> tuple[PortState, str, int | None, int | None]:
    r = classify_answer("mx", "203.0.113.25", 25, packet, 0.0123, 1, Service.SMTP)
    return r.state, r.reason, r.ttl, r.ip_id


def test_syn_ack_is_open_with_ttl_and_ip_id() -> None:
    packet = IP(src="203.0.113.25", ttl=63, id=4321) / TCP(sport=25, flags="SA")
    assert classify(packet) == (PortState.OPEN, "syn-ack", 63, 4321)


def test_rst_is_closed() -> None:
    packet = IP(src="203.0.113.25", ttl=64, id=0) / TCP(sport=25, flags="RA")
    assert classify(packet)[:3] == (PortState.CLOSED, "reset", 64)


def test_icmp_admin_prohibited_names_its_sender() -> None:
    quoted = IPerror(src="198.51.100.2", dst="203.0.113.25") / TCPerror(dport=25, flags="S")
    packet = IP(src="198.51.100.1", ttl=64) / ICMP(type=3, code=13) / quoted
    r = classify_answer("mx", "203.0.113.25", 25, packet, 0.001, 2, None)
    assert r.state is PortState.UNREACHABLE
    assert r.reason == "admin-prohibited from 198.51.100.1"
    assert r.icmp is not None and (r.icmp.type, r.icmp.code, r.icmp.sender) == (3, 13, "198.51.100.1")
    assert r.attempts == 2


def test_ipv6_answers() -> None:
    syn_ack = IPv6(src="2001:db8:113::25", hlim=63) / TCP(sport=25, flags="SA")
    assert classify(syn_ack) == (PortState.OPEN, "syn-ack", 63, None)
    reject = IPv6(src="2001:db8:51::1", hlim=64) / ICMPv6DestUnreach(code=1) / IPv6(dst="2001:db8:113::25") / TCP()
    state, reason, _ttl, _id = classify(reject)
    assert (state, reason) == (PortState.UNREACHABLE, "admin-prohibited from 2001:db8:51::1")


def test_initial_ttl_and_distance() -> None:
    assert [initial_ttl(t) for t in (1, 32, 33, 64, 100, 128, 200, 255)] == [32, 32, 64, 64, 128, 128, 255, 255]
    assert hop_distance(63) == 1
    assert hop_distance(64) == 0
    assert hop_distance(116) == 12


def test_time_exceeded_hop() -> None:
    v4 = IP(src="198.51.100.1", ttl=64) / ICMP(type=11, code=0) / IPerror(dst="203.0.113.25") / TCPerror(dport=25)
    assert answer_from_packet(v4, 0.002) == HopAnswer(TIME_EXCEEDED, "198.51.100.1", 64, 2.0)
    v6 = IPv6(src="2001:db8:51::1", hlim=64) / ICMPv6TimeExceeded() / IPv6(dst="2001:db8:113::25") / TCP()
    assert answer_from_packet(v6, 0.001).kind == TIME_EXCEEDED
    end = answer_from_packet(IP(src="203.0.113.25", ttl=63) / TCP(flags="SA"), 0.003)
    assert (end.kind, end.final) == ("syn-ack", True)


ROUTER = HopAnswer(TIME_EXCEEDED, "198.51.100.1", 64, 1.0)
SERVER = HopAnswer("syn-ack", "203.0.113.25", 63, 2.0)
SILENT = HopAnswer(NO_ANSWER)


def test_same_paths_do_not_diverge() -> None:
    hops = trim([Hop(1, ROUTER, ROUTER), Hop(2, SERVER, SERVER), Hop(3, SERVER, SERVER)])
    assert [h.ttl for h in hops] == [1, 2]
    assert compare_paths(hops, 25, 443) == (None, "ports 25 and 443 get the same answer at every hop (2 hops)")


def test_dropped_port_diverges_after_the_router() -> None:
    hops = trim([Hop(1, ROUTER, ROUTER), Hop(2, SILENT, SERVER), Hop(3, SILENT, SERVER), Hop(4, SILENT, SERVER)])
    assert [h.ttl for h in hops] == [1, 2, 3]  # one past the last answer
    at, summary = compare_paths(hops, 25, 443)
    assert at == 2
    assert "up to hop 1 (198.51.100.1)" in summary
    assert "port 25 gets no answer while port 443 gets SYN-ACK from 203.0.113.25 (TTL 63)" in summary


def test_forged_reset_is_called_out() -> None:
    forged = HopAnswer("reset", "203.0.113.25", 64, 1.0)
    at, summary = compare_paths([Hop(1, ROUTER, ROUTER), Hop(2, forged, SERVER)], 25, 443)
    assert at == 2
    assert "RST from 203.0.113.25 (TTL 64)" in summary
    assert "a device on the way answered in its name" in summary


def test_icmp_reject_at_first_hop() -> None:
    reject = HopAnswer("admin-prohibited", "198.51.100.1", 64, 1.0)
    at, summary = compare_paths([Hop(1, reject, ROUTER)], 25, 443)
    assert at == 1
    assert summary.startswith("at hop 1 port 25 gets admin-prohibited from 198.51.100.1")


def test_importing_mailprobe_does_not_import_scapy() -> None:
    code = (
        "import sys, mailprobe, mailprobe.net.raw, mailprobe.net.trace, mailprobe.probes.egress, "
        "mailprobe.probes.ports, mailprobe.checks.reach; print('scapy' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")
def test_without_privileges_raw_mode_says_why() -> None:
    # Import first: the interpreter's own files may not be readable by nobody.
    code = "import os; from mailprobe.net.raw import raw_unavailable_reason as r; os.setuid(65534); print(r())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "raw probes need root" in done.stdout
