"""Checks of TLS sessions, judged in the context an expert weighs.

Who verifies the certificate decides what a fault costs:
- port 25 (server to server): DANE-EE matching the served key makes names, dates and issuer irrelevant
  (RFC 7672 3.1.1); DANE-TA needs the chain to reach the anchor and the names to match; an MTA-STS policy in
  enforce mode makes an invalid certificate a delivery failure (testing: a report); with neither, senders use
  TLS opportunistically and deliver anyway, so a fault only hurts senders configured to verify;
- submission, IMAP and POP3: mail clients verify against the name in their settings, so names are judged
  against the name the user gave (or the SRV target, or --servername), never an MX name they were found
  through, and never against an address.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from mailprobe.checks.catalogue import FindingKind, finding
from mailprobe.checks.dane import Dane, DaneOutcome, dane_for
from mailprobe.checks.defs import tls as t
from mailprobe.checks.framework import Check
from mailprobe.checks.places import host_of, place
from mailprobe.dns.names import is_address
from mailprobe.model import (
    Category,
    CertFacts,
    Finding,
    HandshakeResult,
    RecordKind,
    RecordStatus,
    Report,
    Service,
    Severity,
    SrvTarget,
    StsFetch,
    TlsFacts,
    VerifyFailure,
)
from mailprobe.protocols.certnames import WEAK_KEY_BITS, hostname_matches


class Verifier(str, Enum):
    """Who checks this certificate, and how strictly."""

    DANE_EE = "dane-ee"  # DANE-EE matched: nothing of the certificate but its key matters
    DANE_TA = "dane-ta"  # DANE-TA matched: names and dates matter, the PKIX issuer does not
    STS_ENFORCE = "mta-sts-enforce"  # MTA-STS enforce: PKIX validity for the MX name, or no delivery
    STS_TESTING = "mta-sts-testing"  # MTA-STS testing: failures are reported, mail still goes
    OPPORTUNISTIC = "opportunistic"  # port 25, no DANE match nor MTA-STS: senders without DANE deliver anyway
    # Port 25 probed by address: senders check the MX name (when they check), which this run does not know.
    OPPORTUNISTIC_NAME_UNKNOWN = "opportunistic-name-unknown"
    CLIENT = "client"  # a mail client, against the name it was given
    CLIENT_NAME_UNKNOWN = "client-name-unknown"  # a client port reached through an MX name or an address


@dataclass(frozen=True, slots=True)
class Context:
    verifier: Verifier
    why: str  # a few words naming the evidence for the context, for the finding's evidence
    names: tuple[str, ...] = ()  # the names a client accepts, when not the one probed (RFC 7817 for SRV)
    name_why: str = ""  # why names are not judged, when that is all a finding says (else `why`)


@dataclass(frozen=True, slots=True)
class Costs:
    """What each kind of certificate fault costs under a verifier (None: it does not matter there)."""

    name: Severity | None
    trust: Severity | None  # no path to a trusted root
    self_signed: Severity | None
    dates: Severity | None  # expired or not yet valid


_HIGH, _MEDIUM, _LOW = Severity.HIGH, Severity.MEDIUM, Severity.LOW
COSTS: dict[Verifier, Costs] = {
    Verifier.DANE_EE: Costs(None, None, None, None),
    Verifier.DANE_TA: Costs(_HIGH, None, None, _HIGH),
    Verifier.STS_ENFORCE: Costs(_HIGH, _HIGH, _HIGH, _HIGH),
    Verifier.STS_TESTING: Costs(_MEDIUM, _MEDIUM, _MEDIUM, _MEDIUM),
    Verifier.OPPORTUNISTIC: Costs(_LOW, _LOW, _LOW, _MEDIUM),
    Verifier.OPPORTUNISTIC_NAME_UNKNOWN: Costs(None, _LOW, _LOW, _MEDIUM),
    Verifier.CLIENT: Costs(_HIGH, _HIGH, _MEDIUM, _HIGH),
    Verifier.CLIENT_NAME_UNKNOWN: Costs(None, _HIGH, _MEDIUM, _HIGH),
}


def _sts_mode(report: Report, host: str) -> tuple[str | None, str]:
    """The MTA-STS mode that covers this MX host, and where it was found."""
    wanted = host.rstrip(".").lower()
    for domain in report.dns:
        if not any(mx.name.rstrip(".").lower() == wanted for mx in domain.mx):
            continue
        for record in domain.records_of(RecordKind.MTA_STS_POLICY):
            fetched = record.parsed
            if record.status is RecordStatus.OK and isinstance(fetched, StsFetch):
                covered = wanted not in {u.rstrip(".").lower() for u in fetched.unmatched_mx}
                if covered and fetched.policy.mode in ("enforce", "testing"):
                    return fetched.policy.mode, f"MTA-STS policy of {domain.domain}, mode {fetched.policy.mode}"
    return None, ""


BY_ADDRESS = "probed by address; give --servername NAME to judge names"


def context_of(report: Report, h: HandshakeResult) -> Context:
    if h.target.service is Service.SMTP:
        dane = dane_for(report, h)
        if dane.outcome is DaneOutcome.EE_MATCH:
            return Context(Verifier.DANE_EE, "a DNSSEC-validated DANE-EE TLSA record matches the key served")
        if dane.outcome is DaneOutcome.TA_MATCH:
            return Context(Verifier.DANE_TA, "a DNSSEC-validated DANE-TA TLSA record matches the chain")
        mode, where = _sts_mode(report, h.target.host)
        if mode == "enforce":
            return Context(Verifier.STS_ENFORCE, where)
        if mode == "testing":
            return Context(Verifier.STS_TESTING, where)
        if is_address(h.target.host) and not report.context.servername:
            why = f"{BY_ADDRESS}; {_without_policy(report, h, dane)}"
            return Context(Verifier.OPPORTUNISTIC_NAME_UNKNOWN, why, name_why=BY_ADDRESS)
        return Context(Verifier.OPPORTUNISTIC, _without_policy(report, h, dane))
    if report.context.servername:
        return Context(Verifier.CLIENT, f"clients connect as {report.context.servername} (--servername)")
    if is_address(h.target.host):
        return Context(Verifier.CLIENT_NAME_UNKNOWN, BY_ADDRESS)
    if h.target.origin in ("mx", "implicit-mx"):
        return Context(
            Verifier.CLIENT_NAME_UNKNOWN, f"reached through the MX name {h.target.host}, which clients need not use"
        )
    if h.target.origin == "srv":
        return _srv_context(report, h)
    return Context(Verifier.CLIENT, f"clients connect as {h.target.host} (name given)")


_OPPORTUNISTIC = (
    ": without them senders use TLS opportunistically and deliver anyway; only senders configured to verify "
    "this host would refuse"
)


def _without_policy(report: Report, h: HandshakeResult, dane: Dane) -> str:
    """Why port 25 is judged as opportunistic TLS: what mailprobe found of DANE and MTA-STS for the host."""
    if dane.outcome is DaneOutcome.UNCHECKED:
        return (
            "DNSSEC-validated TLSA records exist for this host but were not checked against the certificate "
            "(mailprobe checks SHA2-256 and SHA2-512 digests, not matching type Full), and no MTA-STS policy "
            "covers it: DANE senders deliver only if one matches, others use TLS opportunistically"
        )
    if dane.outcome is DaneOutcome.MISMATCH:
        return (
            "the DNSSEC-validated TLSA records of this host match no certificate served (DANE-MISMATCH) and no "
            "MTA-STS policy covers it: DANE senders refuse whatever the certificate says, others use TLS "
            "opportunistically"
        )
    if dane.records:  # usable, but not DNSSEC-validated
        return (
            "the TLSA records of this host are not DNSSEC-validated, so senders ignore them, and no MTA-STS "
            "policy covers it" + _OPPORTUNISTIC
        )
    host = h.target.host.rstrip(".").lower()
    if any(mx.name.rstrip(".").lower() == host for d in report.dns for mx in d.mx):
        return "no DANE or MTA-STS policy covers this host" + _OPPORTUNISTIC
    return (
        "DANE and MTA-STS were not looked up (no DNS stage for this host; `mailprobe audit DOMAIN` does)"
        + _OPPORTUNISTIC
    )


def _srv_context(report: Report, h: HandshakeResult) -> Context:
    """RFC 7817 3: a client that found the server through SRV checks the certificate against the domain of the
    mail address (the source domain), and against the SRV target only when the SRV answer was DNSSEC-validated."""
    wanted = h.target.host.rstrip(".").lower()
    for domain in report.dns:
        for record in domain.records_of(RecordKind.SRV):
            srv = record.parsed
            if isinstance(srv, SrvTarget) and srv.target == wanted and srv.port == h.target.port:
                names = (domain.domain, wanted) if record.authenticated else (domain.domain,)
                how = (
                    "or the SRV target (DNSSEC-validated)"
                    if record.authenticated
                    else "(the SRV answer is not DNSSEC-validated, so not the SRV target)"
                )
                return Context(Verifier.CLIENT, f"clients that find it through SRV accept {domain.domain} {how}", names)
    return Context(Verifier.CLIENT, f"clients connect as {h.target.host} (SRV target)")


def _cert_id(leaf: CertFacts) -> str:
    return f"certificate {leaf.subject} (sha256 {leaf.fingerprint_sha256[:16]}…)"


def with_tls(report: Report) -> Iterator[HandshakeResult]:
    yield from (h for h in report.handshakes if h.tls is not None and h.tls.leaf is not None)


def _certificate(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    """Name, trust and dates, at the cost the context gives them."""
    tls = h.tls
    assert tls is not None and tls.leaf is not None
    leaf, where, host = tls.leaf, place(h), host_of(h)
    ctx = context_of(report, h)
    costs = COSTS[ctx.verifier]
    faults: list[tuple[Severity | None, FindingKind, str]] = []  # (what it costs here, kind, evidence)
    if leaf.days_left < 0:
        faults.append((costs.dates, t.CERT_EXPIRED, f"notAfter {leaf.not_after} ({-leaf.days_left} days ago)"))
    elif tls.verify_failure is VerifyFailure.NOT_YET_VALID:
        faults.append((costs.dates, t.CERT_NOT_YET_VALID, f"notBefore {leaf.not_before}"))
    accepted = ctx.names or (tls.hostname,)
    matched = any(hostname_matches(leaf, name) for name in ctx.names) if ctx.names else tls.hostname_match
    if not matched:
        names = ", ".join(leaf.san) or leaf.subject
        expected = " or ".join(repr(n) for n in accepted)
        faults.append((costs.name, t.HOSTNAME_MISMATCH, f"expected {expected}; certificate names: {names}"))
    if leaf.self_signed:
        faults.append((costs.self_signed, t.CERT_SELF_SIGNED, f"subject = issuer = {leaf.subject}"))
    elif not tls.verified and tls.verify_failure in (VerifyFailure.UNKNOWN_ISSUER, VerifyFailure.OTHER):
        faults.append((costs.trust, t.CERT_UNTRUSTED, f"{tls.verify_error}; issuer {leaf.issuer}"))
    overridden: list[tuple[FindingKind, str]] = []  # what a PKIX check would have said, not a fault here
    for severity, kind, evidence in faults:
        if severity is None:
            overridden.append((kind, f"{kind.code} ({evidence})"))
            continue
        text = f"{_cert_id(leaf)}: {evidence}; {ctx.why}"
        yield finding(kind, host, text, places=(where,), severity=severity)
    if overridden and ctx.verifier is Verifier.DANE_EE:
        unused = "; ".join(words for _, words in overridden)
        yield finding(t.DANE_EE_AUTHENTICATES, host, f"{_cert_id(leaf)}: not used: {unused}", places=(where,))
    elif any(kind is t.HOSTNAME_MISMATCH for kind, _ in overridden):
        yield finding(t.NAME_NOT_JUDGED, host, f"{_cert_id(leaf)}: {ctx.name_why or ctx.why}", places=(where,))
    if 0 <= leaf.days_left < t.EXPIRING_DAYS and costs.dates is not None:
        evidence = f"{_cert_id(leaf)}: notAfter {leaf.not_after} ({leaf.days_left} days left)"
        yield finding(t.CERT_EXPIRING, host, evidence, places=(where,))


def _strength(report: Report, h: HandshakeResult) -> Iterator[Finding]:
    """Key size, protocol versions and cipher: these matter whoever verifies."""
    tls = h.tls
    assert tls is not None and tls.leaf is not None
    leaf, where, host = tls.leaf, place(h), host_of(h)
    minimum = WEAK_KEY_BITS.get(leaf.key_type)
    if minimum is not None and leaf.key_bits < minimum and context_of(report, h).verifier is not Verifier.DANE_EE:
        yield finding(t.WEAK_KEY, host, f"{_cert_id(leaf)}: {leaf.key_type} {leaf.key_bits} bits", places=(where,))
    yield from _versions(tls, host, where, relay=h.target.service is Service.SMTP)


# Port 25: TLS is opportunistic, so refusing TLS 1.0/1.1 may turn an old sender's TLS into plaintext; senders that
# can do TLS 1.2 or 1.3 negotiate it anyway. Postfix's default (smtpd_tls_protocols) still accepts them.
_RELAY_LEGACY_TITLE = "Server still accepts TLS 1.0/1.1 on port 25 (phase out)"
_RELAY_LEGACY_FIX = (
    "Phase them out once the senders you receive from no longer need them (Postfix: smtpd_tls_protocols = "
    ">=TLSv1.2). Low on port 25: TLS there is opportunistic, and a sender that cannot do TLS 1.2 may then fall "
    "back to plaintext; RFC 8996 still deprecates them."
)


def _versions(tls: TlsFacts, host: str, where: str, *, relay: bool) -> Iterator[Finding]:
    if tls.legacy_versions:
        evidence = "accepted: " + ", ".join(tls.legacy_versions)
        if relay:
            yield finding(
                t.LEGACY_TLS, host, evidence, places=(where,), severity=Severity.LOW, title=_RELAY_LEGACY_TITLE,
                fix=_RELAY_LEGACY_FIX,
            )  # fmt: skip
        else:
            yield finding(t.LEGACY_TLS, host, evidence, places=(where,))
    elif tls.legacy_unknown or tls.legacy_not_offered:  # none seen accepted, and not every one seen refused
        why = [f"no conclusion for {', '.join(tls.legacy_unknown)}"] if tls.legacy_unknown else []
        if tls.legacy_not_offered:
            why.append(f"not tried: this machine's OpenSSL cannot offer {', '.join(tls.legacy_not_offered)}")
        yield finding(t.LEGACY_NOT_JUDGED, host, "; ".join(why), places=(where,))
    if tls.version in ("SSLv3", "TLSv1", "TLSv1.1"):
        yield finding(t.OLD_TLS_NEGOTIATED, host, f"negotiated {tls.version}", places=(where,))
    cipher = tls.cipher.upper()
    if (tls.cipher_bits and tls.cipher_bits < 128) or any(
        w in cipher for w in ("RC4", "3DES", "DES-CBC", "NULL", "EXP")
    ):
        yield finding(t.WEAK_CIPHER, host, f"{tls.cipher} ({tls.cipher_bits} bits)", places=(where,))


CHECKS: tuple[Check[HandshakeResult], ...] = (
    Check("tls-certificate", Category.TLS, with_tls, place, _certificate),
    Check("tls-strength", Category.TLS, with_tls, place, _strength),
)
