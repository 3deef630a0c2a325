"""The egress verdict from hand-built results: positive evidence makes `intercepted`, odd-but-healthy signs
are notes, and every sentence of an explanation comes from what was measured."""

from __future__ import annotations

from dataclasses import replace

import pytest
from judging import findings

from mailprobe.checks.egress import exit_code, judge_egress
from mailprobe.checks.egress_evidence import organisation
from mailprobe.model import (
    CertFacts,
    ConnectTime,
    EgressSignKind,
    EgressVerdict,
    HandshakeResult,
    IcmpInfo,
    PortResult,
    PortState,
    ProbeStatus,
    Service,
    SmtpFacts,
    StartTlsOutcome,
    Target,
    TlsFacts,
)

MX1 = ("mx1.example.org", "203.0.113.25")
MX2 = ("mx.other.test", "203.0.113.30")
MX3 = ("mx.third.test", "203.0.113.40")
ROUTER = "198.51.100.1"
OPEN, CLOSED, FILTERED, UNREACH, ERROR = (
    PortState.OPEN,
    PortState.CLOSED,
    PortState.FILTERED,
    PortState.UNREACHABLE,
    PortState.ERROR,
)
REASONS = {OPEN: "syn-ack", CLOSED: "conn-refused", FILTERED: "no-response", ERROR: "local error"}
V = EgressVerdict


def port(dest: tuple[str, str], number: int, state: PortState, ttl: int | None = None, ms: float = 50.0) -> PortResult:
    host, address = dest
    if state is UNREACH:
        icmp = IcmpInfo(3, 13, ROUTER, "admin-prohibited")
        return PortResult(host, address, number, state, f"admin-prohibited from {ROUTER}", 1.0, icmp=icmp, ttl=ttl)
    return PortResult(host, address, number, state, REASONS[state], ms, ttl=ttl)


def cert(name: str, fingerprint: str) -> CertFacts:
    return CertFacts(
        subject=f"CN={name}", issuer="CN=Test CA", serial="01", not_before="2026-01-01T00:00:00Z",
        not_after="2027-01-01T00:00:00Z", days_left=300, san=(f"DNS:{name}",), key_type="EC", key_bits=256,
        signature_algorithm="ecdsa-with-SHA256", fingerprint_sha256=fingerprint, spki_sha256="bb" * 32,
        self_signed=False,
    )  # fmt: skip


def hello(
    dest: tuple[str, str],
    greeting: str,
    cert_name: str | None = None,
    *,
    port_number: int = 25,
    starttls: StartTlsOutcome = StartTlsOutcome.OK,
    masked: bool = False,
    xed: bool = False,
) -> HandshakeResult:
    """A handshake on port 25 (or 587/465) that greeted with `greeting` ("" = no greeting at all)."""
    host, address = dest
    tls = None
    if cert_name is not None:
        leaf = cert(cert_name, cert_name.encode().hex()[:64].ljust(64, "0"))
        match = cert_name == host
        tls = TlsFacts("TLSv1.3", "TLS_AES_128_GCM_SHA256", 128, None, (leaf,), True, None, host, match)
    service = {25: Service.SMTP, 587: Service.SUBMISSION, 465: Service.SUBMISSIONS}[port_number]
    if service is Service.SUBMISSIONS:
        starttls = StartTlsOutcome.NOT_APPLICABLE
    words = greeting.split()
    return HandshakeResult(
        Target(host, address, port_number, service),
        ProbeStatus.SUCCESS if greeting else ProbeStatus.IO_TIMEOUT,
        "" if greeting else "no greeting within 10 s",
        30.0,
        banner=greeting,
        greeting_code="220" if greeting else "",
        starttls=starttls if greeting else StartTlsOutcome.NOT_ATTEMPTED,
        tls=tls if starttls in (StartTlsOutcome.OK, StartTlsOutcome.NOT_APPLICABLE) else None,
        smtp=SmtpFacts(
            greeting_host="" if masked or not words else words[0].lower(), greeting_masked=masked, starttls_masked=xed
        )
        if greeting
        else None,
    )


def controls(
    dest: tuple[str, str], state: PortState = OPEN, ttl: int | None = None, ms: float = 50.0
) -> list[PortResult]:
    return [port(dest, p, state, ttl, ms) for p in (587, 465, 443)]


def signs(result: object) -> set[EgressSignKind]:
    return {s.kind for s in result.signs}  # type: ignore[attr-defined]


# --- open: healthy set-ups that look odd ---------------------------------------------------------------


