"""What the user typed, parsed: a domain, a host name or an address, with an optional port.

Accepted forms: `example.org`, `mx.example.org:2525`, `198.51.100.7`, `198.51.100.7:25`, `2001:db8::1`,
`[2001:db8::1]:25`. Anything else is a UsageError with one clear line.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mailprobe.errors import UsageError


@dataclass(frozen=True, slots=True)
class Spec:
    text: str  # as typed
    host: str  # a normalised name or an address
    port: int | None
    is_address: bool


def parse_port(text: str, what: str = "port") -> int:
    if not text.isdigit():
        raise UsageError(f"bad {what} {text!r}: not a number")
    port = int(text)
    if not 1 <= port <= 65535:
        raise UsageError(f"bad {what} {port}: must be 1-65535")
    return port


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def parse_target(text: str) -> Spec:
    raw = text.strip()
    if not raw:
        raise UsageError("empty target")
    port: int | None = None
    host = raw
    if raw.startswith("["):
        inside, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UsageError(f"bad target {raw!r}: use [IPv6]:PORT")
        host = inside
        if rest:
            port = parse_port(rest[1:])
        if _address(host) is None:
            raise UsageError(f"bad target {raw!r}: {host!r} is not an IPv6 address")
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
        port = parse_port(port_text)
    address = _address(host)
    if address is not None:
        return Spec(raw, address, port, True)
    from mailprobe.dns.names import validate_domain  # names are the DNS stage's business

    return Spec(raw, validate_domain(host), port, False)


def read_target_lines(lines: Iterable[str]) -> Iterator[str]:
    """Targets from a file or stdin: one per line, `#` comments and blank lines skipped."""
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            yield text
