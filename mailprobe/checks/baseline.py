"""Drift against a baseline report: every change since the earlier run becomes a finding. Pure functions.

Greetings carry parts that change on every connection: an APOP stamp (`<1896.697170952@host>`), a date and
time, a session or queue id. `stable_banner` replaces them with placeholders before two greetings are
compared, so an unchanged server shows no drift; the finding still quotes both greetings as seen.
"""

from __future__ import annotations

import re
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

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
_ZONE = r"(?:\s*(?:[+-]\d{4}|UTC|GMT|Z|[A-Z]{3,4}T))?(?:\s*\([A-Za-z ]{2,30}\))?"
_VOLATILE = (
    # APOP stamp (RFC 1939): <process-id.clock@host>; the host part stays
    (re.compile(r"<[^<>@\s]+@([^<>\s]+)>"), r"<stamp@\1>"),
    # RFC 5322 date: "Mon, 7 Dec 2026 05:01:00 +0000 (UTC)"
    (
        re.compile(rf"(?:{_DAY},?\s+)?\d{{1,2}}\s+{_MONTH}\s+\d{{2,4}}\s+\d{{1,2}}:\d{{2}}(?::\d{{2}})?{_ZONE}"),
        "<date>",
    ),
    # ctime: "Mon Dec  7 05:01:00 2026"
    (re.compile(rf"(?:{_DAY}\s+)?{_MONTH}\s+\d{{1,2}}\s+\d{{1,2}}:\d{{2}}:\d{{2}}(?:\s+\d{{4}})?{_ZONE}"), "<date>"),
    # ISO 8601: "2026-12-07T05:01:00Z", "2026-12-07 05:01:00.123+01:00"
    (re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"), "<date>"),
    # a time of day left alone: "05:01:00"
    (re.compile(r"(?<![\d:])\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?![\d:])"), "<time>"),
    # Exim message id, old and new formats: "1rXyZb-000Abc-Hj", "1kABCD-0001xy-AB"
    (re.compile(r"\b[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}\b"), "<id>"),
)
# A session or queue id: one run of letters and digits, at least 8 long, with at least 2 of each (Postfix
# "4Gh3Lk0yQkz8Xn", Gmail "a1b2c3d4e5f6si123456abc.123"); never the host name, which comes first.
_SESSION_ID = re.compile(r"(?<![\w.-])(?=(?:[A-Za-z]*\d){2})(?=(?:\d*[A-Za-z]){2})[A-Za-z0-9]{8,}(?:\.\d+)?(?![\w.-])")


def stable_banner(banner: str) -> str:
    """The greeting with its per-connection parts replaced: APOP stamps, dates and times, session and queue
    ids (not in the first word, the host name)."""
    text = banner
    for pattern, placeholder in _VOLATILE:
        text = pattern.sub(placeholder, text)
    host, space, rest = text.partition(" ")
    return host + space + _SESSION_ID.sub("<id>", rest)


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
        if stable_banner(old.banner) != stable_banner(h.banner) and old.greeting_code and h.greeting_code:
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
