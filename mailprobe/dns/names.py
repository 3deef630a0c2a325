"""Domain names and addresses: validate what the user typed, judge what DNS returned. Pure functions."""

from __future__ import annotations

import ipaddress
import re

from mailprobe.errors import UsageError

_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
MAX_NAME = 253  # text form without the trailing dot (255 octets on the wire)


def validate_domain(text: str) -> str:
    """Normalise a domain the user typed: IDN to punycode, lowercase, no trailing dot.

    Raises UsageError with one line naming the problem. Underscores are allowed (service labels such as
    `_dmarc`); anything else outside letters, digits and hyphens is refused.
    """
    original = text
    text = text.strip()
    if not text:
        raise UsageError("empty domain name")
    if text.endswith("."):
        text = text[:-1]
    if not text:
        raise UsageError("the root '.' is not a mail domain")
    if is_address(text.strip("[]")):
        raise UsageError(f"{original!r} is an IP address, not a domain name")
    labels = text.split(".")
    for index, label in enumerate(labels):
        if not label:
            where = "leading" if index == 0 else "trailing" if index == len(labels) - 1 else "consecutive"
            raise UsageError(f"invalid domain {original!r}: empty label ({where} or doubled dot)")
    ascii_labels = [_to_ascii(label, original) for label in labels]
    for label in ascii_labels:
        if len(label) > 63:
            raise UsageError(f"invalid domain {original!r}: label {label[:20]}... is {len(label)} octets (max 63)")
        if not _LABEL.match(label):
            raise UsageError(f"invalid domain {original!r}: label {label!r} has characters not allowed in a host name")
    name = ".".join(ascii_labels)
    if len(name) > MAX_NAME:
        raise UsageError(f"invalid domain: {len(name)} characters long (max {MAX_NAME})")
    return name


def _to_ascii(label: str, original: str) -> str:
    if label.isascii():
        return label.lower()
    try:
        encoded: bytes = label.encode("idna")  # IDNA 2003 via the stdlib codec, as the brief asks
    except UnicodeError as exc:
        raise UsageError(f"invalid internationalised domain {original!r}: {exc}") from None
    return encoded.decode("ascii").lower()


def is_address(text: str) -> bool:
    """An IPv4 or IPv6 address literal (an IPv6 zone index allowed)."""
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def looks_like_ip_literal(name: str) -> bool:
    """An MX/SRV target written as an address (`198.51.100.25.`, `[198.51.100.25]`): a name, never an address."""
    text = name.rstrip(".").strip("[]")
    if text.lower().startswith("ipv6:"):
        text = text[5:]
    return is_address(text)


def is_public(address: str) -> bool:
    """Globally routable? False for loopback, private, link-local, documentation, CGNAT, multicast, ..."""
    return nonpublic_reason(address) is None


def nonpublic_reason(address: str) -> str | None:
    """Why an address is not globally routable, or None when it is."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        reason = nonpublic_reason(str(ip.ipv4_mapped))
        return f"IPv4-mapped {reason}" if reason else None
    for test, reason in (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (_is_documentation(ip), "documentation range"),
        (ip in _CGNAT, "shared address space (CGNAT, RFC 6598)"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (not ip.is_global, "not globally routable"),
    ):
        if test:
            return reason
    return None


_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_DOCUMENTATION = tuple(
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")
)


def _is_documentation(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(ip.version == net.version and ip in net for net in _DOCUMENTATION)


def normal_name(name: str) -> str:
    """Lowercase, no trailing dot: how names are compared and reported."""
    return name.rstrip(".").lower()
