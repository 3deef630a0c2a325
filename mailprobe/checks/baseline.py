"""Drift against a baseline report: every change since the earlier run becomes a finding. Pure functions."""

from __future__ import annotations

from collections.abc import Iterator

from mailprobe.checks.catalogue import finding
from mailprobe.checks.defs.expectations import (
    BANNER_CHANGED,
    CAPABILITY_CHANGED,
    CERT_CHANGED,
    HANDSHAKE_CHANGED,
    MX_CHANGED,
    PORT_CHANGED,
)
from mailprobe.model import Capability, Finding, HandshakeResult, Report


def _hs_key(h: HandshakeResult) -> tuple[str, int]:
    return h.target.address, h.target.port


def compare(before: Report, after: Report) -> Iterator[Finding]:
    """Findings for what differs; only for targets present in `after` (a shard compares its own share)."""
    old_ports = {(p.address, p.port): p for p in before.ports}
    for p in after.ports:
        was_port = old_ports.get((p.address, p.port))
        if was_port is not None and was_port.state is not p.state:
            yield finding(
                PORT_CHANGED, f"{p.address}:{p.port}", f"{was_port.state.value} → {p.state.value} ({p.reason})"
            )

    old_hs = {_hs_key(h): h for h in before.handshakes}
    for h in after.handshakes:
        old = old_hs.get(_hs_key(h))
        if old is None:
            continue
        where = f"{h.target.address}:{h.target.port}/{h.target.service.value}"
        if (old.status, old.starttls) != (h.status, h.starttls):
            yield finding(
                HANDSHAKE_CHANGED,
                where,
                f"{old.status.value}/STARTTLS {old.starttls.value} → {h.status.value}/STARTTLS {h.starttls.value}",
            )
        for label, was, now in (
            ("before TLS", old.capabilities_before, h.capabilities_before),
            ("after TLS", old.capabilities_after, h.capabilities_after),
        ):
            gone = sorted(_cap_set(was) - _cap_set(now))
            new = sorted(_cap_set(now) - _cap_set(was))
            if gone or new:
                change = "; ".join(
                    part
                    for part in (f"lost {', '.join(gone)}" if gone else "", f"new {', '.join(new)}" if new else "")
                    if part
                )
                yield finding(CAPABILITY_CHANGED, where, f"{label}: {change}")
        if old.banner != h.banner and old.greeting_code and h.greeting_code:
            yield finding(BANNER_CHANGED, where, f"{old.banner!r} → {h.banner!r}")
        old_leaf = old.tls.leaf if old.tls else None
        new_leaf = h.tls.leaf if h.tls else None
        if old_leaf and new_leaf and old_leaf.fingerprint_sha256 != new_leaf.fingerprint_sha256:
            yield finding(
                CERT_CHANGED,
                where,
                f"sha256 {old_leaf.fingerprint_sha256[:16]}… → {new_leaf.fingerprint_sha256[:16]}…; issuer "
                f"{new_leaf.issuer}; expires {new_leaf.not_after}",
            )

    old_dns = {d.domain: d for d in before.dns}
    for d in after.dns:
        old_domain = old_dns.get(d.domain)
        if old_domain is None:
            continue
        old_mx = sorted((m.preference, m.name) for m in old_domain.mx)
        new_mx = sorted((m.preference, m.name) for m in d.mx)
        if old_mx != new_mx:
            yield finding(MX_CHANGED, d.domain, f"{_mx_text(old_mx)} → {_mx_text(new_mx)}")


def _cap_set(caps: tuple[Capability, ...]) -> set[str]:
    return {" ".join((c.keyword, *c.params)) for c in caps}


def _mx_text(pairs: list[tuple[int, str]]) -> str:
    return ", ".join(f"{pref} {name}" for pref, name in pairs) or "(none)"