def test_open_with_matching_greetings_and_certificates() -> None:
    ports = [port(MX1, 25, OPEN), *controls(MX1), port(MX2, 25, OPEN), *controls(MX2, FILTERED)]
    shakes = [hello(MX1, "mx1.example.org ESMTP", "mx1.example.org"), hello(MX2, "mx.other.test ESMTP")]
    result = judge_egress(ports, shakes)
    assert result.verdict is V.OPEN and not result.signs and not result.notes
    assert "mx1.example.org" in result.explanation and "2 greeted as SMTP servers" in result.explanation
    assert any("greeting '220 mx1.example.org ESMTP'" in line for line in result.evidence)
    assert exit_code(result.verdict) == 0


def test_hosted_mx_greeting_with_the_providers_name_is_a_note() -> None:
    # mx.customer.test is served by a provider: it greets and presents a certificate in the provider's name.
    customer = ("mx.customer.test", "203.0.113.50")
    ports = [port(customer, 25, OPEN), *controls(customer, FILTERED), port(MX1, 25, OPEN)]
    shakes = [hello(customer, "mx7.provider.test ESMTP", "mx7.provider.test"), hello(MX1, "mx1.example.org ESMTP")]
    result = judge_egress(ports, shakes)
    assert result.verdict is V.OPEN, result.basis
    assert any("greets as 'mx7.provider.test', a name of another organisation" in n for n in result.notes)
    assert any("certificate for 'CN=mx7.provider.test'" in n for n in result.notes)
    assert [f.code for f in findings(egress=result)] == []  # open: no finding at all


def test_two_customers_of_one_provider_share_its_identity_without_interception() -> None:
    # Different addresses and customer names, one provider greeting and certificate: the provider's own, as the
    # addresses' reverse DNS shows. Shared provider, not a middlebox.
    a = ("mx.alpha.test", "203.0.113.61")
    b = ("mail.beta.test", "203.0.113.62")
    ports = [port(a, 25, OPEN), port(b, 25, OPEN), *controls(a, FILTERED)]
    shakes = [
        hello(a, "in.provider.test ESMTP", "in.provider.test"),
        hello(b, "in.provider.test ESMTP", "in.provider.test"),
    ]
    reverse = [("203.0.113.61", "host61.provider.test"), ("203.0.113.62", "host62.provider.test")]
    result = judge_egress(ports, shakes, reverse=reverse)
    assert result.verdict is V.OPEN, result.basis


def test_shared_hosting_at_one_address_is_one_server() -> None:
    a = ("mx.alpha.test", "203.0.113.70")
    b = ("mx.beta.test", "203.0.113.70")
    ports = [port(a, 25, OPEN), port(b, 25, OPEN), *controls(a)]
    shakes = [hello(a, "shared.hosting.test ESMTP"), hello(b, "shared.hosting.test ESMTP")]
    assert judge_egress(ports, shakes).verdict is V.OPEN


def test_mismatched_port_25_certificates_on_an_open_network() -> None:
    ports = [port(MX1, 25, OPEN), port(MX2, 25, OPEN), *controls(MX1)]
    shakes = [
        hello(MX1, "mx1.example.org ESMTP", "localhost"),
        hello(MX2, "mx.other.test ESMTP", "snakeoil.other.test"),
    ]
    result = judge_egress(ports, shakes)
    assert result.verdict is V.OPEN
    assert sum("presents a certificate" in n for n in result.notes) == 2


def test_one_server_without_starttls_on_25_is_its_own_business() -> None:
    ports = [port(MX1, 25, OPEN), port(MX2, 25, OPEN), *controls(MX1), *controls(MX2)]
    shakes = [
        hello(MX1, "mx1.example.org ESMTP", starttls=StartTlsOutcome.NOT_OFFERED),
        hello(MX2, "mx.other.test ESMTP", "mx.other.test"),
        hello(MX1, "mx1.example.org ESMTP", "mx1.example.org", port_number=587),
    ]
    result = judge_egress(ports, shakes[:2], control_handshakes=shakes[2:])
    assert result.verdict is V.OPEN, result.basis
    assert any("offers no STARTTLS on port 25 (that server's own setting" in n for n in result.notes)


def test_a_certificate_that_differs_between_25_and_587_is_not_interception() -> None:
    # Common: a snake-oil certificate on 25, a public one on 587, the same greeting on both.
    ports = [port(MX1, 25, OPEN), *controls(MX1)]
    p25 = hello(MX1, "mx1.example.org ESMTP", "snakeoil.local")
    p587 = hello(MX1, "mx1.example.org ESMTP", "mx1.example.org", port_number=587)
    assert judge_egress(ports, [p25], control_handshakes=[p587]).verdict is V.OPEN


