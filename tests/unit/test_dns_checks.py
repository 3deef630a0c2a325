"""DNS and policy findings from hand-built results, judged the way the engine judges a report."""

from __future__ import annotations

from build import cert, domain, session, tls, tlsa_record
from judging import findings

from mailprobe.checks.defs import lookup
from mailprobe.dns.policy import match_sts
from mailprobe.model import (
    DnsRecord,
    DomainDns,
    Finding,
    MxHost,
    MxHostStatus,
    MxStatus,
    RecordKind,
    RecordStatus,
    RunContext,
    Service,
    StsFetch,
)
from mailprobe.records.mtasts import parse_sts_policy

MX = "mx1.example.test"
LEAF = cert(MX, key="served")


def check_dns(d: DomainDns, **context: bool) -> list[Finding]:
    return findings(dns=(d,), context=RunContext(**context))


def codes(found: list[Finding], prefix: str = "") -> list[str]:
    return [f.code for f in found if f.code.startswith(prefix)]


def dane(d: DomainDns, *shakes: object) -> list[str]:
    return codes(findings(dns=(d,), handshakes=shakes), "DANE-")  # type: ignore[arg-type]


def test_dane_match_mismatch_and_no_tls() -> None:
    from mailprobe.model import StartTlsOutcome

    good = domain("example.test", MX, records=(tlsa_record(MX, f"3 1 1 {LEAF.spki_sha256}"),))
    assert dane(good, session(MX, tls_facts=tls(MX, LEAF))) == []
    assert dane(good, session(MX, tls_facts=tls(MX, cert(MX, key="renewed")))) == ["DANE-MISMATCH"]
    assert dane(good, session(MX, starttls=StartTlsOutcome.NOT_OFFERED)) == ["DANE-NO-TLS"]
    # Only port 25 of the host with TLSA records counts.
    other = cert(MX, key="other")
    assert dane(good, session(MX, Service.SUBMISSION, tls_facts=tls(MX, other)), session("other.test")) == []


def test_dane_any_record_may_match_and_unsupported_are_skipped() -> None:
    rollover = (tlsa_record(MX, f"3 1 1 {'11' * 32}"), tlsa_record(MX, f"3 0 1 {LEAF.fingerprint_sha256}"))
    assert dane(domain("example.test", MX, records=rollover), session(MX, tls_facts=tls(MX, LEAF))) == []
    only_pkix = domain("example.test", MX, records=(tlsa_record(MX, f"1 1 1 {'11' * 32}"),))
    assert dane(only_pkix, session(MX, tls_facts=tls(MX, LEAF))) == ["DANE-UNSUPPORTED"]


def test_tlsa_problems_in_dns_findings() -> None:
    assert codes(check_dns(domain("example.test", MX, records=(tlsa_record(MX, "3 1 1 zz"),))), "DANE") == [
        "DANE-INVALID"
    ]
    unsigned = domain("example.test", MX, records=(tlsa_record(MX, f"3 1 1 {LEAF.spki_sha256}", authenticated=False),))
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
        MX,
        ("198.51.100.25", "198.51.100.26", "2001:db8::25"),
        status=MxHostStatus.NONPUBLIC,
        ptr=(("198.51.100.25", MX), ("198.51.100.26", "other.example.test"), ("2001:db8::25", "")),
        fcrdns=(("198.51.100.25", True), ("198.51.100.26", False)),
    )
    d = DomainDns("example.test", MxStatus.FOUND, "", 1.0, mx=(host,))
    found = [(f.code, f.target) for f in check_dns(d, allow_nonpublic=True) if f.code.startswith("PTR")]
    assert found == [("PTR-MISMATCH", "198.51.100.26"), ("PTR-MISSING", "2001:db8::25")]


def test_every_emitted_code_is_catalogued_with_a_fix() -> None:
    wanted = ("MX-NONE", "MX-IP-LITERAL", "SPF-TOO-MANY-LOOKUPS", "DMARC-POLICY-NONE", "MTA-STS-MX-MISMATCH",
              "TLSRPT-MISSING", "DANE-MISMATCH", "DKIM-WEAK-KEY", "DNSBL-LISTED", "DNSSEC-UNAUTHENTICATED")  # fmt: skip
    for code in wanted:
        kind = lookup(code)
        assert kind is not None and kind.fix and kind.why, code


def test_a_domain_that_does_not_exist_gets_one_finding_not_noise() -> None:
    from mailprobe.model import DnsRecord, RecordKind, RecordStatus

    missing = tuple(
        DnsRecord(kind, name, "", RecordStatus.MISSING)
        for kind, name in ((RecordKind.SPF, "gone.test"), (RecordKind.DMARC, "_dmarc.gone.test"),
                           (RecordKind.MTA_STS, "_mta-sts.gone.test"), (RecordKind.TLS_RPT, "_smtp._tls.gone.test"))
    )  # fmt: skip
    d = DomainDns("gone.test", MxStatus.NXDOMAIN, "NXDOMAIN", 1.0, records=missing, authenticated=False)
    assert [f.code for f in check_dns(d)] == ["MX-NXDOMAIN"]


def test_a_retired_mta_sts_policy_needs_no_mx_lines() -> None:
    """RFC 8461 8.3: `mode: none` retires MTA-STS; senders apply nothing, so an MX it does not list is fine."""
    url = "https://mta-sts.example.test/.well-known/mta-sts.txt"
    for body, mismatch in (
        ("version: STSv1\r\nmode: none\r\nmax_age: 86400\r\n", False),
        ("version: STSv1\r\nmode: testing\r\nmx: other.example.test\r\nmax_age: 86400\r\n", True),
    ):
        fetched = StsFetch(parse_sts_policy(body), url, "203.0.113.80")
        [record] = match_sts([DnsRecord(RecordKind.MTA_STS_POLICY, url, body, RecordStatus.OK, "", fetched)], [MX])
        codes = {f.code for f in findings(dns=(domain("example.test", MX, records=(record,)),))}
        assert ("MTA-STS-MX-MISMATCH" in codes) is mismatch, body
