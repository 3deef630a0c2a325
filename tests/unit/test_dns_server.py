"""The in-process authoritative DNS server the demo and the DNS tests stand on."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.zone
import pytest

from mailprobe.demo.dns_server import DnsServer

ZONE = """$ORIGIN example.test.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
@ MX 10 mx1
@ MX 20 alias
mx1 A 127.0.0.1
mx1 AAAA ::1
alias CNAME mx1
outside CNAME mail.elsewhere.test.
loop1 CNAME loop2
loop2 CNAME loop1
_imap._tcp SRV 0 1 143 mx1
child NS ns.child
ns.child A 127.0.0.53
big TXT "{a}" "{b}" "{c}"
""".format(a="a" * 200, b="b" * 200, c="c" * 200)

OTHER = """$TTL 60
@ SOA ns hostmaster 1 3600 600 86400 300
mail A 127.0.0.9
"""


async def ask(port: int, name: str, rdtype: str, tcp: bool = False, timeout: float = 2.0) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    if tcp:
        return await dns.asyncquery.tcp(query, "127.0.0.1", port=port, timeout=timeout)
    return await dns.asyncquery.udp(query, "127.0.0.1", port=port, timeout=timeout)


def run(coro_fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        server = DnsServer([("example.test", ZONE), ("elsewhere.test", OTHER)], *args, **kwargs)
        port = await server.start()
        try:
            return await coro_fn(server, port)
        finally:
            await server.stop()

    return asyncio.run(main())


def texts(message: dns.message.Message) -> list[str]:
    return sorted(rr.to_text() for rrset in message.answer for rr in rrset)


def test_authoritative_answer_on_udp_and_tcp_same_port() -> None:
    async def body(server: DnsServer, port: int) -> None:
        udp = await ask(port, "example.test", "MX")
        tcp = await ask(port, "example.test", "MX", tcp=True)
        assert udp.flags & dns.flags.AA
        assert texts(udp) == texts(tcp) == ["10 mx1.example.test.", "20 alias.example.test."]
        assert [q[0] for q in server.queries] == ["udp", "tcp"]

    run(body)


def test_cname_is_chased_within_and_across_served_zones() -> None:
    async def body(server: DnsServer, port: int) -> None:
        inside = await ask(port, "alias.example.test", "A")
        assert [rrset.rdtype for rrset in inside.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
        across = await ask(port, "outside.example.test", "A")
        assert texts(across) == ["127.0.0.9", "mail.elsewhere.test."]

    run(body)


def test_cname_loop_ends() -> None:
    async def body(server: DnsServer, port: int) -> None:
        answer = await ask(port, "loop1.example.test", "A")
        assert answer.rcode() == dns.rcode.NOERROR
        assert len(answer.answer) == 2

    run(body)


def test_nxdomain_and_nodata_carry_the_soa() -> None:
    async def body(server: DnsServer, port: int) -> None:
        nx = await ask(port, "nope.example.test", "A")
        assert nx.rcode() == dns.rcode.NXDOMAIN
        assert nx.authority[0].rdtype == dns.rdatatype.SOA
        nodata = await ask(port, "mx1.example.test", "TXT")
        assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
        assert nodata.authority[0].rdtype == dns.rdatatype.SOA
        empty_non_terminal = await ask(port, "_tcp.example.test", "SRV")
        assert empty_non_terminal.rcode() == dns.rcode.NOERROR

    run(body)


def test_names_below_a_zone_cut_get_a_referral() -> None:
    async def body(server: DnsServer, port: int) -> None:
        referral = await ask(port, "www.child.example.test", "A")
        assert referral.rcode() == dns.rcode.NOERROR and not referral.answer
        assert not referral.flags & dns.flags.AA
        assert [(r.name.to_text(), r.rdtype) for r in referral.authority] == [("child.example.test.", dns.rdatatype.NS)]

    run(body)


def test_refused_outside_served_zones() -> None:
    async def body(server: DnsServer, port: int) -> None:
        answer = await ask(port, "example.org", "A")
        assert answer.rcode() == dns.rcode.REFUSED
        assert not answer.flags & dns.flags.AA

    run(body)


def test_big_udp_answer_is_truncated_and_whole_over_tcp() -> None:
    async def body(server: DnsServer, port: int) -> None:
        udp = await ask(port, "big.example.test", "TXT")
        assert udp.flags & dns.flags.TC and not udp.answer
        tcp = await ask(port, "big.example.test", "TXT", tcp=True)
        assert len(tcp.answer[0][0].strings) == 3

    run(body)


def test_behaviours() -> None:
    async def body(server: DnsServer, port: int) -> None:
        assert (await ask(port, "mx1.example.test", "A")).rcode() == dns.rcode.SERVFAIL
        assert (await ask(port, "mx1.example.test", "AAAA")).rcode() == dns.rcode.NOERROR
        assert (await ask(port, "example.test", "MX")).rcode() == dns.rcode.REFUSED
        assert (await ask(port, "alias.example.test", "A")).rcode() == dns.rcode.NXDOMAIN
        truncated = await ask(port, "loop1.example.test", "A")
        assert truncated.flags & dns.flags.TC
        with pytest.raises(dns.exception.Timeout):
            await ask(port, "loop2.example.test", "A", timeout=0.2)
        with pytest.raises(dns.exception.Timeout):
            await ask(port, "loop2.example.test", "A", tcp=True, timeout=0.2)
        with pytest.raises(dns.exception.DNSException):
            await ask(port, "outside.example.test", "A")

    run(
        body,
        behaviours={
            "mx1.example.test/A": "servfail",
            "example.test/MX": "refused",
            "alias.example.test": "nxdomain",
            "loop1.example.test": "truncate-always",
            "loop2.example.test": "drop",
            "outside.example.test": "garbage",
        },
    )


def test_unknown_behaviour_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown DNS behaviour"):
        DnsServer([("example.test", ZONE)], behaviours={"x.example.test": "explode"})


def test_zone_objects_and_origin_texts_are_accepted() -> None:
    zone = dns.zone.from_text(OTHER, origin="elsewhere.test", check_origin=False)  # relativized (the default)

    async def main() -> None:
        async with DnsServer([zone, ZONE]) as server:
            answer = await ask(server.port, "mail.elsewhere.test", "A")
            assert texts(answer) == ["127.0.0.9"]
            assert texts(await ask(server.port, "mx1.example.test", "A")) == ["127.0.0.1"]

    asyncio.run(main())


def test_ad_bit_and_delay() -> None:
    async def body(server: DnsServer, port: int) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await ask(port, "mx1.example.test", "A")
        assert answer.flags & dns.flags.AD
        assert loop.time() - started >= 0.05

    run(body, delay=0.05, authenticated=True)


def test_stop_closes_everything_even_with_a_silent_tcp_client() -> None:
    async def main() -> None:
        server = DnsServer([("example.test", ZONE)], behaviours={"mx1.example.test": "drop"})
        port = await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        query = dns.message.make_query("mx1.example.test", "A").to_wire()
        writer.write(len(query).to_bytes(2, "big") + query)
        await writer.drain()
        await asyncio.sleep(0.05)
        await server.stop()
        assert await reader.read() == b""  # the server closed the connection
        writer.close()
        await writer.wait_closed()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:  # the port is free again
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))

    asyncio.run(main())


def test_ipv6_loopback() -> None:
    async def main() -> None:
        async with DnsServer([("example.test", ZONE)], host="::1") as server:
            query = dns.message.make_query("mx1.example.test", "AAAA")
            answer = await dns.asyncquery.udp(query, "::1", port=server.port, timeout=2)
            assert texts(answer) == ["::1"]

    asyncio.run(main())


def test_command_line_serves_zone_files_until_sigterm(tmp_path: Path) -> None:
    zone_file = tmp_path / "example.test.zone"
    zone_file.write_text(ZONE.replace("$ORIGIN example.test.\n", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailprobe.demo.dns_server", "--zone", str(zone_file),
         "--behaviour", "mx1.example.test/A=servfail"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("ready ")
        port = int(line.split()[1])

        async def check() -> None:
            assert texts(await ask(port, "example.test", "MX")) == ["10 mx1.example.test.", "20 alias.example.test."]
            assert (await ask(port, "mx1.example.test", "A", tcp=True)).rcode() == dns.rcode.SERVFAIL

        asyncio.run(check())
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