def test_open_without_handshakes_says_greetings_were_not_checked() -> None:
    result = judge_egress([port(MX1, 25, OPEN), *controls(MX1)], [])
    assert result.verdict is V.OPEN
    assert "not checked" in result.explanation


def test_an_unanswered_control_retransmit_is_not_a_nearer_answer() -> None:
    # 587 took 1.05 s (a lost SYN, retransmitted): no comparison is made with it.
    ports = [port(MX1, 25, OPEN, ms=40.0), port(MX1, 587, OPEN, ms=1050.0), port(MX1, 465, OPEN, ms=45.0)]
    assert judge_egress(ports, [hello(MX1, "mx1.example.org ESMTP")]).verdict is V.OPEN


# --- intercepted: positive evidence, each kind named -----------------------------------------------------


def test_unrelated_destinations_answering_with_one_foreign_identity() -> None:
    ports = [port(MX1, 25, OPEN), port(MX2, 25, OPEN), *controls(MX1)]
    shakes = [hello(MX1, "relay.isp.example ESMTP"), hello(MX2, "relay.isp.example ESMTP")]
    reverse = [("203.0.113.25", "mx1.example.org"), ("203.0.113.30", "mx.other.test")]
    result = judge_egress(ports, shakes, reverse=reverse)
    assert result.verdict is V.INTERCEPTED
    assert signs(result) == {EgressSignKind.SHARED_IDENTITY}
    assert result.basis[0].startswith("unrelated destinations (mx.other.test, mx1.example.org) all greet as")
    assert "belongs to none of them" in result.basis[0]
    assert exit_code(result.verdict) == 1


def test_unrelated_destinations_presenting_one_foreign_certificate() -> None:
    ports = [port(MX1, 25, OPEN), port(MX2, 25, OPEN), *controls(MX1)]
    shakes = [
        hello(MX1, "mx1.example.org ESMTP", "proxy.isp.example"),
        hello(MX2, "mx.other.test ESMTP", "proxy.isp.example"),
    ]
    result = judge_egress(ports, shakes)
    assert result.verdict is V.INTERCEPTED
    assert "present the certificate" in result.basis[0] and "proxy.isp.example" in result.basis[0]


def test_port_25_greets_as_another_server_than_587_of_the_same_address() -> None:
    ports = [port(MX1, 25, OPEN), *controls(MX1)]
    p25 = hello(MX1, "smtp.isp.example ESMTP")
    p587 = hello(MX1, "mx1.example.org ESMTP", "mx1.example.org", port_number=587)
    result = judge_egress(ports, [p25], control_handshakes=[p587])
    assert result.verdict is V.INTERCEPTED
    assert signs(result) == {EgressSignKind.IDENTITY_DIFFERS}
    assert (
        "203.0.113.25 greets as 'smtp.isp.example' on port 25 but as 'mx1.example.org' on port 587" in result.basis[0]
    )


@pytest.mark.parametrize(
    "control_greeting",
    ["ESMTP Service ready", "localhost ESMTP", "EX01.corp.example.local Microsoft ESMTP MAIL Service", "mail.lan"],
)
def test_a_control_greeting_that_names_no_public_server_is_no_identity(control_greeting: str) -> None:
    """A greeting word without a dot, or a private network's name, says nothing about whose server it is."""
    ports = [port(MX1, 25, OPEN), *controls(MX1)]
    p25 = hello(MX1, "mx1.example.org ESMTP Postfix")
    p587 = hello(MX1, control_greeting, port_number=587)
    assert judge_egress(ports, [p25], control_handshakes=[p587]).verdict is V.OPEN


def test_one_certificate_on_25_and_587_is_one_server_whatever_the_greetings() -> None:
    ports = [port(MX1, 25, OPEN), *controls(MX1)]
    p25 = hello(MX1, "smtp.isp.example ESMTP", "mx1.example.org")
    p587 = hello(MX1, "mx1.example.org ESMTP", "mx1.example.org", port_number=587)
    assert judge_egress(ports, [p25], control_handshakes=[p587]).verdict is V.OPEN


