"""Results regrouped per target (a domain or a host), as the table and JSONL renderers show them.

A domain's DNS result, a host's port results and handshakes, and each finding go to the group whose key
matches; a finding whose target names no known host (a free-form target) gets a group of its own.
Groups keep the order in which their keys first appear (DNS, then ports, handshakes, findings).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailprobe.model import DomainDns, Finding, HandshakeResult, PortResult, Report


@dataclass(slots=True)
class TargetGroup:
    key: str
    dns: list[DomainDns] = field(default_factory=list)
    ports: list[PortResult] = field(default_factory=list)
    handshakes: list[HandshakeResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def host_part(target: str) -> str:
    """'mx1.example.com:25' -> 'mx1.example.com'; '[2001:db8::1]:25' -> '2001:db8::1'; 'a/smtp' -> 'a'."""
    text = target.strip()
    if text.startswith("["):
        end = text.find("]")
        return text[1:end] if end > 0 else text
    text = text.split("/", 1)[0].split(" ", 1)[0]
    if text.count(":") == 1:  # host:port (a bare IPv6 address has more colons)
        text = text.split(":", 1)[0]
    return text


def group_by_target(report: Report) -> list[TargetGroup]:
    groups: dict[str, TargetGroup] = {}

    def group(key: str) -> TargetGroup:
        norm = _norm(key)
        if norm not in groups:
            groups[norm] = TargetGroup(key)
        return groups[norm]

    address_host: dict[str, str] = {}
    for dns in report.dns:
        group(dns.domain).dns.append(dns)
    for port in report.ports:
        group(port.host).ports.append(port)
        address_host.setdefault(port.address, port.host)
    for handshake in report.handshakes:
        group(handshake.target.host).handshakes.append(handshake)
        address_host.setdefault(handshake.target.address, handshake.target.host)
    for finding in report.findings:
        group(_finding_key(finding.target, groups, address_host)).findings.append(finding)
    return list(groups.values())


def _finding_key(target: str, groups: dict[str, TargetGroup], address_host: dict[str, str]) -> str:
    if _norm(target) in groups:
        return target
    host = host_part(target)
    if _norm(host) in groups:
        return host
    if host in address_host:
        return address_host[host]
    address = target.rsplit(":", 1)[0]  # an unbracketed IPv6 address with a port: "2001:db8::25:25"
    return address_host.get(address, target)
