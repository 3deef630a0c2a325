"""The DNS stage: MX and everything a mail domain's records say, right or wrong.

Public API (the engine and the CLI call these):
    validate_domain(text) -> str
    resolve_domain(domain, cfg) -> DomainDns
    resolve_host(name, cfg) -> tuple[str, ...]
    check_resolver(cfg) -> None            (raises ResolverError)
    is_public(address) -> bool
    srv_targets(d) -> list[SrvTarget]
    probe_addresses(mx_host, cfg) -> tuple[str, ...]
The record parsers (SPF, DMARC, MTA-STS, TLS-RPT, DKIM, TLSA) are the pure package mailprobe.records; the
findings are mailprobe.checks'.

The resolving half (mailprobe.dns.resolve, and with it dnspython) is imported on first use: the pure name
functions are wanted by the checks of every run, a query only by runs that have names to resolve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mailprobe.dns.names import is_public, looks_like_ip_literal, nonpublic_reason, validate_domain

if TYPE_CHECKING:
    from mailprobe.dns.resolve import (
        check_resolver,
        mx_groups,
        probe_addresses,
        resolve_domain,
        resolve_host,
        srv_targets,
    )

_RESOLVING = frozenset(
    {"check_resolver", "mx_groups", "probe_addresses", "resolve_domain", "resolve_host", "srv_targets"}
)

__all__ = [
    "check_resolver",
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


def __getattr__(name: str) -> Any:
    if name in _RESOLVING:
        from mailprobe.dns import resolve

        return getattr(resolve, name)
    raise AttributeError(f"module 'mailprobe.dns' has no attribute {name!r}")