def test_port_25_answers_nearer_by_round_trip_without_root() -> None:
    ports = [port(MX1, 25, OPEN, ms=1.2), *controls(MX1, ms=51.0), port(MX2, 25, OPEN, ms=0.9), *controls(MX2, ms=48.0)]
    shakes = [hello(MX1, "mx1.example.org ESMTP"), hello(MX2, "mx.other.test ESMTP")]
    result = judge_egress(ports, shakes)
    assert result.verdict is V.INTERCEPTED
    assert signs(result) == {EgressSignKind.NEARER}
    assert "accepted the connection in 1.2 ms; the same address's 587 in 51 ms" in result.basis[0]


def test_port_25_nearer_on_one_address_only_is_noise() -> None:
    ports = [
        port(MX1, 25, OPEN, ms=1.2),
        *controls(MX1, ms=51.0),
        port(MX2, 25, OPEN, ms=49.0),
        *controls(MX2, ms=48.0),
    ]
    assert judge_egress(ports, [hello(MX1, "mx1.example.org ESMTP")]).verdict is V.OPEN


def test_port_25_answers_nearer_by_ttl_in_raw_mode() -> None:
    ports = [port(MX1, 25, OPEN, ttl=63), *controls(MX1, OPEN, ttl=50)]
    result = judge_egress(ports, [], raw=True)
    assert result.verdict is V.INTERCEPTED
    assert "answers from 1 hops away (TTL 63); ports 587 from 14 (TTL 50)" in result.basis[0]


def test_masked_greeting_is_esmtp_inspection() -> None:
    ports = [port(MX1, 25, OPEN), *controls(MX1)]
    masked = hello(MX1, "****************************", masked=True, xed=True, starttls=StartTlsOutcome.NOT_OFFERED)
    result = judge_egress(ports, [masked])
    assert result.verdict is V.INTERCEPTED
    assert {EgressSignKind.MASKED_GREETING, EgressSignKind.STARTTLS_MASKED} <= signs(result)
    assert "masked with asterisks" in result.basis[0]


def test_starttls_refused_on_25_where_587_offers_it_is_stripped_on_the_path() -> None:
    ports = [port(MX1, 25, OPEN), port(MX2, 25, OPEN), *controls(MX1), *controls(MX2)]
    p25 = [
        hello(MX1, "mx1.example.org ESMTP", starttls=StartTlsOutcome.REFUSED),
        hello(MX2, "mx.other.test ESMTP", starttls=StartTlsOutcome.NOT_OFFERED),
    ]
    p587 = [
        hello(MX1, "mx1.example.org ESMTP", "mx1.example.org", port_number=587),
        hello(MX2, "mx.other.test ESMTP", "mx.other.test", port_number=465),
    ]
    result = judge_egress(ports, p25, control_handshakes=p587)
    assert result.verdict is V.INTERCEPTED
    assert signs(result) == {EgressSignKind.STARTTLS_STRIPPED}
    found = {f.code: f for f in findings(egress=result)}
    assert set(found) == {"PORT25-INTERCEPTED", "STARTTLS-STRIPPED"}
    assert found["STARTTLS-STRIPPED"].severity.value == "high"
    assert len(found["STARTTLS-STRIPPED"].places) == 2


def test_one_server_on_two_addresses_is_one_destination() -> None:
    v4, v6 = ("mx1.example.org", "203.0.113.25"), ("mx1.example.org", "2001:db8::25")
    ports = [port(v4, 25, OPEN), port(v6, 25, OPEN), *controls(v4), *controls(v6)]
    p25 = [hello(d, "mx1.example.org ESMTP", starttls=StartTlsOutcome.NOT_OFFERED) for d in (v4, v6)]
    p587 = [hello(d, "mx1.example.org ESMTP", "mx1.example.org", port_number=587) for d in (v4, v6)]
    assert judge_egress(ports, p25, control_handshakes=p587).verdict is V.OPEN


def test_no_starttls_at_a_destination_known_to_offer_it() -> None:
    gmail = ("gmail-smtp-in.l.google.com", "203.0.113.90")
    ports = [port(gmail, 25, OPEN), *controls(gmail, FILTERED)]
    p25 = hello(gmail, "mx.google.com ESMTP", starttls=StartTlsOutcome.NOT_OFFERED)
    result = judge_egress(ports, [p25], starttls_known=["gmail-smtp-in.l.google.com"])
    assert result.verdict is V.INTERCEPTED
    assert "(STARTTLS not-offered; known to offer STARTTLS on port 25)" in result.basis[0]
    assert "587" not in result.basis[0]  # its 587/465 were filtered: the evidence does not claim they offer TLS
    assert judge_egress(ports, [p25]).verdict is V.OPEN  # without that knowledge, one server is its own business


