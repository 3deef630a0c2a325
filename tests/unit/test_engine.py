"""The engine over in-process servers: SRV-announced services, streaming, per-target errors, sharding."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from mailprobe.cli.batch import apply_shard
from mailprobe.config import Config, Limits, Resolver
from mailprobe.demo.dns_server import DnsServer
from mailprobe.demo.imap_server import ImapServer
from mailprobe.demo.pki import DemoPki
from mailprobe.demo.smtp_server import SmtpServer
from mailprobe.engine import Stages, audit, audit_stream
from mailprobe.errors import UsageError
from mailprobe.model import ErrorKind, Service

NAME = "mx.engine.test"


def zone(smtp_port: int, imaps_port: int) -> tuple[str, str]:
    return (
        "engine.test.",
        f"""$TTL 300
@ IN SOA ns hostmaster 1 3600 600 86400 300
@ IN NS ns
@ IN MX 10 mx
ns IN A 127.0.0.1
mx IN A 127.0.0.1
_imaps._tcp IN SRV 0 1 {imaps_port} mx
""",
    )


@pytest.fixture
def pki() -> Iterator[DemoPki]:
    with DemoPki.create([NAME]) as made:
        yield made


async def test_srv_announced_service_is_handshaken(pki: DemoPki) -> None:
    smtp = SmtpServer(pki.server_context(), hostname=NAME)
    imaps = ImapServer(pki.server_context(), implicit_tls=True)
    smtp_port, imaps_port = await smtp.start(), await imaps.start()
    dns = DnsServer([zone(smtp_port, imaps_port)])
    dns_port = await dns.start()
    try:
        cfg = Config(
            limits=Limits(connect_timeout=1, read_timeout=1, session_timeout=3),
            resolver=Resolver("127.0.0.1", dns_port),
            ports=((Service.SMTP, smtp_port),),
            services=(Service.SMTP, Service.IMAPS),
            ca_file=pki.ca_pem_path,
            allow_nonpublic=True,
        )
        report = await audit(["engine.test"], cfg)
    finally:
        await dns.stop()
        await smtp.stop()
        await imaps.stop()
    by_service = {h.target.service: h for h in report.handshakes}
    assert by_service[Service.SMTP].status.value == "success"
    srv = by_service[Service.IMAPS]
    assert (srv.target.origin, srv.target.port, srv.status.value) == ("srv", imaps_port, "success")


async def test_one_bad_target_does_not_stop_the_others(pki: DemoPki) -> None:
    smtp = SmtpServer(pki.server_context(), hostname=NAME)
    port = await smtp.start()
    try:
        cfg = Config(
            limits=Limits(connect_timeout=1, read_timeout=1, session_timeout=3),
            ca_file=pki.ca_pem_path,
            ports=((Service.SMTP, port),),
        )
        texts = ["bad..name", f"127.0.0.1:{port}", "127.0.0.1:99999"]
        reports = [r async for r in audit_stream(texts, cfg, Stages(dns=False, ports=False))]
    finally:
        await smtp.stop()
    by_target = {r.targets[0]: r for r in reports}
    assert set(by_target) == set(texts)
    assert "empty label" in by_target["bad..name"].errors[0].message
    assert by_target["bad..name"].errors[0].kind is ErrorKind.BAD_TARGET
    assert "1-65535" in by_target["127.0.0.1:99999"].errors[0].message
    assert by_target[f"127.0.0.1:{port}"].handshakes[0].status.value == "success"


def test_shards_are_disjoint_and_cover_everything() -> None:
    texts = [f"host{i}.test" for i in range(10)]
    shards = [apply_shard(texts, f"{i}/3") for i in (1, 2, 3)]
    assert sorted(t for shard in shards for t in shard) == sorted(texts)
    assert apply_shard(texts, "2/3") == apply_shard(texts, "2/3") == ["host1.test", "host4.test", "host7.test"]
    with pytest.raises(UsageError):
        apply_shard(texts, "0/3")


async def test_probing_starts_once_the_addresses_are_known(pki: DemoPki) -> None:
    """The PTR lookup of the MX address never answers (1 s deadline): the port probe must not wait for it."""
    connected: list[float] = []

    async def note(reader: object, writer: asyncio.StreamWriter) -> None:
        connected.append(time.monotonic())
        writer.close()

    listener = await asyncio.start_server(note, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    dns = DnsServer([zone(port, port)], behaviours={"1.0.0.127.in-addr.arpa": "drop"})
    dns_port = await dns.start()
    try:
        cfg = Config(
            limits=Limits(connect_timeout=1, read_timeout=1, session_timeout=3),
            resolver=Resolver("127.0.0.1", dns_port),
            ports=((Service.SMTP, port),),
            services=(Service.SMTP,),
            allow_nonpublic=True,
        )
        started = time.monotonic()
        report = await audit(["engine.test"], cfg)
    finally:
        await dns.stop()
        listener.close()
        await listener.wait_closed()
    assert report.dns[0].elapsed_ms >= 900  # the picture waited for the PTR deadline...
    assert report.dns[0].mx[0].ptr_errors == (("127.0.0.1", "timeout"),)
    assert connected and connected[0] - started < 0.5  # ...the probes did not
    assert [p.state.value for p in report.ports] == ["open"]
