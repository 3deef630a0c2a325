"""ICMP errors from a socket's error queue (Linux IP_RECVERR / IPV6_RECVERR), without root.

With IP_RECVERR set, the kernel queues every ICMP error that concerns a socket, with the ICMP type, code and
the address of the router or host that sent it (the "offender"). Reading it tells a RST from the server
(ECONNREFUSED, nothing queued) apart from an ICMP reject by a router on the way. The parser is a pure
function over the ancillary-data bytes; `read_error_queue` is the only part that touches a socket.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
from dataclasses import dataclass

from mailprobe.model import IcmpInfo

# Linux values; the socket module does not export all of them.
IP_RECVERR = 11
IPV6_RECVERR = 25
MSG_ERRQUEUE = 0x2000
SOL_IP = 0
SOL_IPV6 = 41

SO_EE_ORIGIN_NONE = 0
SO_EE_ORIGIN_LOCAL = 1
SO_EE_ORIGIN_ICMP = 2
SO_EE_ORIGIN_ICMP6 = 3

_ERRQUEUE_FLAGS = MSG_ERRQUEUE | int(socket.MSG_DONTWAIT)  # a plain int: no enum arithmetic per read
RECVERR_OPTION = {int(socket.AF_INET): (SOL_IP, IP_RECVERR), int(socket.AF_INET6): (SOL_IPV6, IPV6_RECVERR)}

# struct sock_extended_err { u32 ee_errno; u8 ee_origin, ee_type, ee_code, ee_pad; u32 ee_info, ee_data; }
_EXTENDED_ERR = struct.Struct("=IBBBBII")
_ANCILLARY_SIZE = 512

# nmap's reason words for ICMPv4 destination-unreachable codes (type 3).
_ICMP4_UNREACH = {
    0: "net-unreach",
    1: "host-unreach",
    2: "proto-unreach",
    3: "port-unreach",
    4: "frag-needed",
    5: "source-route-failed",
    6: "net-unknown",
    7: "host-unknown",
    8: "host-isolated",
    9: "net-prohibited",
    10: "host-prohibited",
    11: "net-tos-unreach",
    12: "host-tos-unreach",
    13: "admin-prohibited",
    14: "host-precedence-violation",
    15: "precedence-cutoff",
}
# ICMPv6 destination unreachable (type 1), RFC 4443.
_ICMP6_UNREACH = {
    0: "no-route",
    1: "admin-prohibited",
    2: "beyond-scope",
    3: "addr-unreach",
    4: "port-unreach",
    5: "source-policy-failed",
    6: "reject-route",
}


def describe_icmp(version: int, icmp_type: int, code: int) -> str:
    """nmap-style words for an ICMP error ("admin-prohibited", "time-exceeded", ...)."""
    if version == 4:
        if icmp_type == 3:
            return _ICMP4_UNREACH.get(code, f"unreach-code-{code}")
        if icmp_type == 11:
            return "time-exceeded"
        if icmp_type == 12:
            return "param-problem"
        return f"icmp-type-{icmp_type}-code-{code}"
    if icmp_type == 1:
        return _ICMP6_UNREACH.get(code, f"unreach-code-{code}")
    if icmp_type == 2:
        return "packet-too-big"
    if icmp_type == 3:
        return "time-exceeded"
    if icmp_type == 4:
        return "param-problem"
    return f"icmp6-type-{icmp_type}-code-{code}"


@dataclass(frozen=True, slots=True)
class ExtendedError:
    """One entry of the error queue, decoded."""

    errno: int
    origin: int  # SO_EE_ORIGIN_*
    type: int
    code: int
    info: int
    offender: str  # "" when the kernel gave none (local errors)

    @property
    def is_icmp(self) -> bool:
        return self.origin in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6)

    def icmp_info(self) -> IcmpInfo | None:
        if not self.is_icmp:
            return None
        version = 4 if self.origin == SO_EE_ORIGIN_ICMP else 6
        return IcmpInfo(self.type, self.code, self.offender, describe_icmp(version, self.type, self.code))


def _parse_offender(data: bytes) -> str:
    """The sockaddr_in / sockaddr_in6 that follows sock_extended_err (SO_EE_OFFENDER)."""
    if len(data) < 2:
        return ""
    family = struct.unpack_from("=H", data)[0]
    if family == socket.AF_INET and len(data) >= 8:
        return str(ipaddress.IPv4Address(data[4:8]))
    if family == socket.AF_INET6 and len(data) >= 24:
        return str(ipaddress.IPv6Address(data[8:24]))
    return ""


def parse_extended_error(level: int, kind: int, data: bytes) -> ExtendedError | None:
    """Decode one control message from recvmsg(MSG_ERRQUEUE); None when it is not an extended error."""
    if (level, kind) not in ((SOL_IP, IP_RECVERR), (SOL_IPV6, IPV6_RECVERR)):
        return None
    if len(data) < _EXTENDED_ERR.size:
        return None
    ee_errno, origin, icmp_type, code, _pad, info, _data = _EXTENDED_ERR.unpack_from(data)
    return ExtendedError(ee_errno, origin, icmp_type, code, info, _parse_offender(data[_EXTENDED_ERR.size :]))


def parse_ancillary(ancdata: list[tuple[int, int, bytes]]) -> ExtendedError | None:
    """The first extended error among the control messages of one recvmsg call."""
    for level, kind, data in ancdata:
        parsed = parse_extended_error(level, kind, data)
        if parsed is not None:
            return parsed
    return None


def enable_recverr(sock: socket.socket, on: bool = True) -> None:
    """Ask the kernel to queue ICMP errors for this socket (IPv4 or IPv6), or (on=False) stop.

    Stopped on a connected socket handed to a session: with it on, Linux makes every ICMP error fatal to an
    established TCP connection, where without it transient ones stay soft.
    """
    if sock.family == socket.AF_INET6:
        sock.setsockopt(SOL_IPV6, IPV6_RECVERR, int(on))
    else:
        sock.setsockopt(SOL_IP, IP_RECVERR, int(on))


def read_error_queue(sock: socket.socket) -> ExtendedError | None:
    """Drain the error queue (never blocks); the last ICMP entry wins, as it is the freshest news."""
    found: ExtendedError | None = None
    for _ in range(16):  # bounded: a queue holds a handful of entries at most
        try:
            _data, ancdata, _flags, _addr = sock.recvmsg(512, _ANCILLARY_SIZE, _ERRQUEUE_FLAGS)
        except BlockingIOError:
            break
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                break
            raise
        parsed = parse_ancillary(ancdata)
        if parsed is not None and (found is None or parsed.is_icmp):
            found = parsed
    return found