def test_interception_explanation_names_only_ports_seen_working() -> None:
    ports = [port(MX1, 25, OPEN), port(MX1, 587, FILTERED), port(MX1, 465, FILTERED), port(MX1, 443, OPEN)]
    shakes = [hello(MX1, "********", masked=True)]
    result = judge_egress(ports, shakes)
    assert result.verdict is V.INTERCEPTED
    assert "submission ports 465 and 587 did not connect either" in result.explanation
    assert "worked from here" not in result.explanation


# --- blocked ---------------------------------------------------------------------------------------------


def test_drop_everywhere_while_controls_connect() -> None:
    ports = [port(MX1, 25, FILTERED), *controls(MX1), port(MX2, 25, FILTERED), *controls(MX2)]
    result = judge_egress(ports, [])
    assert result.verdict is V.BLOCKED_DROP
    assert "while ports 443, 465 and 587 of the same destinations answer" in result.explanation
    assert "ports 465 and 587 worked from here" in result.explanation
    assert exit_code(result.verdict) == 1


def test_all_mail_ports_dropped_but_443_answers_recommends_no_blocked_port() -> None:
    ports = [port(MX1, 25, FILTERED), port(MX1, 587, FILTERED), port(MX1, 465, FILTERED), port(MX1, 443, OPEN)]
    result = judge_egress(ports, [])
    assert result.verdict is V.BLOCKED_DROP
    text = result.explanation
    assert text.startswith("Mail ports are blocked, not only 25: port 25 and the submission ports 465 and 587 fail")
    assert "while port 443 of the same destinations answers" in text
    assert "will not work from this network" in text
    # No sentence presents 587 or 465 as working or as the way out.
    assert "worked" not in text and "Send mail through" not in text


def test_icmp_reject_names_the_sender() -> None:
    ports = [port(MX1, 25, UNREACH), *controls(MX1), port(MX2, 25, FILTERED), *controls(MX2)]
    result = judge_egress(ports, [])
    assert result.verdict is V.BLOCKED_ICMP
    assert ROUTER in result.explanation and "admin-prohibited" in result.explanation
    assert result.basis == (
        f"ICMP admin-prohibited (type 3, code 13) from {ROUTER} for mx1.example.org [203.0.113.25]:25",
    )


def test_reset_in_connect_mode_asks_for_raw() -> None:
    result = judge_egress([port(MX1, 25, CLOSED), *controls(MX1)], [])
    assert result.verdict is V.BLOCKED_RESET
    assert "--raw" in result.explanation


def test_reset_from_a_middlebox_in_raw_mode() -> None:
    ports = [port(MX1, 25, CLOSED, ttl=64), *controls(MX1, OPEN, ttl=52)]
    result = judge_egress(ports, [], raw=True)
    assert result.verdict is V.BLOCKED_RESET
    assert "forged" in result.explanation
    assert "RST with TTL 64 (0 hops away); SYN-ACK on port 587 with TTL 52 (12 hops away)" in result.basis[0]


def test_reset_from_the_server_itself_is_not_blamed_on_the_isp() -> None:
    ports = [port(MX1, 25, CLOSED, ttl=52), *controls(MX1, OPEN, ttl=52)]
    result = judge_egress(ports, [], raw=True)
    assert result.verdict is V.INCONCLUSIVE
    assert "destinations themselves refuse" in result.explanation
    assert exit_code(result.verdict) == 3


def test_one_server_refusing_25_itself_does_not_hide_drops_at_the_others() -> None:
    """Raw mode: MX1 resets 25 from its own distance (its refusal); MX2 drops 25 while its 587/465/443 answer."""
    ports = [port(MX1, 25, CLOSED, ttl=52), *controls(MX1, OPEN, ttl=52), port(MX2, 25, FILTERED)]
    ports += controls(MX2, OPEN, ttl=50)
    result = judge_egress(ports, [], raw=True)
    assert result.verdict is V.BLOCKED_DROP
    assert "of mx.other.test went unanswered" in result.explanation
    assert "refuse port 25 themselves" in result.explanation
    assert result.basis and "RST with TTL 52" in result.basis[0]


def test_raw_reset_without_a_syn_ack_to_compare() -> None:
    ports = [port(MX1, 25, CLOSED, ttl=64), *controls(MX1, FILTERED), port(MX2, 587, OPEN, ttl=60)]
    result = judge_egress(ports, [], raw=True)
    assert result.verdict is V.BLOCKED_RESET
    assert "unknown" in result.explanation


