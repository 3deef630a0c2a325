"""What keeps the DNS picture near its dependency depth: prefetching, single flight, and early addresses.

The additional section is only ever a hint: every address in the picture comes from an A/AAAA answer.
"""

from __future__ import annotations

import asyncio
import time

import dns.zone

from mailprobe.config import Config, Limits, Resolver
from mailprobe.demo.dns_server import DnsServer
from mailprobe.dns import resolve_domain
from mailprobe.dns.client import DnsClient, QueryTime
from mailprobe.model import MxHost, MxStatus

ZONE = """$ORIGIN test.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 127.0.0.1
fast MX 10 mx.fast.test.
mx.fast A 198.51.100.25
mx.fast AAAA 2001:db8::25
shared MX 10 a.shared.test.
shared MX 20 b.shared.test.
a.shared A 198.51.100.25
b.shared A 198.51.100.25
mixed MX 10 mx.fast.test.
mixed MX 20 mx.slow.test.
mx.slow A 198.51.100.26
"""
REVERSE = """$ORIGIN 100.51.198.in-addr.arpa.
$TTL 300
@ SOA ns.test. hostmaster.test. 1 3600 600 86400 300
25 PTR mx.fast.test.
77 PTR stale.example.
"""
BLOCKLIST = """$ORIGIN bl.example.
$TTL 60
@ SOA ns.test. hostmaster.test. 1 3600 600 86400 300
"""
ZONES = [dns.zone.from_text(text, relativize=False, check_origin=False) for text in (ZONE, REVERSE, BLOCKLIST)]
PTR_25 = "25.100.51.198.in-addr.arpa."
PTR_77 = "77.100.51.198.in-addr.arpa."


def _entry(client: DnsClient, text: str) -> QueryTime:
    return next(q for q in client.log if q.name == text)


async def test_volunteered_addresses_are_prefetched_alongside_their_confirmation() -> None:
    async with DnsServer(ZONES, delay=0.05) as server:
        cfg = Config(resolver=Resolver("127.0.0.1", server.port))
        client = DnsClient.from_config(cfg)
        d = await resolve_domain("fast.test", cfg, client=client)
    host = d.mx[0]
    assert host.addresses == ("198.51.100.25", "2001:db8::25")
    assert host.ptr[0] == ("198.51.100.25", "mx.fast.test")
    address, ptr = _entry(client, "mx.fast.test/A"), _entry(client, "25.100.51.198.in-addr.arpa/PTR")
    # Without the prefetch the PTR could only be sent after the A answer (50 ms later).
    assert ptr.started < address.started + address.elapsed_ms / 2000, (address, ptr)


async def test_stale_additional_data_never_enters_the_picture() -> None:
    stale = {"mx.fast.test.": ["198.51.100.77", "2001:db8::77"]}
    async with DnsServer(ZONES, delay=0.02, stale_additional=stale) as server:
        cfg = Config(resolver=Resolver("127.0.0.1", server.port), dnsbl_zones=("bl.example",))
        d = await resolve_domain("fast.test", cfg)
        asked = set(server.queries)
    assert ("udp", PTR_77, "PTR") in asked  # the hint was followed...
    host = d.mx[0]
    assert host.addresses == ("198.51.100.25", "2001:db8::25")  # ...but only the A/AAAA answers count
    assert all(address != "198.51.100.77" for address, _ in host.ptr)
    assert {r.value for r in d.records if r.kind == "DNSBL"} == {"198.51.100.25", "2001:db8::25"}


async def test_an_unconfirmed_prefetch_is_cancelled_not_waited_for() -> None:
    stale = {"mx.fast.test.": ["198.51.100.77"]}
    async with DnsServer(ZONES, stale_additional=stale, behaviours={PTR_77: "drop"}) as server:
        cfg = Config(resolver=Resolver("127.0.0.1", server.port), limits=Limits(connect_timeout=5.0))
        started = time.monotonic()
        d = await resolve_domain("fast.test", cfg)
        elapsed = time.monotonic() - started
        assert asyncio.all_tasks() == {asyncio.current_task()}  # nothing left running
    assert d.status is MxStatus.FOUND
    assert elapsed < 2.5, elapsed  # the dropped PTR's 5 s deadline was not waited for


