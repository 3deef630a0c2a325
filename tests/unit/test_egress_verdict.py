"""The egress verdict matrix: hand-built port results and handshakes in, one verdict and its evidence out."""

from __future__ import annotations

import pytest

from mailprobe.model import (
    CertFacts,
    HandshakeResult,
    IcmpInfo,
    PortResult,
    PortState,
    ProbeStatus,
    Service,
    Target,
    TlsFacts,
)
from mailprobe.probes.egress import (
    Verdict,
    belongs,
    exit_code,
    greeting_host,
    judge_egress,
    organisation,
)

MX1 = ("mx1.example.org", "203.0.113.25")
MX2 = ("mx.other.test", "203.0.113.30")
ROUTER = "198.51.100.1"
OPEN, CLOSED, FILTERED, UNREACH, ERROR = (
    PortState.OPEN,
    PortState.CLOSED,
    PortState.FILTERED,
    PortState.UNREACHABLE,
    PortState.ERROR,
)
REASONS = {OPEN: "syn-ack", CLOSED: "conn-refused", FILTERED: "no-response", ERROR: "local error"}


def port(dest: tuple[str, str], number: int, state: PortState, ttl: int | None = None) -> PortResult:
    host, address = dest
    if state is UNREACH:
        icmp = IcmpInfo(3, 13, ROUTER, "admin-prohibited")
        return PortResult(host, address, number, state, f"admin-prohibited from {ROUTER}", 1.0, icmp=icmp, ttl=ttl)
    return PortResult(host, address, number, state, REASONS[state], 12.0, ttl=ttl)


def cert(name: str, fingerprint: str = "aa" * 32) -> CertFacts:
    return CertFacts(
        subject=f"CN={name}",
        issuer="CN=Test CA",
        serial="01",
        not_before="2026-01-01T00:00:00Z",
        not_after="2027-01-01T00:00:00Z",
        days_left=300,
        san=(name,),
        key_type="EC",
        key_bits=256,
        signature_algorithm="ecdsa-with-SHA256",
        fingerprint_sha256=fingerprint,
        spki_sha256="bb" * 32,
        self_signed=False,
    )


def hello(
    dest: tuple[str, str], greeting: str, cert_name: str | None = None, *, fingerprint: str = "", match: bool = True
) -> HandshakeResult:
    host, address = dest
    tls = None
    if cert_name is not None:
        leaf = cert(cert_name, fingerprint or cert_name.encode().hex()[:64].ljust(64, "0"))
        tls = TlsFacts("TLSv1.3", "TLS_AES_128_GCM_SHA256", 128, None, (leaf,), True, None, host, match)
    return HandshakeResult(
        Target(host, address, 25, Service.SMTP),
        ProbeStatus.SUCCESS if greeting else ProbeStatus.IO_TIMEOUT,
        "" if greeting else "no greeting within 10 s",
        30.0,
        banner=greeting,
        greeting_code="220" if greeting else "",
        tls=tls,
    )


def controls(dest: tuple[str, str], state: PortState = OPEN, ttl: int | None = None) -> list[PortResult]:
    return [port(dest, p, state, ttl) for p in (587, 465, 443)]


def test_open_with_matching_greetings_and_certificates() -> None:
    ports = [port(MX1, 25, OPEN), *controls(MX1), port(MX2, 25, OPEN), *controls(MX2, FILTERED)]
    shakes = [hello(MX1, "mx1.example.org ESMTP", "mx1.example.org"), hello(MX2, "mx.other.test ESMTP")]
    result = judge_egress(ports, shakes, raw=False)
    assert result.verdict == "open"
    assert "mx1.example.org" in result.explanation and "match" in result.explanation
    assert any("greeting 'mx1.example.org ESMTP'" in line for line in result.evidence)
    assert exit_code(result.verdict) == 0


def test_open_without_handshakes_says_greetings_were_not_checked() -> None:
    result = judge_egress([port(MX1, 25, OPEN), *controls(MX1)], [], raw=False)
    assert result.verdict == "open"
    assert "not checked" in result.explanation