def test_connects_but_nobody_greets() -> None:
    ports = [port(MX1, 25, OPEN), *controls(MX1)]
    result = judge_egress(ports, [hello(MX1, "")])
    assert result.verdict is V.INCONCLUSIVE
    assert "no server greeted" in result.explanation


def test_all_blocked_when_control_ports_fail_too() -> None:
    ports = [port(MX1, 25, FILTERED), *controls(MX1, FILTERED), port(MX2, 25, CLOSED), *controls(MX2, CLOSED)]
    result = judge_egress(ports, [])
    assert result.verdict is V.ALL_BLOCKED
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
    result = judge_egress(ports, [])
    assert result.verdict is V.INCONCLUSIVE
    assert why in result.explanation


def test_exit_codes_follow_the_verdict() -> None:
    assert [exit_code(v) for v in V] == [0, 1, 1, 1, 1, 1, 3]


def test_custom_smtp_port() -> None:
    ports = [port(MX1, 2525, FILTERED), *controls(MX1)]
    assert judge_egress(ports, [], smtp_port=2525).verdict is V.BLOCKED_DROP


def test_verdict_findings() -> None:
    ports = [port(MX1, 25, FILTERED), *controls(MX1)]
    [blocked] = findings(egress=judge_egress(ports, []))
    assert blocked.code == "PORT25-BLOCKED" and blocked.title.endswith("(blocked-drop)")
    assert blocked.evidence.startswith("Outbound port 25 is blocked")
    assert "mx1.example.org [203.0.113.25]:25 filtered (no-response" in blocked.evidence


def test_organisation() -> None:
    assert organisation("gmail-smtp-in.l.google.com") == "google.com"
    assert organisation("mx.example.co.uk") == "example.co.uk"
    assert organisation("Example.ORG.") == "example.org"


def test_the_fastest_of_several_connects_decides_nearer() -> None:
    # One slow sample of 25 (scheduling noise) hides nothing once the best of several is known, and one fast
    # sample of 587 does not invent a difference.
    ports = [port(MX1, 25, OPEN, ms=30.0), *controls(MX1, ms=50.0)]
    shakes = [hello(MX1, "mx1.example.org ESMTP")]
    fast25 = [ConnectTime("203.0.113.25", 25, 0.8, 3), ConnectTime("203.0.113.25", 587, 49.0, 3)]
    assert judge_egress(ports, shakes).verdict is V.OPEN
    result = judge_egress(ports, shakes, connect_times=fast25)
    assert result.verdict is V.INTERCEPTED
    assert "(each the fastest of several connects)" in result.basis[0]
    near587 = [ConnectTime("203.0.113.25", 25, 0.8, 3), ConnectTime("203.0.113.25", 587, 1.1, 3)]
    assert (
        judge_egress([port(MX1, 25, OPEN, ms=0.8), *controls(MX1, ms=50.0)], shakes, connect_times=near587).verdict
        is V.OPEN
    )


def test_a_retried_control_scan_still_compares_when_sampled_again() -> None:
    # The scan's adaptive timeout, taught by port 25's 1 ms, gave up on 587's first SYN: a retry, not a round trip.
    retried = [replace(c, attempts=2, elapsed_ms=150.0) for c in controls(MX1)]
    ports = [port(MX1, 25, OPEN, ms=1.0), *retried]
    shakes = [hello(MX1, "mx1.example.org ESMTP")]
    assert judge_egress(ports, shakes).verdict is V.OPEN  # nothing clean to compare with
    sampled = [ConnectTime("203.0.113.25", 25, 0.9, 3), ConnectTime("203.0.113.25", 587, 50.2, 3)]
    assert judge_egress(ports, shakes, connect_times=sampled).verdict is V.INTERCEPTED


def test_the_findings_fix_names_only_ports_seen_working() -> None:
    blocked_everything = [
        port(MX1, 25, FILTERED),
        port(MX1, 587, FILTERED),
        port(MX1, 465, FILTERED),
        port(MX1, 443, OPEN),
    ]
    [finding] = findings(egress=judge_egress(blocked_everything, []))
    assert "587" not in finding.fix.replace("465 and 587 did not connect", "") and "worked" not in finding.fix
    submission_works = [port(MX1, 25, FILTERED), *controls(MX1)]
    [finding] = findings(egress=judge_egress(submission_works, []))
    assert "465 and 587 worked from here" in finding.fix
