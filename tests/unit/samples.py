"""Two fixed reports: a realistic one (previews, golden tests, docs) and a hostile one (escaping tests).

The hostile report carries in its server-supplied fields everything a malicious or broken server could send
to attack the output: ANSI escapes, HTML/script, Markdown table syntax, NUL, CDATA ends, bidi overrides,
C1 controls, U+FFFF and invalid UTF-8 in transcript bytes.
"""

from __future__ import annotations

from dataclasses import replace

from mailprobe.model import (
    Capability,
    Category,
    CertFacts,
    CheckResult,
    CheckStatus,
    Direction,
    DnsRecord,
    DomainDns,
    EgressResult,
    EgressSign,
    EgressSignKind,
    EgressVerdict,
    ErrorKind,
    Finding,
    HandshakeResult,
    MxHost,
    MxHostStatus,
    MxStatus,
    PortResult,
    PortState,
    ProbeStatus,
    RecordKind,
    RecordStatus,
    Reply,
    Report,
    RunError,
    Service,
    Severity,
    SmtpFacts,
    StartTlsOutcome,
    Target,
    TlsFacts,
    TranscriptEntry,
)
from mailprobe.records.dmarc import parse_dmarc

_C, _S, _TLS, _NOTE = Direction.CLIENT, Direction.SERVER, Direction.TLS, Direction.NOTE


def _cert(name: str, days_left: int, not_after: str) -> CertFacts:
    return CertFacts(
        subject=f"CN={name}",
        issuer="CN=Example Issuing CA,O=Example Trust",
        serial="0a1b2c3d4e5f",
        not_before="2026-01-01T00:00:00Z",
        not_after=not_after,
        days_left=days_left,
        san=(name, "mail.example.com"),
        key_type="EC",
        key_bits=256,
        signature_algorithm="ecdsa-with-SHA256",
        fingerprint_sha256="5f" * 32,
        spki_sha256="a3" * 32,
        self_signed=False,
        fingerprint_sha512="5f" * 64,
        spki_sha512="a3" * 64,
    )


_INTERMEDIATE = CertFacts(
    subject="CN=Example Issuing CA,O=Example Trust",
    issuer="CN=Example Root CA,O=Example Trust",
    serial="01",
    not_before="2025-01-01T00:00:00Z",
    not_after="2030-01-01T00:00:00Z",
    days_left=1132,
    san=(),
    key_type="RSA",
    key_bits=4096,
    signature_algorithm="sha384WithRSAEncryption",
    fingerprint_sha256="7c" * 32,
    spki_sha256="19" * 32,
    self_signed=False,
    fingerprint_sha512="7c" * 64,
    spki_sha512="19" * 64,
)

_EHLO_BEFORE = (
    Capability("PIPELINING", (), "PIPELINING"),
    Capability("SIZE", ("52428800",), "SIZE 52428800"),
    Capability("STARTTLS", (), "STARTTLS"),
    Capability("ENHANCEDSTATUSCODES", (), "ENHANCEDSTATUSCODES"),
    Capability("8BITMIME", (), "8BITMIME"),
    Capability("SMTPUTF8", (), "SMTPUTF8"),
)
_EHLO_AFTER = (
    Capability("PIPELINING", (), "PIPELINING"),
    Capability("SIZE", ("52428800",), "SIZE 52428800"),
    Capability("AUTH", ("PLAIN", "LOGIN"), "AUTH PLAIN LOGIN"),
    Capability("ENHANCEDSTATUSCODES", (), "ENHANCEDSTATUSCODES"),
    Capability("8BITMIME", (), "8BITMIME"),
    Capability("SMTPUTF8", (), "SMTPUTF8"),
)

_SMTP_TRANSCRIPT = (
    TranscriptEntry(_S, b"220 mx1.example.com ESMTP Postfix\r\n", 14.2, "greeting"),
    TranscriptEntry(_C, b"EHLO mailprobe.invalid\r\n", 14.5, "ask for extensions"),
    TranscriptEntry(
        _S,
        b"250-mx1.example.com\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-STARTTLS\r\n"
        b"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
        16.0,
    ),
    TranscriptEntry(_C, b"STARTTLS\r\n", 16.3, "upgrade to TLS"),
    TranscriptEntry(_S, b"220 2.0.0 Ready to start TLS\r\n", 17.1),
    TranscriptEntry(_TLS, b"TLSv1.3 TLS_AES_256_GCM_SHA384", 41.8, "handshake done"),
    TranscriptEntry(_C, b"EHLO mailprobe.invalid\r\n", 42.0, "extensions again, now under TLS"),
    TranscriptEntry(
        _S,
        b"250-mx1.example.com\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-AUTH PLAIN LOGIN\r\n"
        b"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
        43.5,
    ),
    TranscriptEntry(_C, b"QUIT\r\n", 43.7, "polite goodbye"),
    TranscriptEntry(_S, b"221 2.0.0 Bye\r\n", 44.9),
)


