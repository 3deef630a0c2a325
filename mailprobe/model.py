"""The report model: frozen dataclasses and str-Enums shared by every stage.

Every stage returns these; failures are values here (a status and a reason), never exceptions.
Renderers and checks know only this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

SCHEMA_VERSION = 1


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
    """A mail service: a protocol on its well-known port, with or without implicit TLS."""

    SMTP = "smtp"  # 25, relay between servers
    SUBMISSION = "submission"  # 587, STARTTLS
    SUBMISSIONS = "submissions"  # 465, implicit TLS
    POP3 = "pop3"  # 110
    POP3S = "pop3s"  # 995
    IMAP = "imap"  # 143
    IMAPS = "imaps"  # 993

    @property
    def default_port(self) -> int:
        return _SERVICE_PORT[self]

    @property
    def protocol(self) -> Protocol:
        return _SERVICE_PROTOCOL[self]

    @property
    def implicit_tls(self) -> bool:
        return self in (Service.SUBMISSIONS, Service.POP3S, Service.IMAPS)

    @classmethod
    def for_port(cls, port: int) -> Service | None:
        for service, known in _SERVICE_PORT.items():
            if known == port:
                return service
        return None


_SERVICE_PORT = {
    Service.SMTP: 25,
    Service.SUBMISSION: 587,
    Service.SUBMISSIONS: 465,
    Service.POP3: 110,
    Service.POP3S: 995,
    Service.IMAP: 143,
    Service.IMAPS: 993,
}
_SERVICE_PROTOCOL = {
    Service.SMTP: Protocol.SMTP,
    Service.SUBMISSION: Protocol.SMTP,
    Service.SUBMISSIONS: Protocol.SMTP,
    Service.POP3: Protocol.POP3,
    Service.POP3S: Protocol.POP3,
    Service.IMAP: Protocol.IMAP,
    Service.IMAPS: Protocol.IMAP,
}
MAIL_PORTS: tuple[int, ...] = (25, 587, 465, 110, 995, 143, 993)


class PortState(str, Enum):
    OPEN = "open"  # handshake completed
    CLOSED = "closed"  # RST from the host
    FILTERED = "filtered"  # no answer within the timeout (after a retry)
    UNREACHABLE = "unreachable"  # ICMP error
    ERROR = "error"  # could not probe (bad address, local error)


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
    TLS_HANDSHAKE_ERROR = "tls-handshake-error"
    POST_TLS_ERROR = "post-tls-error"  # the dialogue failed after TLS was up
    SKIPPED = "skipped"
    ERROR = "error"  # unexpected failure caught at the engine boundary


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


@dataclass(frozen=True, slots=True)
class TlsFacts:
    version: str  # "TLSv1.3"
    cipher: str
    cipher_bits: int
    group: str | None  # key exchange group where the runtime tells it
    chain: tuple[CertFacts, ...]  # leaf first
    verified: bool  # chain trusted (system store + --ca-file)
    verify_error: str | None
    hostname: str  # the name checked
    hostname_match: bool
    legacy_versions: tuple[str, ...] = ()  # TLS 1.0/1.1 still accepted (separate handshakes)

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
    facts: tuple[tuple[str, str], ...] = ()  # protocol-specific facts, e.g. ("vrfy", "252 ...")
    round_trips: int = 0
    transcript: tuple[TranscriptEntry, ...] = ()

    def fact(self, name: str) -> str | None:
        for key, value in self.facts:
            if key == name:
                return value
        return None


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


@dataclass(frozen=True, slots=True)
class MxHost:
    preference: int
    name: str
    addresses: tuple[str, ...]
    status: str = "ok"  # "ok", "cname", "dangling", "ip-literal", "timeout", ...
    cname_target: str | None = None
    ptr: tuple[tuple[str, str], ...] = ()  # (address, ptr name or "")
    fcrdns: tuple[tuple[str, bool], ...] = ()  # (address, forward-confirmed)


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """A policy or discovery record and its verdict (SPF, DMARC, MTA-STS, TLS-RPT, TLSA, SRV, DKIM, DNSBL)."""

    kind: str
    name: str
    value: str
    status: str  # "ok", "missing", "invalid", "error", ...
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DomainDns:
    domain: str
    status: MxStatus
    reason: str
    elapsed_ms: float
    mx: tuple[MxHost, ...] = ()
    records: tuple[DnsRecord, ...] = ()
    authenticated: bool | None = None  # AD bit, when the resolver validates
    findings_hint: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: Severity
    target: str
    title: str
    evidence: str
    fix: str


@dataclass(frozen=True, slots=True)
class EgressResult:
    verdict: str  # "open", "blocked-drop", "blocked-reset", "blocked-icmp", "intercepted", "all-blocked", ...
    explanation: str
    evidence: tuple[str, ...]
    ports: tuple[PortResult, ...] = ()
    handshakes: tuple[HandshakeResult, ...] = ()


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
    errors: tuple[str, ...] = ()  # per-target errors that did not stop the run
    profile: str | None = None
    tool_version: str = ""
    schema_version: int = SCHEMA_VERSION
    meta: tuple[tuple[str, str], ...] = field(default=())

    def worst(self) -> Severity | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=lambda s: s.rank)