async def test_the_same_question_is_asked_once() -> None:
    async with DnsServer(ZONES, delay=0.02) as server:
        cfg = Config(resolver=Resolver("127.0.0.1", server.port))
        d = await resolve_domain("shared.test", cfg)
        client = DnsClient.from_config(cfg)
        first, second = await asyncio.gather(client.query("fast.test", "MX"), client.query("FAST.test.", "mx"))
        asked = list(server.queries)
    assert [h.name for h in d.mx] == ["a.shared.test", "b.shared.test"]
    assert asked.count(("udp", PTR_25, "PTR")) == 1  # two MX hosts, one address, one PTR query
    assert asked.count(("udp", "fast.test.", "MX")) == 1
    assert first == second


async def test_addresses_are_announced_before_the_rest_of_the_picture() -> None:
    announced: list[tuple[float, MxStatus, tuple[MxHost, ...]]] = []
    async with DnsServer(ZONES, behaviours={PTR_25: "drop"}) as server:
        cfg = Config(resolver=Resolver("127.0.0.1", server.port), limits=Limits(connect_timeout=1.0))
        started = time.monotonic()
        d = await resolve_domain(
            "fast.test", cfg, on_addresses=lambda status, mx: announced.append((time.monotonic(), status, mx))
        )
        finished = time.monotonic()
    [(when, status, hosts)] = announced
    assert status is MxStatus.FOUND
    assert [(h.name, h.addresses, h.ptr) for h in hosts] == [("mx.fast.test", ("198.51.100.25", "2001:db8::25"), ())]
    assert finished - started >= 0.9  # the PTR lookup ran into its deadline...
    assert when - started < 0.5  # ...long after the addresses were handed on
    assert ("198.51.100.25", "timeout") in d.mx[0].ptr_errors


async def test_implicit_mx_addresses_are_announced_too() -> None:
    zone = ZONE + "implicit A 198.51.100.40\n"
    zones = [dns.zone.from_text(zone, relativize=False, check_origin=False)]
    announced: list[tuple[MxStatus, tuple[MxHost, ...]]] = []
    async with DnsServer(zones) as server:
        cfg = Config(resolver=Resolver("127.0.0.1", server.port))
        await resolve_domain("implicit.test", cfg, on_addresses=lambda status, mx: announced.append((status, mx)))
    [(status, hosts)] = announced
    assert status is MxStatus.IMPLICIT
    assert [(h.name, h.addresses) for h in hosts] == [("implicit.test", ("198.51.100.40",))]


async def test_lookups_sharing_a_client_do_not_cancel_each_other() -> None:
    """fast.test finishes first and settles its client while shared.test still waits for an answer."""
    async with DnsServer(ZONES, behaviours={"_dmarc.shared.test": "drop"}) as server:
        cfg = Config(resolver=Resolver("127.0.0.1", server.port), limits=Limits(connect_timeout=1.0))
        client = DnsClient.from_config(cfg)
        fast, shared = await asyncio.gather(
            resolve_domain("fast.test", cfg, client=client), resolve_domain("shared.test", cfg, client=client)
        )
    assert (fast.status, shared.status) == (MxStatus.FOUND, MxStatus.FOUND)
    assert [(r.status, r.detail) for r in shared.records if r.kind == "DMARC"] == [
        ("error", f"no answer from {client.resolver} within 1s")
    ]


async def test_each_mx_host_goes_on_without_waiting_for_the_others() -> None:
    """mx.slow.test never answers (1 s deadline): mx.fast.test's reverse lookup must not wait for it."""
    announced: list[float] = []
    nothing_volunteered = {"mx.fast.test.": [], "mx.slow.test.": []}
    async with DnsServer(ZONES, behaviours={"mx.slow.test": "drop"}, stale_additional=nothing_volunteered) as server:
        cfg = Config(resolver=Resolver("127.0.0.1", server.port), limits=Limits(connect_timeout=1.0))
        client = DnsClient.from_config(cfg)
        started = time.perf_counter()
        d = await resolve_domain(
            "mixed.test", cfg, client=client, on_addresses=lambda status, mx: announced.append(time.perf_counter())
        )
    fast, slow = d.mx
    assert (fast.name, fast.ptr[0], slow.status) == ("mx.fast.test", ("198.51.100.25", "mx.fast.test"), "timeout")
    ptr = _entry(client, "25.100.51.198.in-addr.arpa/PTR")
    assert ptr.started - started < 0.5  # asked as soon as mx.fast.test's addresses came
    assert len(announced) == 1 and announced[0] - started >= 0.9  # the engine hears once every host is known