def test_open_even_when_control_ports_fail() -> None:
    ports = [port(MX1, 25, OPEN), *controls(MX1, FILTERED)]
    assert judge_egress(ports, [hello(MX1, "mx1.example.org ESMTP")], raw=False).verdict == "open"


def test_drop_everywhere_while_controls_connect() -> None:
    ports = [port(MX1, 25, FILTERED), *controls(MX1), port(MX2, 25, FILTERED), *controls(MX2)]
    result = judge_egress(ports, [], raw=False)
    assert result.verdict == "blocked-drop"
    assert "accept connections on 443/465/587" in result.explanation
    assert any("filtered (no-response" in line for line in result.evidence)
    assert exit_code(result.verdict) == 1


def test_icmp_reject_names_the_sender() -> None:
    ports = [port(MX1, 25, UNREACH), *controls(MX1), port(MX2, 25, FILTERED), *controls(MX2)]
    result = judge_egress(ports, [], raw=False)
    assert result.verdict == "blocked-icmp"
    assert ROUTER in result.explanation and "admin-prohibited" in result.explanation
    assert (
        result.evidence[0]
        == f"ICMP admin-prohibited (type 3, code 13) from {ROUTER} for mx1.example.org [203.0.113.25]:25"
    )


def test_reset_in_connect_mode_asks_for_raw() -> None:
    result = judge_egress([port(MX1, 25, CLOSED), *controls(MX1)], [], raw=False)
    assert result.verdict == "blocked-reset"
    assert "--raw" in result.explanation


def test_reset_from_a_middlebox_in_raw_mode() -> None:
    ports = [port(MX1, 25, CLOSED, ttl=64), *controls(MX1, OPEN, ttl=52)]
    result = judge_egress(ports, [], raw=True)
    assert result.verdict == "blocked-reset"
    assert "forged" in result.explanation
    assert "RST with TTL 64 (0 hops away); SYN-ACK on port 587 with TTL 52 (12 hops away)" in result.evidence[0]


def test_reset_from_the_server_itself_is_not_blamed_on_the_isp() -> None:
    ports = [port(MX1, 25, CLOSED, ttl=52), *controls(MX1, OPEN, ttl=52)]
    result = judge_egress(ports, [], raw=True)
    assert result.verdict == "inconclusive"
    assert "destinations themselves refuse" in result.explanation
    assert exit_code(result.verdict) == 3


def test_raw_reset_without_a_syn_ack_to_compare() -> None:
    ports = [port(MX1, 25, CLOSED, ttl=64), *controls(MX1, FILTERED), port(MX2, 587, OPEN, ttl=60)]
    result = judge_egress(ports, [], raw=True)
    assert result.verdict == "blocked-reset"
    assert "unknown" in result.explanation


def test_intercepted_by_a_foreign_greeting_and_certificate() -> None:
    ports = [port(MX1, 25, OPEN), *controls(MX1)]
    shakes = [hello(MX1, "smtp.isp.example ESMTP ready", "smtp.isp.example", match=False)]
    result = judge_egress(ports, shakes, raw=False)
    assert result.verdict == "intercepted"
    assert any("greets as 'smtp.isp.example'" in line for line in result.evidence)
    assert any("certificate for 'CN=smtp.isp.example'" in line for line in result.evidence)
    assert exit_code(result.verdict) == 1


def test_intercepted_when_unrelated_destinations_give_the_same_greeting() -> None:
    # The interceptor even claims the right names for each, but the greeting host gives it away.
    ports = [port(MX1, 25, OPEN), port(MX2, 25, OPEN), *controls(MX1)]
    shakes = [hello(MX1, "relay.isp.example ESMTP"), hello(MX2, "relay.isp.example ESMTP")]
    result = judge_egress(ports, shakes, raw=False)
    assert result.verdict == "intercepted"
    assert result.evidence[0].startswith("unrelated destinations (example.org, other.test) all greet as")