MX1_PLACE = "mx1.example.com [198.51.100.10]:25/smtp"
MX2_PLACE = "mx2.example.com [2001:db8::25]:25/smtp"


def _sample_checks() -> tuple[CheckResult, ...]:
    """What the checks recorded for the sample: passes beside the failures that raised its findings."""
    passed, failed = CheckStatus.PASSED, CheckStatus.FAILED
    return (
        CheckResult("mx-outcome", Category.DNS, "example.com", passed),
        CheckResult("mx-hosts", Category.DNS, "mx1.example.com", passed),
        CheckResult("mx-hosts", Category.DNS, "mx2.example.com", passed),
        CheckResult("spf", Category.POLICY, "example.com", passed),
        CheckResult("dmarc", Category.POLICY, "example.com", failed, ("DMARC-POLICY-NONE",)),
        CheckResult("mta-sts", Category.POLICY, "example.com", failed, ("MTA-STS-MISSING",)),
        CheckResult("port-state", Category.REACH, "mx1.example.com [198.51.100.10]:25", passed),
        CheckResult("port-state", Category.REACH, "mx2.example.com [2001:db8::25]:25", passed),
        CheckResult("session", Category.SMTP, MX1_PLACE, passed),
        CheckResult("session", Category.SMTP, MX2_PLACE, passed),
        CheckResult("starttls", Category.SMTP, MX1_PLACE, passed),
        CheckResult("starttls", Category.SMTP, MX2_PLACE, passed),
        CheckResult("plaintext-auth", Category.SMTP, MX1_PLACE, passed),
        CheckResult("plaintext-auth", Category.SMTP, MX2_PLACE, failed, ("AUTH-BEFORE-TLS",)),
        CheckResult("tls-certificate", Category.TLS, MX1_PLACE, passed),
        CheckResult(
            "tls-certificate", Category.TLS, MX2_PLACE, failed, ("TLS-HOSTNAME-MISMATCH", "TLS-CERT-EXPIRING")
        ),
        CheckResult("tls-strength", Category.TLS, MX1_PLACE, passed),
        CheckResult("tls-strength", Category.TLS, MX2_PLACE, passed),
    )


