"""A resolver that limits its answer rate (NSD's and BIND's response rate limiting, the public resolvers'
per-client limits) must slow the run down, not turn into findings: every domain's MX is found."""

from __future__ import annotations

from hosted_zones import hosted

from mailprobe.config import Config, Limits, Resolver
from mailprobe.demo.dns_server import DnsServer
from mailprobe.dns.client import DnsClient, Outcome, resolver_run
from mailprobe.dns.pacing import Pacer
from mailprobe.engine import Stages, audit_stream
from mailprobe.model import MxStatus

DOMAINS = 40


async def test_a_rate_limiting_resolver_slows_the_run_and_every_mx_is_found() -> None:
    """40 domains' DNS pictures (~900 questions) through 80 answers a second: the code before this failed
    8-25 MX lookups a run (MX-TIMEOUT, HIGH) in five of five runs."""
    server = DnsServer(hosted(DOMAINS), rate_limit=80)
    port = await server.start()
    try:
        cfg = Config(resolver=Resolver("127.0.0.1", port), limits=Limits(connect_timeout=3))
        texts = [f"d{i}.test" for i in range(DOMAINS)]
        reports = [r async for r in audit_stream(texts, cfg, Stages(ports=False, handshake=False))]
    finally:
        await server.stop()
    statuses = {r.targets[0]: r.dns[0].status for r in reports}
    assert server.limited > 0  # the run did hit the limit: the test measures something
    assert [d for d, status in statuses.items() if status is not MxStatus.FOUND] == []
    assert not [f.code for r in reports for f in r.findings if f.code.endswith("-TIMEOUT")]


def test_the_pace_halves_on_a_lossy_second_grows_on_a_used_one_and_ignores_a_few_slow_domains() -> None:
    pacer = Pacer(rate=1000.0)
    pacer._account(100.0)  # the clock reaches second 100 (pacer's counts start there)

    def second(at: int, sent: int, lost: int) -> float:
        pacer._sent, pacer._lost = sent, lost
        pacer._account(float(at))  # the next second begins: the one before is judged
        return pacer.rate

    assert second(101, 600, 300) == 500.0  # half unanswered or truncated: a rate limit
    assert second(102, 400, 20) == 500.0  # 5 % (a few slow domains, a big answer): neither cut nor grown
    assert second(103, 400, 4) == 625.0  # used, 1 %: grows by a quarter
    assert second(104, 50, 0) == 625.0  # not used: no evidence either way
    assert second(106, 600, 0) == 625.0  # a second went by unused in between: no growth
    assert [pacer.try_timeout(n) for n in range(3)] == [1.0, 2.0, 4.0]  # no round trip known yet
    pacer.answered(0.05)
    assert [pacer.try_timeout(n) for n in range(3)] == [0.4, 0.8, 1.6]  # 4 x 50 ms is below the floor


async def test_an_unanswered_udp_question_is_asked_again_over_tcp() -> None:
    async with DnsServer(hosted(1), behaviours={"d0.test/MX": "drop-udp"}) as server:
        client = DnsClient(Resolver("127.0.0.1", server.port), timeout=5)
        answer = await client.query("d0.test", "MX")
    assert answer.outcome is Outcome.OK and answer.used_tcp
    assert [transport for transport, name, _ in server.queries if name == "d0.test."] == ["udp", "tcp"]


async def test_each_of_n_processes_paces_its_share() -> None:
    """--jobs N: every process's pacer starts at, and is capped by, 1/N of one process's rates (nothing sent)."""
    alone = resolver_run(Resolver("198.51.100.1")).pacer
    shared = resolver_run(Resolver("198.51.100.2"), processes=4).pacer
    assert (shared.rate, shared.ceiling) == (alone.rate / 4, alone.ceiling / 4)