def test_intercepted_when_unrelated_destinations_share_one_certificate() -> None:
    ports = [port(MX1, 25, OPEN), port(MX2, 25, OPEN), *controls(MX1)]
    shakes = [
        hello(MX1, "mx1.example.org ESMTP", "mx1.example.org", fingerprint="cc" * 32),
        hello(MX2, "mx.other.test ESMTP", "mx.other.test", fingerprint="cc" * 32),
    ]
    result = judge_egress(ports, shakes, raw=False)
    assert result.verdict == "intercepted"
    assert "same certificate" in result.evidence[0]


def test_one_odd_greeting_among_good_destinations_is_not_interception() -> None:
    # Real providers sometimes greet under a sister domain (yahoodns.net vs yahoo.com).
    ports = [port(MX1, 25, OPEN), port(MX2, 25, OPEN), *controls(MX1)]
    shakes = [hello(MX1, "mx1.example.org ESMTP"), hello(MX2, "mtaproxy1.sister.example ESMTP")]
    result = judge_egress(ports, shakes, raw=False)
    assert result.verdict == "open"
    assert any("not other.test" in line for line in result.evidence)  # still shown


def test_raw_syn_ack_from_another_distance_is_a_sign_of_redirection() -> None:
    ports = [port(MX1, 25, OPEN, ttl=63), *controls(MX1, OPEN, ttl=50)]
    result = judge_egress(ports, [], raw=True)
    assert result.verdict == "intercepted"
    assert "answers from 1 hops away (TTL 63) but port 587 of the same address from 14" in result.evidence[0]


def test_connects_but_nobody_greets() -> None:
    ports = [port(MX1, 25, OPEN), *controls(MX1)]
    result = judge_egress(ports, [hello(MX1, "")], raw=False)
    assert result.verdict == "inconclusive"
    assert "no server greeted" in result.explanation


def test_all_blocked_when_control_ports_fail_too() -> None:
    ports = [port(MX1, 25, FILTERED), *controls(MX1, FILTERED), port(MX2, 25, CLOSED), *controls(MX2, CLOSED)]
    result = judge_egress(ports, [], raw=False)
    assert result.verdict == "all-blocked"
    assert "not evidence of a port-25 block" in result.explanation


@pytest.mark.parametrize(
    ("ports", "why"),
    [
        ([], "no port-25 probe was made"),
        ([port(MX1, 25, ERROR), *controls(MX1)], "port 25 could not be probed (local error)"),
        ([port(MX1, 25, FILTERED)], "no control port was probed"),
    ],
)
def test_inconclusive_with_a_reason(ports: list[PortResult], why: str) -> None:
    result = judge_egress(ports, [], raw=False)
    assert result.verdict == "inconclusive"
    assert why in result.explanation


def test_every_verdict_is_reachable_and_exit_codes_branch() -> None:
    assert {v.value for v in Verdict} == {
        "open",
        "blocked-drop",
        "blocked-reset",
        "blocked-icmp",
        "intercepted",
        "all-blocked",
        "inconclusive",
    }
    assert [exit_code(v.value) for v in Verdict] == [0, 1, 1, 1, 1, 1, 3]


def test_custom_smtp_port() -> None:
    ports = [port(MX1, 2525, FILTERED), *controls(MX1)]
    assert judge_egress(ports, [], raw=False, smtp_port=2525).verdict == "blocked-drop"


def test_names_and_greetings() -> None:
    assert organisation("gmail-smtp-in.l.google.com") == "google.com"
    assert organisation("mx.example.co.uk") == "example.co.uk"
    assert organisation("Example.ORG.") == "example.org"
    assert greeting_host("mx.google.com ESMTP abc - gsmtp") == "mx.google.com"
    assert greeting_host("220 mx1.example.org ESMTP") == "mx1.example.org"
    assert greeting_host("[203.0.113.25] ESMTP") == "203.0.113.25"
    assert greeting_host("ESMTP ready") == ""
    assert belongs("mx.google.com", "gmail-smtp-in.l.google.com", "203.0.113.1")
    assert not belongs("smtp.isp.example", "mx1.example.org", "203.0.113.25")
    assert belongs("203.0.113.25", "mx1.example.org", "203.0.113.25")
    assert not belongs("203.0.113.26", "mx1.example.org", "203.0.113.25")
    assert belongs("", "mx1.example.org", "203.0.113.25")
