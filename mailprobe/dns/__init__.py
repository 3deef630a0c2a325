"""The DNS stage: MX and everything a mail domain's records say, right or wrong.

Public API (the engine and the CLI call these):
    validate_domain(text) -> str
    resolve_domain(domain, cfg) -> DomainDns
    resolve_host(name, cfg) -> tuple[str, ...]
    check_resolver(cfg) -> None            (raises ResolverError)
    is_public(address) -> bool
    srv_targets(d) -> list[(host, port, service)]
    probe_addresses(mx_host, cfg) -> tuple[str, ...]
    dane_matches(tlsa_record, cert) -> bool
    check_dane(d, handshakes) -> list[Finding]   (defined with the other DNS findings in checks.dns)
The policy parsers (spf, dmarc, mtasts, dkim, dane) are pure functions in their own modules.
"""

from __future__ import annotations

from collections.abc import Iterable

from mailprobe.dns.dane import chain_matches, dane_matches
from mailprobe.dns.names import is_public, looks_like_ip_literal, nonpublic_reason, validate_domain
from mailprobe.dns.resolve import (
    check_resolver,
    mx_groups,
    probe_addresses,
    resolve_domain,
    resolve_host,
    srv_targets,
)
from mailprobe.model import DomainDns, Finding, HandshakeResult

__all__ = [
    "chain_matches",
    "check_dane",
    "check_resolver",
    "dane_matches",
    "is_public",
    "looks_like_ip_literal",
    "mx_groups",
    "nonpublic_reason",
    "probe_addresses",
    "resolve_domain",
    "resolve_host",
    "srv_targets",
    "validate_domain",
]


def check_dane(d: DomainDns, handshakes: Iterable[HandshakeResult]) -> list[Finding]:
    """DANE findings: the certificates served on port 25 against the MX hosts' TLSA records."""
    from mailprobe.checks.dns import check_dane as check  # late: checks.dns imports this package

    return check(d, handshakes)
