"""A small authoritative DNS server on loopback (UDP and TCP, one port), for the demo lab and the tests.

It serves dnspython zones: authoritative answers (AA), CNAME chasing across the zones it serves,
NXDOMAIN/NODATA with the SOA in the authority section, REFUSED outside its zones, and the TC bit when a
UDP answer does not fit (so clients retry over TCP). MX and SRV answers carry the targets' A/AAAA in the
additional section when it serves them (as BIND does; `stale_additional` makes it volunteer other addresses,
as a resolver with a stale cache might). Per-name behaviours let tests provoke failures:

    "servfail"         answer SERVFAIL
    "refused"          answer REFUSED
    "nxdomain"         answer NXDOMAIN even if the name exists
    "drop"             never answer (the client times out)
    "drop-udp"         never answer over UDP (TCP answers normally: a rate limit, a UDP-hostile path)
    "truncate-always"  always set TC over UDP (TCP answers normally)
    "garbage"          answer with bytes that are not DNS

A behaviour key is a name ("mx.example.test") or a name and a type ("example.test/MX").

`rate_limit` (answers per second over UDP) acts as NSD's and BIND's response rate limiting: beyond it an
answer is dropped, and every second dropped one "slips" out truncated (TC, so a real client retries over TCP,
which is not limited).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

ZoneSpec = dns.zone.Zone | str | tuple[str, str]
BEHAVIOURS = frozenset({"servfail", "refused", "nxdomain", "drop", "drop-udp", "truncate-always", "garbage"})
_MAX_CNAME_CHAIN = 16
_TCP_IDLE = 10.0


def _load_zone(spec: ZoneSpec) -> dns.zone.Zone:
    if isinstance(spec, dns.zone.Zone):
        if not spec.relativize:
            return spec
        # Absolute names throughout, so answers and CNAME targets need no re-rooting.
        text = spec.to_text(relativize=False)
        return dns.zone.from_text(text, origin=spec.origin, relativize=False, check_origin=False)
    if isinstance(spec, tuple):
        origin, text = spec
        return dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)
    return dns.zone.from_text(spec, relativize=False, check_origin=False)


def _behaviour_key(key: str) -> tuple[dns.name.Name, int | None]:
    name, _, rdtype = key.partition("/")
    return dns.name.from_text(name), (dns.rdatatype.from_text(rdtype) if rdtype else None)


class DnsServer:
    """Serve `zones` on host:port over UDP and TCP until `stop()`."""

    def __init__(
        self,
        zones: Sequence[ZoneSpec],
        host: str = "127.0.0.1",
        port: int = 0,
        behaviours: Mapping[str, str] | None = None,
        udp_max: int = 512,
        *,
        delay: float = 0.0,
        authenticated: bool = False,
        stale_additional: Mapping[str, Sequence[str]] | None = None,
        rate_limit: float = 0.0,
    ) -> None:
        self.zones = [_load_zone(z) for z in zones]
        self.host = host
        self.port = port
        self.udp_max = udp_max
        self.delay = delay  # seconds added before every answer (a slow or distant server)
        self.authenticated = authenticated  # set AD, as a validating resolver would
        self.stale_additional = {
            dns.name.from_text(name): list(addresses) for name, addresses in (stale_additional or {}).items()
        }
        self.behaviours: dict[tuple[dns.name.Name, int | None], str] = {}
        for key, behaviour in (behaviours or {}).items():
            if behaviour not in BEHAVIOURS:
                raise ValueError(f"unknown DNS behaviour {behaviour!r} for {key}")
            self.behaviours[_behaviour_key(key)] = behaviour
        self.queries: list[tuple[str, str, str]] = []  # (transport, qname, qtype) in arrival order
        self.rate_limit = rate_limit  # UDP answers per second (0: no limit)
        self.limited = 0  # UDP answers dropped or slipped by the rate limit
        self._second, self._rate, self._count = 0, 0.0, 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> int:
        """Bind UDP and TCP on the same port and return it."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _attempt in range(20):
            udp_sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                udp_sock.bind((self.host, self.port))
                port: int = udp_sock.getsockname()[1]
                tcp_sock = socket.socket(family, socket.SOCK_STREAM)
                try:
                    tcp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    tcp_sock.bind((self.host, port))
                    tcp_sock.listen(64)
                except OSError:
                    tcp_sock.close()
                    udp_sock.close()
                    if self.port:
                        raise
                    continue  # the TCP side of this ephemeral port is taken: try another
            except BaseException:
                udp_sock.close()
                raise
            break
        else:  # pragma: no cover - twenty collisions in a row
            raise OSError("could not bind UDP and TCP on one port")
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), sock=udp_sock)
        except BaseException:
            udp_sock.close()
            tcp_sock.close()
            raise
        self._udp = transport
        try:
            self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock)
        except BaseException:
            tcp_sock.close()
            await self.stop()
            raise
        self.port = port
        return port

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()
            self._tcp = None
        await asyncio.sleep(0)  # let the transports finish closing

    async def __aenter__(self) -> DnsServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- transports ------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[None, None, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_udp(self, data: bytes, addr: tuple[str, int]) -> None:
        wire = await self._respond(data, "udp")
        if wire is not None and self.rate_limit and not self._within_rate():
            self.limited += 1
            wire = _truncated(dns.message.from_wire(wire)) if self.limited % 2 == 0 else None  # slip 2, as NSD
        if wire is not None and self._udp is not None:
            self._udp.sendto(wire, addr)

    def _within_rate(self) -> bool:
        """NSD's rate estimate: this second's answers, dropped ones included, plus half the rate before it;
        above `rate_limit` an answer is limited (so a client that does not slow down stays limited)."""
        second = int(asyncio.get_running_loop().time())
        while self._second < second:
            self._rate, self._count = self._rate / 2 + self._count, 0
            self._second = second if self._rate < 1 else self._second + 1
        self._count += 1
        return self._rate / 2 + self._count <= self.rate_limit

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                header = await asyncio.wait_for(reader.readexactly(2), _TCP_IDLE)
                data = await asyncio.wait_for(reader.readexactly(struct.unpack("!H", header)[0]), _TCP_IDLE)
                wire = await self._respond(data, "tcp")
                if wire is None:
                    continue  # "drop": keep the connection open and silent
                writer.write(struct.pack("!H", len(wire)) + wire)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # --- answering -------------------------------------------------------------------------------

    async def _respond(self, data: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return _formerr(data)
        if not query.question:
            return _formerr(data)
        question = query.question[0]
        self.queries.append((transport, question.name.to_text(), dns.rdatatype.to_text(question.rdtype)))
        behaviour = self.behaviours.get((question.name, question.rdtype)) or self.behaviours.get((question.name, None))
        if behaviour == "drop" or (behaviour == "drop-udp" and transport == "udp"):
            return None
        if self.delay:
            await asyncio.sleep(self.delay)
        if behaviour == "garbage":
            return b"\x00this is not DNS\x00"
        response = dns.message.make_response(query)
        if behaviour in ("servfail", "refused"):
            response.set_rcode(dns.rcode.SERVFAIL if behaviour == "servfail" else dns.rcode.REFUSED)
            return response.to_wire()
        self._resolve(response, question.name, question.rdtype, force_nxdomain=behaviour == "nxdomain")
        if transport == "tcp":
            return response.to_wire()
        limit = self.udp_max
        if query.edns >= 0:
            limit = min(self.udp_max, max(512, query.payload))
        if behaviour == "truncate-always":
            return _truncated(response)
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            pass
        response.additional.clear()  # optional data goes first (RFC 2181 9), then TC
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            return _truncated(response)

    def _zone_for(self, name: dns.name.Name) -> dns.zone.Zone | None:
        best: dns.zone.Zone | None = None
        for zone in self.zones:
            assert zone.origin is not None
            if name.is_subdomain(zone.origin) and (best is None or len(zone.origin) > len(best.origin or ())):
                best = zone
        return best

    def _resolve(
        self,
        response: dns.message.Message,
        qname: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        force_nxdomain: bool,
    ) -> None:
        zone = self._zone_for(qname)
        if zone is None:
            response.set_rcode(dns.rcode.REFUSED)
            response.flags &= ~dns.flags.AA
            return
        response.flags |= dns.flags.AA
        if self.authenticated:
            response.flags |= dns.flags.AD
        name = qname
        seen: set[dns.name.Name] = set()
        while True:
            cut = _delegation(zone, name)
            if cut is not None:  # below a zone cut: refer, do not answer (no AA)
                if name == qname:
                    response.flags &= ~(dns.flags.AA | dns.flags.AD)
                response.authority.append(dns.rrset.from_rdata_list(cut[0], cut[1].ttl, list(cut[1])))
                return
            node = None if force_nxdomain else zone.get_node(name)
            if node is None:
                if force_nxdomain or not _has_descendants(zone, name):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                _add_soa(response, zone)
                return
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is not None and rdtype not in (dns.rdatatype.CNAME, dns.rdatatype.ANY):
                response.answer.append(dns.rrset.from_rdata_list(name, cname.ttl, list(cname)))
                seen.add(name)
                target = cname[0].target
                next_zone = self._zone_for(target)
                if target in seen or next_zone is None or len(seen) >= _MAX_CNAME_CHAIN:
                    return  # a loop, or out of our zones: the client follows the chain itself
                name, zone = target, next_zone
                continue
            if rdtype == dns.rdatatype.ANY:
                rdatasets = list(node.rdatasets)
            else:
                found = node.get_rdataset(dns.rdataclass.IN, rdtype)
                rdatasets = [found] if found is not None else []
            if not rdatasets:
                _add_soa(response, zone)
                return
            for rdataset in rdatasets:
                response.answer.append(dns.rrset.from_rdata_list(name, rdataset.ttl, list(rdataset)))
                self._add_additional(response, rdataset)
            return

    def _add_additional(self, response: dns.message.Message, rdataset: dns.rdataset.Rdataset) -> None:
        """A/AAAA of MX exchanges and SRV targets (RFC 1035 3.3.9, RFC 2782), from the zones served."""
        if rdataset.rdtype == dns.rdatatype.MX:
            targets = [rdata.exchange for rdata in rdataset]
        elif rdataset.rdtype == dns.rdatatype.SRV:
            targets = [rdata.target for rdata in rdataset]
        else:
            return
        for target in dict.fromkeys(targets):
            if target in self.stale_additional:
                for address in self.stale_additional[target]:
                    kind = "AAAA" if ":" in address else "A"
                    response.find_rrset(
                        response.additional, target, dns.rdataclass.IN, dns.rdatatype.from_text(kind), create=True
                    ).add(dns.rdata.from_text("IN", kind, address), 300)
                continue
            zone = self._zone_for(target)
            node = zone.get_node(target) if zone is not None else None
            for family in (dns.rdatatype.A, dns.rdatatype.AAAA):
                found = node.get_rdataset(dns.rdataclass.IN, family) if node is not None else None
                if found is not None:
                    response.additional.append(dns.rrset.from_rdata_list(target, found.ttl, list(found)))


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server._spawn(self.server._answer_udp(data, addr))

    def error_received(self, exc: Exception) -> None:  # ICMP errors for earlier answers: nothing to do
        pass


def _delegation(zone: dns.zone.Zone, name: dns.name.Name) -> tuple[dns.name.Name, dns.rdataset.Rdataset] | None:
    """The NS set of a zone cut at or above `name` (below the origin), if any."""
    assert zone.origin is not None
    cut = name
    while cut != zone.origin and cut.is_subdomain(zone.origin):
        ns = zone.get_rdataset(cut, dns.rdatatype.NS)
        if ns is not None:
            return cut, ns
        cut = cut.parent()
    return None


def _has_descendants(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    """An empty non-terminal (e.g. `_tcp.example.test` above `_imap._tcp.example.test`) exists: NODATA."""
    return any(other != name and other.is_subdomain(name) for other in zone.nodes)


def _add_soa(response: dns.message.Message, zone: dns.zone.Zone) -> None:
    assert zone.origin is not None
    soa = zone.get_rdataset(zone.origin, dns.rdatatype.SOA)
    if soa is not None:
        response.authority.append(dns.rrset.from_rdata_list(zone.origin, soa.ttl, list(soa)))


def _truncated(response: dns.message.Message) -> bytes:
    response.answer.clear()
    response.authority.clear()
    response.additional.clear()
    response.flags |= dns.flags.TC
    return response.to_wire()


def _formerr(data: bytes) -> bytes | None:
    if len(data) < 12:
        return None
    # Echo the id, set QR and FORMERR; no question (we could not parse it).
    return data[:2] + struct.pack("!HHHHH", 0x8000 | dns.rcode.FORMERR, 0, 0, 0, 0)


def _zone_argument(text: str) -> tuple[str, str]:
    """`ORIGIN=FILE`, or `FILE` named after its zone (`example.test.zone`), as the lab's NSD names them."""
    origin, sep, path = text.partition("=")
    if not sep:
        path = text
        origin = Path(path).name.removesuffix(".zone")
    return origin, Path(path).read_text()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve zone files until SIGTERM/SIGINT: `python -m mailprobe.demo.dns_server --zone FILE ...`.

    Prints `ready PORT` on stdout once both sockets listen (the lab starts it in a namespace this way).
    """
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m mailprobe.demo.dns_server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--zone", action="append", default=[], type=_zone_argument, help="ORIGIN=FILE or NAME.zone")
    parser.add_argument("--behaviour", action="append", default=[], help="NAME[/TYPE]=BEHAVIOUR")
    parser.add_argument("--udp-max", type=int, default=512)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    args = parser.parse_args(argv)
    behaviours = dict(item.split("=", 1) for item in args.behaviour)

    async def serve() -> None:
        server = DnsServer(args.zone, args.host, args.port, behaviours, args.udp_max, delay=args.delay)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        port = await server.start()
        print(f"ready {port}", flush=True)
        await stop.wait()
        await server.stop()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
