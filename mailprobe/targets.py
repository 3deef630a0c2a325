"""What the user typed, parsed: a domain, a host name or an address, with an optional port; or a block.

Accepted forms: `example.org`, `mx.example.org:2525`, `198.51.100.7`, `198.51.100.7:25`, `2001:db8::1`,
`[2001:db8::1]:25`, each with an optional `/SERVICE` that says what the port speaks (`mx.example.org:2525/smtp`,
`198.51.100.7:10993/imaps`; without a port, the service's own port or its --port). Anything else is a
UsageError with one clear line. `localhost` (and names under it, RFC 6761) stands for 127.0.0.1 and ::1:
like an address literal it is never looked up in DNS.

Blocks (`ports` and `handshake` only, expanded lazily by `expand_blocks` into one target per address, at most
Limits.max_block_addresses each): CIDR `198.51.100.0/24`, `2001:db8::/120`; ranges `198.51.100.10-20` (the
last octet) and `198.51.100.10-198.51.100.20`, `2001:db8::1-2001:db8::ff`; a port as for addresses,
`198.51.100.0/28:25`, `[2001:db8::/124]:25`, and a service as for single targets, `198.51.100.0/28:2525/smtp`.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from mailprobe.decimal_text import is_decimal
from mailprobe.errors import UsageError
from mailprobe.model import Service

LOOPBACK = ("127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class Spec:
    text: str  # as typed
    host: str  # a normalised name or an address
    port: int | None
    is_address: bool
    service: Service | None = None  # `/SERVICE`: what the port speaks, whatever its number
    local: bool = False  # `localhost`: this machine, never looked up

    @property
    def addresses(self) -> tuple[str, ...]:
        """The addresses known without DNS: an address literal's own, localhost's loopback; else none."""
        if self.is_address:
            return (self.host,)
        return LOOPBACK if self.local else ()


def is_localhost(name: str) -> bool:
    """`localhost` and names under it (RFC 6761 6.3): the loopback addresses, without asking DNS."""
    text = name.strip().rstrip(".").lower()
    return text == "localhost" or text.endswith(".localhost")


def loopback(addresses: tuple[str, ...]) -> tuple[str, ...]:
    """Addresses to probe for a Spec's `addresses`: as given, without ::1 when this machine has no IPv6
    loopback (localhost's pair)."""
    if "::1" not in addresses or len(addresses) == 1 or _has_ipv6_loopback():
        return addresses
    return tuple(a for a in addresses if a != "::1")


@functools.lru_cache(maxsize=1)
def _has_ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def split_service(raw: str) -> tuple[str, Service | None]:
    """`TARGET/SERVICE` -> (TARGET, Service); a text without one (or a CIDR mask) comes back as it is."""
    head, sep, tail = raw.rpartition("/")
    if not sep or not tail or is_decimal(tail) or not tail.isalnum():
        return raw, None
    try:
        return head, Service(tail.lower())
    except ValueError:
        names = ", ".join(s.value for s in Service)
        raise UsageError(f"bad target {raw!r}: unknown service {tail!r} (one of {names})") from None


def parse_port(text: str, what: str = "port") -> int:
    if not is_decimal(text):
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
    typed = text.strip()
    if not typed:
        raise UsageError("empty target")
    raw, service = split_service(typed)
    if not raw:
        raise UsageError(f"bad target {typed!r}: no host before /{service.value if service else ''}")
    if parse_block(raw) is not None:
        raise UsageError(f"{raw}: an address block; only `mailprobe ports` and `mailprobe handshake` take blocks")
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
        return Spec(typed, address, port, True, service)
    if is_decimal(host.rstrip(".").rpartition(".")[2]):  # `198.51.100.300`, `198.51`: a mistyped address, never a name
        raise UsageError(f"bad target {raw!r}: not an IP address, and a host name's last label is never all digits")
    from mailprobe.dns.names import validate_domain  # names are the DNS stage's business

    name = validate_domain(host)
    return Spec(typed, name, port, False, service, local=is_localhost(name))


def read_target_lines(lines: Iterable[str]) -> Iterator[str]:
    """Targets from a file or stdin: one per line, `#` comments and blank lines skipped."""
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            yield text


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Block:
    """A run of consecutive addresses, first to last inclusive, with an optional port."""

    text: str
    first: Address
    last: Address
    port: int | None
    service: Service | None = None

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    def targets(self) -> Iterator[str]:
        """One target text per address, in order, with the block's port."""
        kind = type(self.first)
        suffix = f"/{self.service.value}" if self.service is not None else ""
        for value in range(int(self.first), int(self.last) + 1):
            address = str(kind(value))
            if self.port is None:
                yield address + suffix
            else:
                bracketed = f"[{address}]" if kind is ipaddress.IPv6Address else address
                yield f"{bracketed}:{self.port}{suffix}"


def _split_port(raw: str) -> tuple[str, int | None] | None:
    """(body, port) of a block text, or None when the text cannot be a block."""
    if raw.startswith("["):
        inside, sep, rest = raw[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            return None
        return inside, parse_port(rest[1:]) if rest else None
    if raw.count(":") == 1:  # IPv4 with a port (an IPv6 block has more colons and no port outside [ ])
        body, _, port_text = raw.partition(":")
        return body, parse_port(port_text)
    return raw, None


def parse_block(text: str) -> Block | None:
    """The block `text` names, None when it is not a block (a name, an address); UsageError when it is a
    malformed one (a range backwards, a mask out of range)."""
    raw, service = split_service(text.strip())
    if "/" not in raw and "-" not in raw:
        return None
    split = _split_port(raw)
    if split is None:
        return None
    body, port = split
    if "/" in body:
        try:
            network = ipaddress.ip_network(body, strict=False)
        except ValueError as exc:
            raise UsageError(f"bad block {raw!r}: {exc}") from None
        return Block(text.strip(), network[0], network[-1], port, service)
    left, _, right = body.partition("-")
    first = _address(left)
    if first is None:
        return None  # a host name with a dash
    start = ipaddress.ip_address(first)
    if is_decimal(right) and start.version == 4:  # 198.51.100.10-20: the last octet
        if int(right) > 255:
            raise UsageError(f"bad range {raw!r}: {right} is not an octet")
        last: Address = ipaddress.IPv4Address(int(start) - int(start) % 256 + int(right))
    else:
        end = _address(right)
        if end is None or ipaddress.ip_address(end).version != start.version:
            raise UsageError(f"bad range {raw!r}: the end must be an address of the same family, or an octet")
        last = ipaddress.ip_address(end)
    if int(last) < int(start):
        raise UsageError(f"bad range {raw!r}: it ends before it starts")
    return Block(text.strip(), start, last, port, service)


def checked_block(text: str, cap: int) -> Block | None:
    """parse_block, and a UsageError when the block stands for more than `cap` addresses."""
    block = parse_block(text)
    if block is not None and block.size > cap:
        raise UsageError(
            f"{block.text}: {block.size:,} addresses, over the limit of {cap:,} per block; split it into smaller blocks"
        )
    return block


def expand_blocks(texts: Iterable[str], cap: int) -> Iterator[str]:
    """Every text as it is, except blocks, which become one target per address (lazily: memory stays flat)."""
    for text in texts:
        block = checked_block(text, cap)
        if block is None:
            yield text
        else:
            yield from block.targets()
