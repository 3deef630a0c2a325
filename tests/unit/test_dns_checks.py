"""DNS findings from hand-built results: check_dns and check_dane are pure functions."""

from __future__ import annotations

import hashlib

from mailprobe.checks.catalogue import lookup
from mailprobe.checks.dns import check_dane, check_dns
from mailprobe.dns import check_dane as check_dane_from_package
from mailprobe.model import (
    CertFacts,
    DnsRecord,
    DomainDns,
    Finding,
    HandshakeResult,
    MxHost,
    MxStatus,
    ProbeStatus,
    Service,
    StartTlsOutcome,
    Target,
    TlsFacts,
)

SPKI = hashlib.sha256(b"leaf spki").hexdigest()
CERT_HASH = hashlib.sha256(b"leaf cert").hexdigest()


def cert(spki: str = SPKI, fingerprint: str = CERT_HASH) -> CertFacts:
    return CertFacts(
        subject="CN=mx1.example.test", issuer="CN=CA", serial="1", not_before="", not_after="", days_left=80,
        san=("mx1.example.test",), key_type="EC", key_bits=256, signature_algorithm="ecdsa-with-SHA256",
        fingerprint_sha256=fingerprint, spki_sha256=spki, self_signed=False,
    )  # fmt: skip


def handshake(host: str = "mx1.example.test", tls: bool = True, spki: str = SPKI, port: int = 25) -> HandshakeResult:
    facts = TlsFacts(
        version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256", cipher_bits=128, group=None, chain=(cert(spki),),
        verified=True, verify_error=None, hostname=host, hostname_match=True,
    )  # fmt: skip
    service = Service.SMTP if port == 25 else Service.SUBMISSION
    return HandshakeResult(
        target=Target(host, "198.51.100.25", port, service, origin="mx"),
        status=ProbeStatus.SUCCESS,
        reason="",
        elapsed_ms=5.0,
        starttls=StartTlsOutcome.OK if tls else StartTlsOutcome.NOT_OFFERED,
        tls=facts if tls else None,
    )


def domain_with_tlsa(*values: str, detail: str = "DNSSEC-authenticated") -> DomainDns:
    records = tuple(DnsRecord("TLSA", "_25._tcp.mx1.example.test", v, "ok", detail) for v in values)
    host = MxHost(10, "mx1.example.test", ("198.51.100.25",))
    return DomainDns("example.test", MxStatus.FOUND, "", 1.0, mx=(host,), records=records, authenticated=True)


def codes(findings: list[Finding], prefix: str = "") -> list[str]:
    return [f.code for f in findings if f.code.startswith(prefix)]


def test_dane_match_mismatch_and_no_tls() -> None:
    good = domain_with_tlsa(f"3 1 1 {SPKI}")
    assert check_dane(good, [handshake()]) == []
    assert codes(check_dane(good, [handshake(spki="00" * 32)])) == ["DANE-MISMATCH"]
    assert codes(check_dane(good, [handshake(tls=False)])) == ["DANE-NO-TLS"]
    # Only port 25 of the host with TLSA records counts.
    assert check_dane(good, [handshake(spki="00" * 32, port=587), handshake(host="other.test", tls=False)]) == []


def test_dane_any_record_may_match_and_unsupported_are_skipped() -> None:
    rollover = domain_with_tlsa(f"3 1 1 {'11' * 32}", f"3 0 1 {CERT_HASH}")
    assert check_dane(rollover, [handshake()]) == []
    only_pkix = domain_with_tlsa(f"1 1 1 {'11' * 32}")
    assert check_dane(only_pkix, [handshake()]) == []
    assert codes(check_dns(only_pkix), "DANE") == ["DANE-UNSUPPORTED"]


def test_dane_wired_through_the_package() -> None:
    d = domain_with_tlsa(f"3 1 1 {'22' * 32}")
    assert codes(check_dane_from_package(d, [handshake()])) == ["DANE-MISMATCH"]
    assert "DANE-MISMATCH" in check_dane_from_package(d, [handshake()])[0].code


def test_tlsa_problems_in_dns_findings() -> None:
    assert codes(check_dns(domain_with_tlsa("3 1 1 zz")), "DANE") == ["DANE-INVALID"]
    unsigned = domain_with_tlsa(f"3 1 1 {SPKI}", detail="not DNSSEC-authenticated")
    assert codes(check_dns(unsigned), "DANE") == ["DANE-UNAUTHENTICATED"]


def test_status_findings_carry_the_reason() -> None:
    for status, code in [
        (MxStatus.NXDOMAIN, "MX-NXDOMAIN"),
        (MxStatus.SERVFAIL, "MX-SERVFAIL"),
        (MxStatus.REFUSED, "MX-REFUSED"),
        (MxStatus.TIMEOUT, "MX-TIMEOUT"),
        (MxStatus.ERROR, "MX-ERROR"),
        (MxStatus.NODATA, "MX-NONE"),
        (MxStatus.NULL, "MX-NULL"),
    ]:
        found = check_dns(DomainDns("example.test", status, f"why {status.value}", 1.0))
        assert [(f.code, f.evidence, f.target) for f in found] == [(code, f"why {status.value}", "example.test")]
    assert check_dns(DomainDns("example.test", MxStatus.NOT_A_DOMAIN, "", 1.0)) == []


def test_ptr_findings() -> None:
    host = MxHost(
        10,
        "mx1.example.test",
        ("198.51.100.25", "198.51.100.26", "2001:db8::25"),
        status="nonpublic",
        ptr=(("198.51.100.25", "mx1.example.test"), ("198.51.100.26", "other.example.test"), ("2001:db8::25", "")),
        fcrdns=(("198.51.100.25", True), ("198.51.100.26", False)),
    )
    d = DomainDns("example.test", MxStatus.FOUND, "", 1.0, mx=(host,), findings_hint=("allow-nonpublic",))
    found = [(f.code, f.target) for f in check_dns(d) if f.code.startswith("PTR")]
    assert found == [("PTR-MISMATCH", "198.51.100.26"), ("PTR-MISSING", "2001:db8::25")]


def test_every_emitted_code_is_catalogued_with_a_fix() -> None:
    wanted = ("MX-NONE", "MX-IP-LITERAL", "SPF-TOO-MANY-LOOKUPS", "DMARC-POLICY-NONE", "MTA-STS-MX-MISMATCH",
              "TLSRPT-MISSING", "DANE-MISMATCH", "DKIM-WEAK-KEY", "DNSBL-LISTED", "DNSSEC-UNAUTHENTICATED")  # fmt: skip
    for code in wanted:
        kind = lookup(code)
        assert kind is not None and kind.fix and kind.why
