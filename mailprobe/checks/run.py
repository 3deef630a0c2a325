"""Judge a report: run every check over its results. Checks are pure; this only gathers them."""

from __future__ import annotations

from collections.abc import Iterator

from mailprobe.checks.dns import check_dns
from mailprobe.checks.handshake import check_banner_ptr, check_handshake, check_pop3_expire
from mailprobe.checks.reach import check_mx_port25, check_ports
from mailprobe.checks.tls import check_tls
from mailprobe.config import Config
from mailprobe.dns import check_dane
from mailprobe.model import Finding, Report


def judge(report: Report, cfg: Config) -> Iterator[Finding]:
    seen: set[tuple[str, str, str]] = set()
    for item in _all(report):
        key = (item.code, item.target, item.evidence)
        if key not in seen:  # the same fact seen through two MX names is one finding
            seen.add(key)
            yield item


def _all(report: Report) -> Iterator[Finding]:
    for domain in report.dns:
        yield from check_dns(domain)
        yield from check_dane(domain, report.handshakes)
    yield from check_ports(report.ports)
    yield from check_mx_port25(report)
    for handshake in report.handshakes:
        yield from check_handshake(handshake)
        yield from check_pop3_expire(handshake)
        yield from check_tls(handshake)
    yield from check_banner_ptr(report)