def sample_report() -> Report:
    """An audit of example.com: two MX hosts, one healthy, one with an expiring, mismatched certificate."""
    mx1 = Target("mx1.example.com", "198.51.100.10", 25, Service.SMTP, "mx")
    mx2 = Target("mx2.example.com", "2001:db8::25", 25, Service.SMTP, "mx")
    tls1 = TlsFacts(
        version="TLSv1.3",
        cipher="TLS_AES_256_GCM_SHA384",
        cipher_bits=256,
        group="x25519",
        chain=(_cert("mx1.example.com", 85, "2026-12-24T00:00:00Z"), _INTERMEDIATE),
        verified=True,
        verify_error=None,
        hostname="mx1.example.com",
        hostname_match=True,
    )
    tls2 = replace(
        tls1,
        version="TLSv1.2",
        cipher="ECDHE-RSA-AES128-GCM-SHA256",
        cipher_bits=128,
        group=None,
        chain=(_cert("old.example.net", 5, "2026-10-05T00:00:00Z"),),
        verified=False,
        verify_error="unable to get local issuer certificate",
        hostname="mx2.example.com",
        hostname_match=False,
        legacy_versions=("TLSv1", "TLSv1.1"),
    )
    h1 = HandshakeResult(
        target=mx1,
        status=ProbeStatus.SUCCESS,
        reason="",
        elapsed_ms=44.9,
        banner="mx1.example.com ESMTP Postfix",
        greeting_code="220",
        capabilities_before=_EHLO_BEFORE,
        capabilities_after=_EHLO_AFTER,
        starttls=StartTlsOutcome.OK,
        starttls_reply="220 2.0.0 Ready to start TLS",
        tls=tls1,
        auth_after_tls=("PLAIN", "LOGIN"),
        smtp=SmtpFacts(greeting_host="mx1.example.com", size_limit=10240000),
        round_trips=5,
        transcript=_SMTP_TRANSCRIPT,
    )
    h2 = HandshakeResult(
        target=mx2,
        status=ProbeStatus.SUCCESS,
        reason="",
        elapsed_ms=120.4,
        banner="mx2.example.com ESMTP Exim 4.96",
        greeting_code="220",
        capabilities_before=(*_EHLO_BEFORE[:3], Capability("AUTH", ("PLAIN", "LOGIN"), "AUTH PLAIN LOGIN")),
        capabilities_after=(*_EHLO_BEFORE[:2], Capability("AUTH", ("PLAIN", "LOGIN"), "AUTH PLAIN LOGIN")),
        starttls=StartTlsOutcome.OK,
        starttls_reply="220 TLS go ahead",
        tls=tls2,
        auth_before_tls=("PLAIN", "LOGIN"),
        auth_after_tls=("PLAIN", "LOGIN"),
        round_trips=5,
    )
    return Report(
        command="audit",
        targets=("example.com",),
        started_at="2026-09-30T12:00:00Z",
        elapsed_ms=1834.6,
        dns=(
            DomainDns(
                domain="example.com",
                status=MxStatus.FOUND,
                reason="2 MX hosts",
                elapsed_ms=12.3,
                mx=(
                    MxHost(
                        10,
                        "mx1.example.com",
                        ("198.51.100.10",),
                        ptr=(("198.51.100.10", "mx1.example.com"),),
                        fcrdns=(("198.51.100.10", True),),
                    ),
                    MxHost(
                        20,
                        "mx2.example.com",
                        ("2001:db8::25",),
                        ptr=(("2001:db8::25", ""),),
                        fcrdns=(("2001:db8::25", False),),
                    ),
                ),
                records=(
                    DnsRecord(RecordKind.SPF, "example.com", "v=spf1 mx -all", RecordStatus.OK),
                    DnsRecord(
                        RecordKind.DMARC,
                        "_dmarc.example.com",
                        "v=DMARC1; p=none; rua=mailto:d@example.com",
                        RecordStatus.OK,
                        "p=none only monitors",
                        parse_dmarc("v=DMARC1; p=none; rua=mailto:d@example.com"),
                    ),
                    DnsRecord(RecordKind.MTA_STS, "_mta-sts.example.com", "", RecordStatus.MISSING),
                ),
                authenticated=False,
            ),
        ),
        ports=(
            PortResult("mx1.example.com", "198.51.100.10", 25, PortState.OPEN, "syn-ack", 11.8, Service.SMTP),
            PortResult(
                "mx1.example.com", "198.51.100.10", 465, PortState.CLOSED, "conn-refused", 0.9, Service.SUBMISSIONS
            ),
            PortResult("mx2.example.com", "2001:db8::25", 25, PortState.OPEN, "syn-ack", 38.2, Service.SMTP),
            PortResult(
                "mx2.example.com",
                "2001:db8::25",
                587,
                PortState.FILTERED,
                "no-response",
                5000.0,
                Service.SUBMISSION,
                attempts=2,
            ),
        ),
        handshakes=(h1, h2),
        findings=(
            Finding(
                "DMARC-POLICY-NONE",
                Severity.LOW,
                "example.com",
                "DMARC policy only monitors",
                "v=DMARC1; p=none; rua=mailto:d@example.com",
                "Move to p=quarantine, then p=reject.",
                category=Category.POLICY,
            ),
            Finding(
                "MTA-STS-MISSING",
                Severity.INFO,
                "example.com",
                "No MTA-STS policy",
                "_mta-sts.example.com: no TXT record",
                "Publish an MTA-STS policy.",
                category=Category.POLICY,
            ),
            Finding(
                "TLS-HOSTNAME-MISMATCH",
                Severity.HIGH,
                "mx2.example.com:25",
                "Certificate does not match the host name",
                "SAN old.example.net, mail.example.com; checked mx2.example.com",
                "Issue a certificate that names every MX host.",
                places=("mx2.example.com [2001:db8::25]:25/smtp",),
                category=Category.TLS,
            ),
            Finding(
                "TLS-CERT-EXPIRING",
                Severity.MEDIUM,
                "mx2.example.com:25",
                "Certificate expires soon",
                "notAfter 2026-10-05T00:00:00Z (5 days left)",
                "Renew the certificate and automate renewal.",
                places=("mx2.example.com [2001:db8::25]:25/smtp",),
                category=Category.TLS,
            ),
            Finding(
                "AUTH-BEFORE-TLS",
                Severity.MEDIUM,
                "[2001:db8::25]:25",
                "AUTH offered before STARTTLS",
                "250-AUTH PLAIN LOGIN before STARTTLS",
                "Offer AUTH only after STARTTLS.",
                places=("mx2.example.com [2001:db8::25]:25/smtp",),
                category=Category.SMTP,
            ),
        ),
        checks=_sample_checks(),
        errors=(),
        profile="mail-host",
        tool_version="0.1.0",
        meta=(("resolver", "127.0.0.1:5353"), ("ipv6", "yes")),
    )


