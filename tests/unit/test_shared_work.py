"""What DNS leads to is done once per run: domains hosted together share their MX's port probe and session,
counted at the server; what the user lists twice is probed twice; SharedWork's bounds."""

from __future__ import annotations

import asyncio
from collections import Counter

from cluster_servers import CountingSmtp
from hosted_zones import hosted

from mailprobe.config import Config, Limits, Resolver
from mailprobe.demo.dns_server import DnsServer
from mailprobe.dns import resolve_domain
from mailprobe.engine import Stages, audit_stream
from mailprobe.model import PortState, ProbeStatus, Report, Service
from mailprobe.shared_work import SharedWork


async def connections_for(texts: list[str], stages: Stages, dns_port: int = 0) -> tuple[int, list[Report]]:
    """The connections a fresh SMTP server sees while the targets are audited, and the reports."""
    server = CountingSmtp()
    port = await server.start()
    try:
        cfg = Config(
            limits=Limits(connect_timeout=2, read_timeout=3, session_timeout=8),
            resolver=Resolver("127.0.0.1", dns_port) if dns_port else None,
            ports=((Service.SMTP, port),),
            services=(Service.SMTP,),
            allow_nonpublic=True,
        )
        reports = [report async for report in audit_stream(texts, cfg, stages)]
    finally:
        await server.stop()
    return server.total, reports


async def test_domains_hosted_on_one_mx_share_its_probe_and_session() -> None:
    dns = DnsServer(hosted(6))
    dns_port = await dns.start()
    try:
        alone, _ = await connections_for(["d0.test"], Stages(), dns_port)
        together, reports = await connections_for([f"d{i}.test" for i in range(6)], Stages(), dns_port)
    finally:
        await dns.stop()
    assert alone >= 2  # the port probe's connect and the session's, at least
    assert together == alone  # six domains, the connections of one
    for report in reports:  # and every domain's report has them, named as its MX
        assert [(p.host, p.state) for p in report.ports] == [("mx.shared.test", PortState.OPEN)]
        assert [(h.target.host, h.status) for h in report.handshakes] == [("mx.shared.test", ProbeStatus.SUCCESS)]


async def test_two_mx_hosts_at_one_address_share_the_port_probe_not_the_sessions() -> None:
    """A session depends on the name (SNI, the certificate's name check); a port state only on the address."""
    dns = DnsServer(hosted(1))
    dns_port = await dns.start()
    try:
        alone, _ = await connections_for(["d0.test"], Stages(), dns_port)
        total, (report,) = await connections_for(["two.test"], Stages(), dns_port)
    finally:
        await dns.stop()
    session = alone - 1  # the connections of one session (the port probe is one connect)
    assert total == 1 + 2 * session
    assert [(p.host, p.state) for p in report.ports] == [
        ("mx.shared.test", PortState.OPEN),
        ("mx2.shared.test", PortState.OPEN),
    ]
    assert sorted(h.target.host for h in report.handshakes if h.status is ProbeStatus.SUCCESS) == [
        "mx.shared.test",
        "mx2.shared.test",
    ]


async def test_a_target_listed_thrice_is_probed_thrice() -> None:
    alone, _ = await connections_for(["127.0.0.1"], Stages(dns=False))
    thrice, reports = await connections_for(["127.0.0.1"] * 3, Stages(dns=False))
    assert alone >= 2 and thrice == 3 * alone
    assert all(r.handshakes[0].status is ProbeStatus.SUCCESS for r in reports)


async def test_shared_work_keeps_running_answers_and_forgets_old_finished_ones() -> None:
    loop = asyncio.get_running_loop()
    shared: SharedWork[str, int] = SharedWork(memory=2)
    running = loop.create_future()
    shared.put("running", running)
    for key in ("a", "b", "c"):
        done = loop.create_future()
        done.set_result(1)
        shared.put(key, done)
    assert shared.get("running") is running  # never forgotten while someone may be waiting for it
    assert shared.get("a") is None and shared.get("b") is None  # the oldest finished ones went first
    assert shared.get("c") is not None
    running.cancel()
    assert shared.get("running") is None  # a cancelled answer is no answer

    stale: SharedWork[str, int] = SharedWork(memory=8, max_age=0.0)
    stale.put("x", loop.create_future())
    await asyncio.sleep(0.01)
    assert stale.get("x") is None  # too old to share: asked again


async def test_a_definite_dns_answer_serves_the_whole_run_a_timeout_does_not() -> None:
    """Two domains with one MX host: its address, PTR and TLSA questions go out once. A question that timed
    out is asked again by the next lookup that needs it (the next try may be answered)."""
    zones = hosted(2)
    async with DnsServer(zones, behaviours={"_dmarc.test": "drop"}) as server:
        cfg = Config(resolver=Resolver("127.0.0.1", server.port), limits=Limits(connect_timeout=0.5))
        first = await resolve_domain("d0.test", cfg)
        second = await resolve_domain("d1.test", cfg)
        asked = Counter((name, qtype) for _, name, qtype in server.queries)
    assert [h.addresses for h in first.mx] == [h.addresses for h in second.mx] == [("127.0.0.1",)]
    assert asked[("mx.shared.test.", "A")] == 1 and asked[("mx.shared.test.", "AAAA")] == 1
    assert asked[("_25._tcp.mx.shared.test.", "TLSA")] == 1
    assert asked[("1.0.0.127.in-addr.arpa.", "PTR")] == 1
    assert asked[("_dmarc.test.", "TXT")] >= 2  # the organizational domain's DMARC record: dropped, asked again
