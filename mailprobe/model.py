"""The report model: frozen dataclasses and str-Enums shared by every stage.

Every stage returns these; failures are values here (a status and a reason), never exceptions.
Renderers and checks know only this module.
"""

from __future__ import annotations

import functools
import operator
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # at run time see type_hints(): a port scan never parses a record
    from mailprobe.records.dkim import DkimKey
    from mailprobe.records.dmarc import DmarcRecord
    from mailprobe.records.mtasts import StsPolicy
    from mailprobe.records.spf import SpfRecord
    from mailprobe.records.tags import TagRecord
    from mailprobe.records.tlsa import Tlsa

SCHEMA_VERSION = 2


class Severity(str, Enum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


class Protocol(str, Enum):
    SMTP = "smtp"
    POP3 = "pop3"
    IMAP = "imap"


class Service(str, Enum):
    """A mail service: a protocol on its well-known port, with or without implicit TLS (see SERVICES)."""

    SMTP = "smtp"  # 25, relay between servers
    SUBMISSION = "submission"  # 587, STARTTLS
    SUBMISSIONS = "submissions"  # 465, implicit TLS
    POP3 = "pop3"  # 110
    POP3S = "pop3s"  # 995
    IMAP = "imap"  # 143
    IMAPS = "imaps"  # 993

    @property
    def spec(self) -> ServiceSpec:
        return SERVICES[self]

    @property
    def default_port(self) -> int:
        return SERVICES[self].port

    @property
    def protocol(self) -> Protocol:
        return SERVICES[self].protocol

    @property
    def implicit_tls(self) -> bool:
        return SERVICES[self].implicit_tls

    @classmethod
    def for_port(cls, port: int) -> Service | None:
        return next((service for service, spec in SERVICES.items() if spec.port == port), None)


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """What a service is: its protocol, its port, TLS from the first byte or by upgrade, its SRV name."""

    protocol: Protocol
    port: int
    implicit_tls: bool
    srv_label: str | None  # RFC 6186 / RFC 8314 SRV owner label, e.g. "_submission._tcp"; None: not announced


# The registry of services: the DNS stage's SRV lookups, the port scan and the probes derive from it. Adding a
# protocol is its parser (protocols/), its probe (probes/, one line in probes/registry.py) and lines here.
SERVICES: dict[Service, ServiceSpec] = {
    Service.SMTP: ServiceSpec(Protocol.SMTP, 25, False, None),
    Service.SUBMISSION: ServiceSpec(Protocol.SMTP, 587, False, "_submission._tcp"),
    Service.SUBMISSIONS: ServiceSpec(Protocol.SMTP, 465, True, "_submissions._tcp"),
    Service.POP3: ServiceSpec(Protocol.POP3, 110, False, "_pop3._tcp"),
    Service.POP3S: ServiceSpec(Protocol.POP3, 995, True, "_pop3s._tcp"),
    Service.IMAP: ServiceSpec(Protocol.IMAP, 143, False, "_imap._tcp"),
    Service.IMAPS: ServiceSpec(Protocol.IMAP, 993, True, "_imaps._tcp"),
}
MAIL_PORTS: tuple[int, ...] = tuple(spec.port for spec in SERVICES.values())


class PortState(str, Enum):
    OPEN = "open"  # handshake completed
    CLOSED = "closed"  # RST from the host
    FILTERED = "filtered"  # no answer within the timeout (after a retry)
    UNREACHABLE = "unreachable"  # ICMP error
    ERROR = "error"  # could not probe (bad address, local error)
    BLOCKED = "blocked"  # refused by the safety guard (MAILPROBE_ALLOW_ONLY): nothing was sent


class BusyPath(str, Enum):
    """Why a silent port looked like a busy service's, its address having answered earlier in the run: a busy
    server whose accept queue is full drops SYNs exactly as a firewall does, so such silence is no firewall's
    verdict. Each sign is of the same port number on its path (/24, /48), seen shortly before (scheduler.py)."""

    LOST_SYNS = "lost-syns"  # that port answered only a retry (its earlier SYNs were lost)
    STALLED_SESSIONS = "stalled-sessions"  # a session of the run to that port stalled (net/window.py)

    @property
    def seen(self) -> str:
        """The sign in words, for findings' evidence and reports alike (no port number: the places name it)."""
        if self is BusyPath.LOST_SYNS:
            return "this port on its network answered only a retry shortly before"
        return "a session to this port on its network stalled shortly before"


class ProbeStatus(str, Enum):
    """Where a session ended (zgrab2-style): before/after TLS kept apart."""

    SUCCESS = "success"
    REFUSED = "refused"
    CONNECT_TIMEOUT = "connect-timeout"
    UNREACHABLE = "unreachable"
    IO_TIMEOUT = "io-timeout"
    SESSION_TIMEOUT = "session-timeout"
    CLOSED = "closed"  # peer closed the connection mid-dialogue
    SERVICE_UNAVAILABLE = "service-unavailable"  # 421/554 greeting, -ERR / BYE greeting
    PROTOCOL_ERROR = "protocol-error"  # bytes that are not the protocol
    LIMIT_EXCEEDED = "limit-exceeded"  # line/reply/session byte cap
    TLS_HANDSHAKE_ERROR = "tls-handshake-error"  # an alert, a reset, bytes that are not TLS: the handshake failed
    TLS_HANDSHAKE_TIMEOUT = "tls-handshake-timeout"  # the server did not finish its part in time (slow, not broken)
    POST_TLS_ERROR = "post-tls-error"  # the dialogue failed after TLS was up
    SKIPPED = "skipped"
    BLOCKED = "blocked"  # refused by the safety guard (MAILPROBE_ALLOW_ONLY): nothing was sent
    ERROR = "error"  # unexpected failure caught at the engine boundary


class Category(str, Enum):
    """What a check or finding is about: the scorecard's rows."""

    DNS = "dns"  # MX, addresses, reverse DNS, DNSSEC, blocklists
    POLICY = "policy"  # SPF, DMARC, MTA-STS, TLS-RPT, DANE records, DKIM
    REACH = "reachability"  # port states
    TLS = "tls"  # certificates, versions, ciphers, DANE matching
    SMTP = "smtp"
    POP3 = "pop3"
    IMAP = "imap"
    EGRESS = "egress"
    EXPECTATIONS = "expectations"  # a profile's expectations, a baseline's drift


class CheckStatus(str, Enum):
    PASSED = "passed"  # ran and found nothing
    FAILED = "failed"  # raised at least one finding
    ERROR = "error"  # crashed on this subject: its verdict is unknown, the rest of the report stands


class ErrorKind(str, Enum):
    """Why a target (or part of it) could not be probed or judged."""

    BAD_TARGET = "bad-target"  # not a name or an address, a port that is not a mail port
    REFUSED = "refused-by-guard"  # the safety guard (MAILPROBE_ALLOW_ONLY) stopped it before sending
    NO_ADDRESS = "no-address"  # the name has no A/AAAA
    DNS = "dns"  # a lookup needed to go on failed
    NETWORK = "network"  # no route, local network error
    INTERNAL = "internal"  # a bug, caught at the engine boundary
    CHECK = "check"  # a check crashed while judging one subject
    INTERRUPTED = "interrupted"  # Ctrl-C before the target finished
    WORKER_LOST = "worker-lost"  # --cluster: every worker that ran it died; --jobs: the process running it died


class Direction(str, Enum):
    CLIENT = "C"
    SERVER = "S"
    TLS = "TLS"  # a TLS boundary marker
    NOTE = "NOTE"  # something the tool observed (e.g. injected bytes discarded)


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    direction: Direction
    data: bytes  # raw, lossless
    at_ms: float  # since the session started
    note: str = ""  # short annotation: what this command means


@dataclass(frozen=True, slots=True)
class Target:
    """Something to probe: a name as the user or DNS gave it, one address, one port."""

    host: str
    address: str
    port: int
    service: Service
    origin: str = "user"  # "user", "mx", "implicit-mx", "srv"


@dataclass(frozen=True, slots=True)
class IcmpInfo:
    type: int
    code: int
    sender: str
    description: str


@dataclass(frozen=True, slots=True)
class PortResult:
    host: str
    address: str
    port: int
    state: PortState
    reason: str  # "syn-ack", "conn-refused", "no-response", "icmp admin-prohibited from 203.0.113.1", ...
    elapsed_ms: float
    service: Service | None = None
    icmp: IcmpInfo | None = None
    ttl: int | None = None  # raw mode: TTL of the answer
    ip_id: int | None = None  # raw mode
    attempts: int = 1
    # Silent while the same service on its path looked busy (see BusyPath): its silence is a note, not a verdict.
    busy_path: BusyPath | None = None
    # 2: silent where its address and its port number on its path had answered, while sessions of the run were
    # on that path (they may keep its servers busy): probed again after them (scheduler.py).
    rounds: int = 1


@dataclass(frozen=True, slots=True)
class CertFacts:
    subject: str
    issuer: str
    serial: str
    not_before: str  # ISO 8601, UTC
    not_after: str
    days_left: int
    san: tuple[str, ...]
    key_type: str  # "RSA", "EC", "Ed25519", ...
    key_bits: int
    signature_algorithm: str
    fingerprint_sha256: str  # of the whole certificate (DER)
    spki_sha256: str  # of the SubjectPublicKeyInfo, for DANE TLSA x 1 1
    self_signed: bool
    # SHA-512 digests for TLSA matching type 2 (x 0 2, x 1 2); "" in reports written before they were recorded:
    # unknown, so such a record is neither a match nor a mismatch.
    fingerprint_sha512: str = ""
    spki_sha512: str = ""


class VerifyFailure(str, Enum):
    """Why a chain did not verify, from OpenSSL's error code (the host name is judged apart)."""

    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    SELF_SIGNED = "self-signed"
    UNKNOWN_ISSUER = "unknown-issuer"  # no path to a trusted root (missing intermediate, private CA)
    NO_CERTIFICATE = "no-certificate"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class TlsFacts:
    version: str  # "TLSv1.3"
    cipher: str
    cipher_bits: int
    group: str | None  # key exchange group where the runtime tells it
    chain: tuple[CertFacts, ...]  # leaf first
    verified: bool  # chain trusted (system store + --ca-file)
    verify_error: str | None  # OpenSSL's words, for display
    hostname: str  # the name checked
    hostname_match: bool
    legacy_versions: tuple[str, ...] = ()  # TLS 1.0/1.1 still accepted (separate handshakes)
    verify_failure: VerifyFailure | None = None
    legacy_unknown: tuple[str, ...] = ()  # TLS 1.0/1.1 tests that neither succeeded nor were refused (a timeout, ...)
    legacy_not_offered: tuple[str, ...] = ()  # TLS 1.0/1.1 not tried: this machine's OpenSSL cannot offer them

    @property
    def leaf(self) -> CertFacts | None:
        return self.chain[0] if self.chain else None


class StartTlsOutcome(str, Enum):
    NOT_APPLICABLE = "not-applicable"  # implicit TLS port
    NOT_OFFERED = "not-offered"
    OK = "ok"
    REFUSED = "refused"  # advertised but the command was refused
    FAILED = "failed"  # TLS handshake failed after the server agreed
    NOT_ATTEMPTED = "not-attempted"


@dataclass(frozen=True, slots=True)
class Capability:
    """One capability or extension as advertised: a keyword and its parameters, raw line kept."""

    keyword: str  # upper-cased: "SIZE", "AUTH", "STLS", "AUTH=PLAIN" (IMAP keeps the atom)
    params: tuple[str, ...] = ()
    raw: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """A server's answer to one command: its status ("250", "+OK", "-ERR", "NO") and first line as seen."""

    code: str
    line: str  # the whole first line, decoded losslessly with backslash escapes

    @property
    def positive(self) -> bool:
        """SMTP 2xx/3xx, POP3 +OK, IMAP OK."""
        return self.code[:1] in ("2", "3") or self.code in ("+OK", "OK")


@dataclass(frozen=True, slots=True)
class SmtpFacts:
    greeting_host: str = ""  # first word of the 220 greeting, lower-case ("" when masked or empty)
    greeting_masked: bool = False  # the greeting text is asterisks (Cisco ASA/PIX ESMTP inspection)
    esmtp: bool = True  # False: EHLO refused, HELO accepted
    ehlo_refused: Reply | None = None  # EHLO's refusal before TLS
    ehlo_refused_after_tls: Reply | None = None
    size_limit: int | None = None
    starttls_masked: bool = False  # EHLO listed XXXXXXXA where STARTTLS was (an inspecting firewall)
    mail_before_tls: Reply | None = None  # submission: MAIL FROM:<> in clear text
    vrfy: Reply | None = None
    expn: Reply | None = None
    relay_mail: Reply | None = None  # --relay-test: MAIL FROM:<>
    relay_rcpt: Reply | None = None  # --relay-test: RCPT TO a foreign domain (None when MAIL was refused)


@dataclass(frozen=True, slots=True)
class Pop3Facts:
    apop_timestamp: str = ""  # the <...@...> stamp of an APOP-capable greeting
    capa_refused: Reply | None = None
    capa_refused_after_tls: Reply | None = None
    expire: str | None = None  # CAPA EXPIRE policy ("0", "NEVER", days)
    implementation: str = ""
    login_delay: str = ""
    user_before_tls: Reply | None = None  # `USER mailprobe` (no password) in clear, on a separate session


@dataclass(frozen=True, slots=True)
class ImapFacts:
    preauth: bool = False  # greeted "* PREAUTH": logged in without credentials
    greeting_capabilities: tuple[str, ...] = ()  # when they differ from the CAPABILITY answer
    capability_refused: Reply | None = None
    capability_refused_after_tls: Reply | None = None


class TlsProblem(str, Enum):
    """What a TLS failure or an implicit-TLS port showed instead of TLS."""

    PLAINTEXT_ON_TLS_PORT = "plaintext-on-tls-port"  # 465/993/995 greeted in clear text
    TLS_ON_PLAIN_PORT = "tls-on-plain-port"  # a plaintext port waits for a ClientHello


@dataclass(frozen=True, slots=True)
class HandshakeResult:
    target: Target
    status: ProbeStatus
    reason: str
    elapsed_ms: float
    banner: str = ""  # greeting text (decoded losslessly with backslash escapes)
    greeting_code: str = ""  # "220", "+OK", "* OK", "* PREAUTH"
    capabilities_before: tuple[Capability, ...] = ()
    capabilities_after: tuple[Capability, ...] = ()
    starttls: StartTlsOutcome = StartTlsOutcome.NOT_ATTEMPTED
    starttls_reply: str = ""
    tls: TlsFacts | None = None
    tls_error: str = ""
    auth_before_tls: tuple[str, ...] = ()  # SASL mechanisms offered in plaintext
    auth_after_tls: tuple[str, ...] = ()
    plaintext_login_before_tls: bool = False  # USER (POP3) / LOGIN without LOGINDISABLED (IMAP)
    injected_bytes: int = 0  # bytes the server sent before the TLS handshake, discarded
    smtp: SmtpFacts | None = None
    pop3: Pop3Facts | None = None
    imap: ImapFacts | None = None
    tls_problem: TlsProblem | None = None
    round_trips: int = 0
    transcript: tuple[TranscriptEntry, ...] = ()
    # post-tls-error: how the encrypted dialogue ended (closed or io-timeout); None otherwise.
    post_tls_status: ProbeStatus | None = None
    # Sessions this result took: 2 when the first timed out on a server that had answered, beside other sessions
    # of the run to its network (/24, /48), and was tried again after them (scheduler.py). The last one's result.
    sessions: int = 1
    busy_path: BusyPath | None = None  # connect-timeout while that service looked busy (as PortResult.busy_path)


class DnsOutcome(str, Enum):
    """How one DNS lookup ended."""

    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    CNAME_LOOP = "cname-loop"
    REFERRAL = "referral"  # an authoritative server pointing elsewhere: the resolver does not recurse
    ERROR = "error"  # another rcode, a reply that is not DNS, a network error

    @property
    def is_negative(self) -> bool:
        """The name or the data does not exist (a definite answer, unlike a failure)."""
        return self in (DnsOutcome.NXDOMAIN, DnsOutcome.NODATA)

    @property
    def is_failure(self) -> bool:
        """No answer to judge (timeout, SERVFAIL, ...): never treated as "does not exist"."""
        return not (self is DnsOutcome.OK or self.is_negative)


class MxStatus(str, Enum):
    FOUND = "found"
    IMPLICIT = "implicit"  # no MX, A/AAAA used (RFC 5321 5.1)
    NULL = "null"  # MX 0 . (RFC 7505)
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"  # no MX and no address
    SERVFAIL = "servfail"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    ERROR = "error"
    NOT_A_DOMAIN = "not-a-domain"  # the target was an address


class MxHostStatus(str, Enum):
    OK = "ok"
    CNAME = "cname"  # the MX target is an alias (it resolved through it)
    CNAME_LOOP = "cname-loop"
    DANGLING = "dangling"  # no A/AAAA, or the name does not exist
    IP_LITERAL = "ip-literal"  # `MX 10 198.51.100.25.`: a name that looks like an address
    NONPUBLIC = "nonpublic"  # every address is non-public
    TIMEOUT = "timeout"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    REFERRAL = "referral"
    ERROR = "error"

    @property
    def lookup_failed(self) -> bool:
        return self in (
            MxHostStatus.TIMEOUT,
            MxHostStatus.SERVFAIL,
            MxHostStatus.REFUSED,
            MxHostStatus.REFERRAL,
            MxHostStatus.ERROR,
        )


@dataclass(frozen=True, slots=True)
class MxHost:
    preference: int
    name: str
    addresses: tuple[str, ...]
    status: MxHostStatus = MxHostStatus.OK
    cname_target: str | None = None
    ptr: tuple[tuple[str, str], ...] = ()  # (address, ptr name or "")
    fcrdns: tuple[tuple[str, bool], ...] = ()  # (address, forward-confirmed)
    ptr_errors: tuple[tuple[str, str], ...] = ()  # (address, what the PTR lookup ended in: "timeout", ...)


class RecordKind(str, Enum):
    SPF = "SPF"
    DMARC = "DMARC"
    MTA_STS = "MTA-STS"  # the _mta-sts TXT record
    MTA_STS_POLICY = "MTA-STS-POLICY"  # the policy file fetched over HTTPS
    TLS_RPT = "TLS-RPT"
    TLSA = "TLSA"
    SRV = "SRV"
    DKIM = "DKIM"
    DNSBL = "DNSBL"


class RecordStatus(str, Enum):
    OK = "ok"
    MISSING = "missing"  # no such record (NXDOMAIN or no record of the kind)
    INVALID = "invalid"  # there, but does not parse (errors in `parsed`)
    MULTIPLE = "multiple"  # more than one record of a kind that must be single
    ERROR = "error"  # the lookup failed (timeout, SERVFAIL): no verdict on the record
    INHERITED = "inherited"  # DMARC: none of its own, an ancestor's applies
    UNAVAILABLE = "unavailable"  # SRV target "." (RFC 2782: the service is not offered)
    LISTED = "listed"  # DNSBL: the address is on the list
    REVOKED = "revoked"  # DKIM: empty p=
    # The MTA-STS policy fetch
    SKIPPED_NONPUBLIC = "skipped-nonpublic"  # the policy host is not public: not fetched
    BLOCKED = "blocked"  # the safety guard refused the policy host
    DNS_ERROR = "dns-error"
    CONNECT_ERROR = "connect-error"
    TLS_ERROR = "tls-error"
    TIMEOUT = "timeout"
    HTTP_ERROR = "http-error"
    TOO_BIG = "too-big"
    NOT_HTTP = "not-http"

    @property
    def usable(self) -> bool:
        """A record receivers apply (its own or an ancestor's)."""
        return self in (RecordStatus.OK, RecordStatus.INHERITED)


@dataclass(frozen=True, slots=True)
class SpfLookup:
    """One DNS lookup an SPF evaluation makes that found nothing or failed, and the term that made it."""

    term: str  # "a:mail.example.org", "include:_spf.example.net", "mx"
    record: str  # the domain whose record holds the term
    query: str  # "AAAA mail.example.org"
    outcome: DnsOutcome
    ipv4: bool = True  # the lookup is made for IPv4 senders (an `a` term asks A for them, AAAA for IPv6)
    ipv6: bool = True


@dataclass(frozen=True, slots=True)
class SpfEvaluation:
    """What evaluating the record through its includes found, for every sender (RFC 7208 4.6.4)."""

    record: SpfRecord
    lookups: int  # DNS-querying terms counted through include/redirect
    complete: bool  # False: counting stopped past the limit
    voids: tuple[SpfLookup, ...] = ()  # lookups that found nothing
    temperrors: tuple[SpfLookup, ...] = ()  # lookups that failed (timeout, SERVFAIL): a temperror
    include_errors: tuple[str, ...] = ()  # included/redirected domains that are broken, and why (for people)
    mx_over_limit: tuple[str, ...] = ()  # mx terms naming more than 10 hosts (a permerror)

    def void_count(self, ipv6: bool) -> int:
        """Void lookups an evaluation for an IPv4 (or IPv6) sender meets, at most (RFC 7208 4.6.4)."""
        return sum(1 for v in self.voids if (v.ipv6 if ipv6 else v.ipv4))


@dataclass(frozen=True, slots=True)
class SrvTarget:
    priority: int
    weight: int
    port: int
    target: str  # normalised host name ("" for ".", the service is not offered)
    service: Service


@dataclass(frozen=True, slots=True)
class DnsblListing:
    zone: str
    address: str
    codes: tuple[str, ...]  # the A answers (127.0.0.x)
    reason: str = ""  # the TXT answer


@dataclass(frozen=True, slots=True)
class StsFetch:
    """The MTA-STS policy as fetched, and how it covers the domain's MX hosts (RFC 8461 4.1)."""

    policy: StsPolicy
    url: str
    address: str  # where it was fetched from
    unmatched_mx: tuple[str, ...] = ()  # MX hosts no mx: pattern covers


# What DnsRecord.parsed holds, by kind: SPF an SpfEvaluation (or the SpfRecord when it was not evaluated), DMARC a
# DmarcRecord, MTA-STS and TLS-RPT TXT a TagRecord, the MTA-STS policy an StsFetch, DKIM a DkimKey, TLSA a Tlsa,
# SRV an SrvTarget, DNSBL a DnsblListing.
if TYPE_CHECKING:
    ParsedRecord = (
        SpfEvaluation | SpfRecord | DmarcRecord | TagRecord | StsFetch | DkimKey | Tlsa | SrvTarget | DnsblListing
    )


def type_hints(cls: type) -> dict[str, Any]:
    """typing.get_type_hints of a model class (or any dataclass a report holds), resolved once per class. The
    record parsers' classes its annotations name are imported for type checkers only (they cost every command
    ~15 ms of start-up, and a port scan never parses a record), so they are given here."""
    return _type_hints(cls)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    from mailprobe.records.dkim import DkimKey
    from mailprobe.records.dmarc import DmarcRecord
    from mailprobe.records.mtasts import StsPolicy
    from mailprobe.records.spf import SpfRecord
    from mailprobe.records.tags import TagRecord
    from mailprobe.records.tlsa import Tlsa

    # The same union as ParsedRecord, which exists for type checkers only.
    parsed = SpfEvaluation | SpfRecord | DmarcRecord | TagRecord | StsFetch | DkimKey | Tlsa | SrvTarget | DnsblListing
    names = {c.__name__: c for c in (DkimKey, DmarcRecord, StsPolicy, SpfRecord, TagRecord, Tlsa)}
    return typing.get_type_hints(cls, localns={**names, "ParsedRecord": parsed})


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """A policy or discovery record: where, what it said, its status and its parsed form.

    `detail` is for people; checks read `status`, `parsed` and `authenticated`, never `detail`."""

    kind: RecordKind
    name: str
    value: str
    status: RecordStatus
    detail: str = ""
    parsed: ParsedRecord | None = None
    authenticated: bool | None = None  # the answer carried the AD bit (None: not asked/not known)


@dataclass(frozen=True, slots=True)
class DomainDns:
    domain: str
    status: MxStatus
    reason: str
    elapsed_ms: float
    mx: tuple[MxHost, ...] = ()
    records: tuple[DnsRecord, ...] = ()
    authenticated: bool | None = None  # AD bit, when the resolver validates
    alias_of: str | None = None  # the domain is a CNAME of this name
    null_mx_mixed: bool = False  # `MX 0 .` beside other MX records
    duplicate_mx: tuple[str, ...] = ()  # hosts named by more than one MX record

    def records_of(self, kind: RecordKind) -> tuple[DnsRecord, ...]:
        return tuple(r for r in self.records if r.kind is kind)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem, with every place it was seen (a certificate served on 7 ports of 2 addresses is one finding)."""

    code: str
    severity: Severity
    target: str  # the domain or host the problem belongs to
    title: str
    evidence: str  # quotes what was seen
    fix: str
    places: tuple[str, ...] = ()  # "mx1.example.org [203.0.113.25]:25/smtp", ...; empty when the target says it
    category: Category = Category.DNS


@dataclass(frozen=True, slots=True)
class CheckResult:
    """That a check ran on a subject, and what came of it (passed checks show in reports and JUnit)."""

    check: str  # stable name, e.g. "smtp-starttls"
    category: Category
    subject: str  # what it judged: a domain, a host, a place
    status: CheckStatus
    codes: tuple[str, ...] = ()  # findings it raised
    detail: str = ""  # ERROR: what went wrong


@dataclass(frozen=True, slots=True)
class RunError:
    """A target, or a part of one, that could not be probed or judged: never silent, counted everywhere."""

    target: str
    kind: ErrorKind
    message: str

    def __str__(self) -> str:
        return f"{self.target}: {self.message}" if self.target else self.message


class EgressVerdict(str, Enum):
    OPEN = "open"
    BLOCKED_DROP = "blocked-drop"
    BLOCKED_RESET = "blocked-reset"
    BLOCKED_ICMP = "blocked-icmp"
    INTERCEPTED = "intercepted"
    ALL_BLOCKED = "all-blocked"
    INCONCLUSIVE = "inconclusive"


class EgressSignKind(str, Enum):
    """Positive evidence that port 25 reaches someone other than the destination."""

    SHARED_IDENTITY = "shared-identity"  # unrelated destinations answer with one greeting host or certificate
    IDENTITY_DIFFERS = "identity-differs"  # port 25 of an address is another server than its 587/465
    NEARER = "nearer"  # port 25 answers from nearer than the same address's control ports (TTL or RTT)
    MASKED_GREETING = "masked-greeting"  # 220 ****** (ESMTP inspection)
    STARTTLS_MASKED = "starttls-masked"  # XXXXXXXA in place of STARTTLS
    STARTTLS_STRIPPED = "starttls-stripped"  # no STARTTLS on 25 where the same servers offer TLS on 587/465


@dataclass(frozen=True, slots=True)
class EgressSign:
    kind: EgressSignKind
    text: str  # the evidence in words, quoting what was seen
    places: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConnectTime:
    """The fastest of several connects to one port: scheduling noise only ever adds time, never removes it."""

    address: str
    port: int
    best_ms: float
    samples: int


@dataclass(frozen=True, slots=True)
class EgressResult:
    verdict: EgressVerdict
    explanation: str
    evidence: tuple[str, ...]  # what was measured, one line each
    ports: tuple[PortResult, ...] = ()
    handshakes: tuple[HandshakeResult, ...] = ()
    signs: tuple[EgressSign, ...] = ()  # positive evidence of interception
    notes: tuple[str, ...] = ()  # signs common on healthy systems: never the verdict
    control_handshakes: tuple[HandshakeResult, ...] = ()  # 587/465 of the same addresses, for comparison
    reverse: tuple[tuple[str, str], ...] = ()  # (address, PTR name) of the destinations, to tell whose they are
    starttls_known: tuple[str, ...] = ()  # destinations known to offer STARTTLS on 25 (a profile's data)
    raw: bool = False  # SYN probes: TTLs were measured
    basis: tuple[str, ...] = ()  # the lines the verdict rests on (the signs, ICMP senders, reset TTLs)
    connect_times: tuple[ConnectTime, ...] = ()  # connect mode: port 25 and a control port, sampled again


@dataclass(frozen=True, slots=True)
class Expectations:
    """What a profile says healthy looks like (profiles.py reads them from TOML)."""

    open_ports: tuple[int, ...] = ()
    blocked_ports: tuple[int, ...] = ()  # expected blocked (e.g. a CI runner's network): a pass, not a failure
    starttls_required: bool = False
    min_tls_version: str | None = None
    cert_min_days: int | None = None
    capabilities: tuple[tuple[str, tuple[str, ...]], ...] = ()  # service → keywords that must be offered
    banner_patterns: tuple[tuple[str, str], ...] = ()  # service → regular expression


@dataclass(frozen=True, slots=True)
class RunContext:
    """What the judging weighed besides the results: settings that change a verdict."""

    allow_nonpublic: bool = False  # non-public MX addresses were expected (a lab): a note, not an alarm
    servername: str | None = None  # the name TLS clients use for the probed address (--servername)
    expect: Expectations | None = None  # the profile's expectations, when a profile was used


@dataclass(frozen=True, slots=True)
class Report:
    command: str
    targets: tuple[str, ...]
    started_at: str  # ISO 8601 UTC
    elapsed_ms: float
    dns: tuple[DomainDns, ...] = ()
    ports: tuple[PortResult, ...] = ()
    handshakes: tuple[HandshakeResult, ...] = ()
    findings: tuple[Finding, ...] = ()
    egress: EgressResult | None = None
    errors: tuple[RunError, ...] = ()  # what could not be probed or judged; the run went on
    checks: tuple[CheckResult, ...] = ()  # every check that ran, passed ones included
    context: RunContext = field(default_factory=RunContext)
    interrupted: bool = False  # Ctrl-C: the results are what finished
    unfinished: tuple[str, ...] = ()  # targets that had not finished when interrupted
    profile: str | None = None
    tool_version: str = ""
    schema_version: int = SCHEMA_VERSION
    meta: tuple[tuple[str, str], ...] = field(default=())
    retried: tuple[str, ...] = ()  # --cluster: targets run again because the worker running them died

    def worst(self) -> Severity | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=lambda s: s.rank)


def _pickled_by_position(cls: type) -> None:
    """Pickle a frozen slotted dataclass as the tuple of its values: what dataclasses installs looks its fields
    up again for every object (a --jobs port scan's workers send ~18 model objects per target)."""
    names = tuple(f.name for f in fields(cls))
    values = operator.attrgetter(*names)
    setter = object.__setattr__

    def __getstate__(self: object) -> tuple[object, ...]:
        got = values(self)
        return got if len(names) > 1 else (got,)

    def __setstate__(self: object, state: tuple[object, ...]) -> None:
        for name, value in zip(names, state, strict=True):
            setter(self, name, value)

    cls.__getstate__ = __getstate__  # type: ignore[attr-defined]
    cls.__setstate__ = __setstate__  # type: ignore[attr-defined]


for _cls in list(globals().values()):
    if isinstance(_cls, type) and is_dataclass(_cls) and _cls.__module__ == __name__ and "__slots__" in vars(_cls):
        _pickled_by_position(_cls)
del _cls
