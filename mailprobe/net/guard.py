"""A last line of defence before any packet is sent: MAILPROBE_ALLOW_ONLY.

When the environment variable holds a comma-separated list of networks, every connect, DNS query and raw
probe to an address outside them is refused before it is sent. The test suite and CI set it to loopback and
the documentation ranges, so a mistaken target can never reach the outside world.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache

from mailprobe.errors import UnsafeTargetError

ENV = "MAILPROBE_ALLOW_ONLY"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _parse(spec: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def allowed_networks() -> tuple[Network, ...] | None:
    spec = os.environ.get(ENV)
    if spec is None:
        return None
    return _parse(spec)


def check(address: str) -> None:
    """Raise UnsafeTargetError when the guard is on and `address` is outside it."""
    spec = os.environ.get(ENV)
    if spec is None:
        return
    verdict = _verdict(spec, address)
    if verdict:
        raise UnsafeTargetError(verdict)


@lru_cache(maxsize=4096)
def _verdict(spec: str, address: str) -> str:
    """Why `address` is refused under `spec` ("" when allowed); remembered, as a scan asks per packet."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"not an IP address: {address!r}"
    if not any(ip in net for net in _parse(spec)):
        return f"{address} is outside {ENV} ({spec}); refusing to send to it"
    return ""