HOSTILE = (
    "\x1b[2J\x1b[31mPWNED\x1b[0m <script>alert(1)</script> `code` | a | b | NUL\x00 ]]> "
    "\u202eevil\u202c \u2066iso\u2069 C1\x9b31m DEL\x7f \ufffe\uffff [link](http://x.invalid) **b** _i_ "
    "@user #1 $x$ \r\nInjected: header\rOVER"
)
HOSTILE_BYTES = HOSTILE.encode("utf-8", "surrogatepass") + b"\xff\xfe\xc0\x80 invalid utf-8 \r\n"


def hostile_report() -> Report:
    """Every server-controlled field filled with hostile text (and hostile bytes in the transcript)."""
    base = sample_report()
    h = base.handshakes[0]
    assert h.tls is not None and h.tls.leaf is not None
    cap = Capability("X-" + HOSTILE, (HOSTILE,), HOSTILE)
    hostile_handshake = replace(
        h,
        target=replace(h.target, host="mx1.example.com"),
        status=ProbeStatus.PROTOCOL_ERROR,
        reason=HOSTILE,
        banner=HOSTILE,
        capabilities_before=(cap,),
        capabilities_after=(cap, *h.capabilities_after),
        starttls_reply=HOSTILE,
        tls=replace(
            h.tls,
            cipher=HOSTILE,
            verify_error=HOSTILE,
            verified=False,
            chain=(replace(h.tls.leaf, subject=HOSTILE, san=(HOSTILE,), issuer=HOSTILE),),
        ),
        tls_error=HOSTILE,
        auth_before_tls=(HOSTILE,),
        smtp=SmtpFacts(greeting_host=HOSTILE, vrfy=Reply("252", HOSTILE), expn=Reply(HOSTILE, HOSTILE)),
        transcript=(
            TranscriptEntry(_S, HOSTILE_BYTES, 1.0, HOSTILE),
            TranscriptEntry(_C, b"EHLO mailprobe.invalid\r\n", 2.0, "ask"),
            TranscriptEntry(_S, b"250 \x1b]0;title\x07 bare LF\n no end \x00", 3.0),
            TranscriptEntry(_TLS, HOSTILE_BYTES, 4.0),
            TranscriptEntry(_NOTE, HOSTILE_BYTES, 5.0, HOSTILE),
        ),
    )
    return replace(
        base,
        targets=("example.com", HOSTILE),
        dns=(
            replace(
                base.dns[0],
                reason=HOSTILE,
                mx=(
                    MxHost(
                        10,
                        HOSTILE,
                        (HOSTILE,),
                        MxHostStatus.CNAME,
                        HOSTILE,
                        ((HOSTILE, HOSTILE),),
                        ((HOSTILE, True),),
                        ((HOSTILE, HOSTILE),),
                    ),
                ),
                records=(DnsRecord(RecordKind.DNSBL, HOSTILE, HOSTILE, RecordStatus.LISTED, HOSTILE),),
                alias_of=HOSTILE,
                duplicate_mx=(HOSTILE,),
            ),
        ),
        ports=(replace(base.ports[0], reason=HOSTILE, host=HOSTILE),),
        handshakes=(hostile_handshake,),
        findings=(
            Finding("HOSTILE", Severity.CRITICAL, HOSTILE, HOSTILE, HOSTILE, HOSTILE),
            Finding("TLS-CERT-EXPIRING", Severity.MEDIUM, "mx1.example.com:25", "t", HOSTILE, "f"),
        ),
        egress=EgressResult(
            EgressVerdict.INTERCEPTED,
            HOSTILE,
            (HOSTILE, HOSTILE),
            (base.ports[1],),
            (hostile_handshake,),
            signs=(EgressSign(EgressSignKind.SHARED_IDENTITY, HOSTILE, (HOSTILE,)),),
            notes=(HOSTILE,),
        ),
        errors=(RunError(HOSTILE, ErrorKind.INTERNAL, HOSTILE),),
        checks=(
            CheckResult("session", Category.SMTP, MX1_PLACE, CheckStatus.FAILED, ("HOSTILE",)),
            CheckResult(HOSTILE, Category.SMTP, HOSTILE, CheckStatus.FAILED, ("HOSTILE",), HOSTILE),
            CheckResult(HOSTILE, Category.TLS, HOSTILE, CheckStatus.ERROR, (), HOSTILE),
            CheckResult("starttls", Category.SMTP, MX1_PLACE, CheckStatus.PASSED),
        ),
        profile=HOSTILE,
        tool_version=HOSTILE,
        meta=((HOSTILE, HOSTILE),),
        command=HOSTILE,
    )
