"""The DNS stage against the in-process authoritative server: one test per outcome the issue lists."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar, cast

import dns.flags
import dns.message
import dns.zone
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from judging import findings

from mailprobe.config import Config, Limits, Resolver
from mailprobe.demo.dns_server import DnsServer
from mailprobe.dns import (
    check_resolver,
    mx_groups,
    probe_addresses,
    resolve_domain,
    resolve_host,
    srv_targets,
)
from mailprobe.dns.client import Answer, DnsClient
from mailprobe.errors import ResolverError, UnsafeTargetError
from mailprobe.model import DomainDns, Finding, MxStatus, RecordKind, RunContext, SpfEvaluation

T = TypeVar("T")


def _dkim_key(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def _txt(text: str) -> str:
    """A TXT rdata of 255-byte character-strings (long DKIM keys need several)."""
    return " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))


KEY_2048 = _dkim_key(2048)
KEY_1024 = _dkim_key(1024)
TLSA_HEX = "ab" * 32

# One zone for every case: each mail domain is a subdomain of "test." with its own records.
TEST_ZONE = f"""$ORIGIN test.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 127.0.0.1

; good.test: three hosts, two preference groups, a duplicate, policy records, SRV, DKIM
good MX 10 mx1.good.test.
good MX 10 mx2.good.test.
good MX 20 backup.good.test.
good MX 30 mx1.good.test.
good TXT "v=spf1 mx include:_spf.good.test -all"
good TXT "google-site-verification=abc"
_spf.good TXT "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 -all"
_dmarc.good TXT "v=DMARC1; p=reject; rua=mailto:dmarc@good.test"
_smtp._tls.good TXT "v=TLSRPTv1; rua=mailto:tlsrpt@good.test"
mx1.good A 198.51.100.25
mx1.good AAAA 2001:db8::25
mx2.good A 198.51.100.26
backup.good A 203.0.113.27
wrong.good A 198.51.100.99
_25._tcp.mx1.good TLSA 3 1 1 {TLSA_HEX}
_submission._tcp.good SRV 0 1 587 mx1.good.test.
_imaps._tcp.good SRV 10 1 993 mx2.good.test.
_imaps._tcp.good SRV 0 1 993 mx1.good.test.
_pop3._tcp.good SRV 0 0 0 .
sel._domainkey.good TXT {_txt("v=DKIM1; k=rsa; p=" + KEY_2048)}
old._domainkey.good TXT "v=DKIM1; k=rsa; p="
weak._domainkey.good TXT {_txt("v=DKIM1; k=rsa; t=y; p=" + KEY_1024)}
bad._domainkey.good TXT "v=DKIM1; k=rsa; p=!!notbase64"

nullmx MX 0 .
mixednull MX 0 .
mixednull MX 10 mx1.good.test.
implicit A 198.51.100.40
nomail TXT "no mail here"
servfail MX 10 mx1.good.test.
servfail A 198.51.100.41
timeout A 198.51.100.42
truncated MX 10 mx1.good.test.
cname MX 10 alias.cname.test.
alias.cname CNAME real.cname.test.
real.cname A 198.51.100.50
dangling MX 10 gone.dangling.test.
danglingcname MX 10 alias.danglingcname.test.
alias.danglingcname CNAME nothing.danglingcname.test.
iplit MX 10 198.51.100.25.
private MX 10 mx.private.test.
mx.private A 10.1.2.3
mx.private AAAA fd00::25
public MX 10 mx.public.test.
mx.public A 8.8.8.8
mx.public AAAA 2606:4700::1111
loop MX 10 a.loop.test.
a.loop CNAME b.loop.test.
b.loop CNAME a.loop.test.
aliasdomain CNAME good.test.
slowhost MX 10 mx.slowhost.test.
delegated NS ns1.other.example.

; SPF and DMARC variants
spfmulti TXT "v=spf1 -all"
spfmulti TXT "v=spf1 mx -all"
spfsyntax TXT "v=spf1 ip4:300.1.2.3 -all"
spfpassall TXT "v=spf1 +all"
spfneutral TXT "v=spf1 mx ?all"
spfnoall TXT "v=spf1 mx"
spfbrokeninclude TXT "v=spf1 include:nospf.test -all"
nospf TXT "just text"
spfloop TXT "v=spf1 include:spfloop2.test -all"
spfloop2 TXT "v=spf1 include:spfloop.test -all"
spfvoids TXT "v=spf1 mx a:gone1.test include:i5.spf.test -all"
spfvoids MX 10 mx1.good.test.
i5.spf TXT "v=spf1 exists:gone2.test mx:gone3.test a:mx1.good.test -all"
spfmany TXT "v=spf1 include:i1.spf.test include:i2.spf.test include:i3.spf.test -all"
i1.spf TXT "v=spf1 a mx exists:x.test include:i4.spf.test -all"
i2.spf TXT "v=spf1 a mx ptr -all"
i3.spf TXT "v=spf1 a mx -all"
i4.spf TXT "v=spf1 a mx -all"
_dmarc.spfpassall TXT "v=DMARC1; p=none"
_dmarc.spfneutral TXT "v=DMARC1; p=quarantine; sp=none; pct=50; rua=mailto:d@spfneutral.test"
_dmarc.spfnoall TXT "v=DMARC1 p=reject rua=mailto:d@spfnoall.test"
_dmarc.spfmulti TXT "v=DMARC1; p=reject"
_dmarc.spfmulti TXT "v=DMARC1; p=none"
; DMARC from an ancestor (the tree walk): its subdomain policy applies
sub.good MX 10 mx1.good.test.
deep.sub.spfneutral MX 10 mx1.good.test.
child.spfnoall MX 10 mx1.good.test.

; MTA-STS TXT records (the policy fetch is tested in test_dns_mtasts.py)
_mta-sts.spfnoall TXT "v=STSv1; id=bad id!"
"""

REVERSE_V4 = """$ORIGIN 100.51.198.in-addr.arpa.
$TTL 300
@ SOA ns.test. hostmaster.test. 1 3600 600 86400 300
25 PTR mx1.good.test.
26 PTR wrong.good.test.
"""
REVERSE_V6 = """$ORIGIN 8.b.d.0.1.0.0.2.ip6.arpa.
$TTL 300
@ SOA ns.test. hostmaster.test. 1 3600 600 86400 300
5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0 PTR mx1.good.test.
"""
REVERSE_TEST_NET_3 = """$ORIGIN 113.0.203.in-addr.arpa.
$TTL 300
@ SOA ns.test. hostmaster.test. 1 3600 600 86400 300
"""
BLOCKLIST = """$ORIGIN bl.example.
$TTL 60
@ SOA ns.test. hostmaster.test. 1 3600 600 86400 300
25.100.51.198 A 127.0.0.2
25.100.51.198 TXT "listed for testing, see https://bl.example/198.51.100.25"
26.100.51.198 A 127.255.255.254
"""
ZONES = [
    dns.zone.from_text(text, relativize=False, check_origin=False)
    for text in (TEST_ZONE, REVERSE_V4, REVERSE_V6, REVERSE_TEST_NET_3, BLOCKLIST)
]
BEHAVIOURS = {
    "servfail.test/MX": "servfail",
    "timeout.test/MX": "drop",
    "truncated.test/MX": "truncate-always",
    "mx.slowhost.test/A": "drop",
    "mx.slowhost.test/AAAA": "drop",
    "26.100.51.198.in-addr.arpa": "servfail",
}


def run_with_server(
    body: Callable[[DnsServer, Config], Awaitable[T]],
    behaviours: Mapping[str, str] | None = None,
    **cfg_changes: object,
) -> T:
    async def main() -> T:
        async with DnsServer(ZONES, behaviours=BEHAVIOURS if behaviours is None else behaviours) as server:
            cfg = Config(resolver=Resolver("127.0.0.1", server.port), limits=Limits(connect_timeout=0.4))
            cfg = dataclasses.replace(cfg, **cfg_changes)  # type: ignore[arg-type]
            return await body(server, cfg)

    return asyncio.run(main())


def resolve(domain: str, **cfg_changes: object) -> DomainDns:
    return run_with_server(lambda server, cfg: resolve_domain(domain, cfg), **cfg_changes)


def check_dns(d: DomainDns, allow_nonpublic: bool = False) -> list[Finding]:
    return findings(dns=(d,), context=RunContext(allow_nonpublic=allow_nonpublic))


def codes(d: DomainDns) -> set[str]:
    return {f.code for f in check_dns(d)}


def records(d: DomainDns, kind: str) -> list[tuple[str, str, str]]:
    return [(r.name, r.value, r.status) for r in d.records if r.kind == kind]


# --- MX outcomes ---------------------------------------------------------------------------------------


def test_found_with_preference_order_groups_and_duplicates() -> None:
    d = resolve("GOOD.test.")
    assert d.domain == "good.test"
    assert d.status is MxStatus.FOUND
    assert [(h.preference, h.name) for h in d.mx] == [
        (10, "mx1.good.test"),
        (10, "mx2.good.test"),
        (20, "backup.good.test"),
    ]
    assert [(p, [h.name for h in hosts]) for p, hosts in mx_groups(d)] == [
        (10, ["mx1.good.test", "mx2.good.test"]),
        (20, ["backup.good.test"]),
    ]
    assert d.duplicate_mx == ("mx1.good.test",)
    mx1 = d.mx[0]
    assert mx1.addresses == ("198.51.100.25", "2001:db8::25")
    assert mx1.status == "nonpublic"  # documentation ranges are not globally routable
    assert "MX-DUPLICATE" in codes(d)


def test_implicit_mx_falls_back_to_the_domain_address() -> None:
    d = resolve("implicit.test")
    assert d.status is MxStatus.IMPLICIT
    assert [(h.preference, h.name, h.addresses) for h in d.mx] == [(0, "implicit.test", ("198.51.100.40",))]
    assert "MX-IMPLICIT" in codes(d)


def test_null_mx_probes_nothing() -> None:
    d = resolve("nullmx.test")
    assert d.status is MxStatus.NULL and d.mx == ()
    assert "MX-NULL" in codes(d)


def test_null_mx_mixed_with_others() -> None:
    d = resolve("mixednull.test")
    assert d.status is MxStatus.FOUND
    assert [h.name for h in d.mx] == ["mx1.good.test"]
    assert "MX-NULL-MIXED" in codes(d)


def test_nxdomain() -> None:
    d = resolve("nosuchdomain.test")
    assert d.status is MxStatus.NXDOMAIN and d.mx == ()
    assert "MX-NXDOMAIN" in codes(d)


def test_nodata_no_mx_no_address() -> None:
    d = resolve("nomail.test")
    assert d.status is MxStatus.NODATA and d.mx == ()
    assert "MX-NONE" in codes(d)


def test_servfail_never_falls_back_to_the_address() -> None:
    d = resolve("servfail.test")  # it has an A record: a temporary failure must not make it an implicit MX
    assert d.status is MxStatus.SERVFAIL and d.mx == ()
    assert "MX-SERVFAIL" in codes(d)


def test_refused_outside_the_servers_zones() -> None:
    d = resolve("elsewhere.example")
    assert d.status is MxStatus.REFUSED
    assert "MX-REFUSED" in codes(d)


def test_timeout_is_its_own_status_and_never_falls_back() -> None:
    d = resolve("timeout.test")
    assert d.status is MxStatus.TIMEOUT and d.mx == ()
    assert "MX-TIMEOUT" in codes(d)
    assert d.elapsed_ms < 2000  # one deadline (0.4 s) per lookup, lookups concurrent


def test_truncated_udp_answer_is_retried_over_tcp() -> None:
    async def body(server: DnsServer, cfg: Config) -> DomainDns:
        d = await resolve_domain("truncated.test", cfg)
        assert ("tcp", "truncated.test.", "MX") in server.queries
        return d

    d = run_with_server(body)
    assert d.status is MxStatus.FOUND
    assert [h.name for h in d.mx] == ["mx1.good.test"]


def test_mx_target_is_a_cname() -> None:
    d = resolve("cname.test")
    host = d.mx[0]
    assert host.status == "cname"
    assert host.cname_target == "real.cname.test"
    assert host.addresses == ("198.51.100.50",)
    assert "MX-CNAME" in codes(d)


def test_dangling_mx_target() -> None:
    d = resolve("dangling.test")
    assert d.status is MxStatus.FOUND
    assert d.mx[0].status == "dangling" and d.mx[0].addresses == ()
    assert "MX-DANGLING" in codes(d)


def test_dangling_through_a_cname() -> None:
    d = resolve("danglingcname.test")
    host = d.mx[0]
    assert host.status == "dangling" and host.cname_target == "nothing.danglingcname.test"
    assert {"MX-DANGLING", "MX-CNAME"} <= codes(d)


def test_ip_literal_target_is_a_name_never_an_address() -> None:
    d = resolve("iplit.test")
    host = d.mx[0]
    assert host.name == "198.51.100.25"
    assert host.status == "ip-literal"
    assert host.addresses == ()  # looked up as a name (REFUSED here), never taken as an address
    assert "MX-IP-LITERAL" in codes(d)


def test_nonpublic_target_is_marked_and_not_probed_by_default() -> None:
    d = resolve("private.test")
    host = d.mx[0]
    assert host.status == "nonpublic"
    assert host.addresses == ("10.1.2.3", "fd00::25")
    found = [f for f in check_dns(d) if f.code == "MX-NONPUBLIC"]
    assert len(found) == 2 and all(f.severity.value == "high" for f in found)  # one per address: evidence differs
    assert probe_addresses(host, Config()) == ()
    assert probe_addresses(host, Config(allow_nonpublic=True)) == ("10.1.2.3", "fd00::25")
    assert probe_addresses(host, Config(allow_nonpublic=True, ipv6=False)) == ("10.1.2.3",)


def test_nonpublic_is_only_noted_when_the_user_allows_it() -> None:
    d = resolve("private.test", allow_nonpublic=True)
    found = [f for f in check_dns(d, allow_nonpublic=True) if f.code == "MX-NONPUBLIC"]
    assert found and all(f.severity.value == "info" for f in found)


def test_public_target_is_ok() -> None:
    d = resolve("public.test")  # addresses are data only: nothing is sent to them
    assert d.mx[0].status == "ok"
    assert probe_addresses(d.mx[0], Config()) == ("8.8.8.8", "2606:4700::1111")
    assert "MX-NONPUBLIC" not in codes(d)


def test_cname_loop_ends_cleanly() -> None:
    d = resolve("loop.test")
    assert d.mx[0].status == "cname-loop" and d.mx[0].addresses == ()
    assert "MX-CNAME-LOOP" in codes(d)


def test_mx_host_lookup_timeout() -> None:
    d = resolve("slowhost.test")
    assert d.mx[0].status == "timeout"
    assert "MX-LOOKUP-FAILED" in codes(d)
    assert "MX-DANGLING" not in codes(d)


def test_a_referral_is_not_taken_for_no_data() -> None:
    """An authoritative server asked for a delegated name answers with a referral: never an implicit MX."""
    for domain in ("delegated.test", "mail.delegated.test"):
        d = resolve(domain)
        assert d.status is MxStatus.ERROR and d.mx == ()
        assert "referred " + domain + " to delegated.test (not a recursive resolver)" in d.reason
        assert "MX-ERROR" in codes(d)


def test_domain_that_is_an_alias() -> None:
    d = resolve("aliasdomain.test")
    assert d.status is MxStatus.FOUND
    assert d.alias_of == "good.test"


def test_no_ipv6_is_noted() -> None:
    d = resolve("good.test")
    no_v6 = {f.target for f in check_dns(d) if f.code == "MX-NO-IPV6"}
    assert no_v6 == {"mx2.good.test", "backup.good.test"}


# --- reverse DNS ---------------------------------------------------------------------------------------


def test_ptr_confirmed_mismatched_missing_and_failed() -> None:
    d = resolve("good.test")
    mx1, mx2, backup = d.mx
    assert mx1.ptr == (("198.51.100.25", "mx1.good.test"), ("2001:db8::25", "mx1.good.test"))
    assert mx1.fcrdns == (("198.51.100.25", True), ("2001:db8::25", True))
    assert mx2.ptr == ()  # the PTR lookup of .26 fails (SERVFAIL): unknown, not missing
    assert mx2.ptr_errors == (("198.51.100.26", "servfail"),)
    assert backup.ptr == (("203.0.113.27", ""),)  # no reverse zone for it: NXDOMAIN = missing
    found = {(f.code, f.target) for f in check_dns(d) if f.code.startswith("PTR")}
    assert found == {("PTR-MISSING", "203.0.113.27"), ("PTR-ERROR", "198.51.100.26")}


def test_ptr_mismatch() -> None:
    behaviours = {k: v for k, v in BEHAVIOURS.items() if not k.startswith("26.")}
    d = run_with_server(lambda server, cfg: resolve_domain("good.test", cfg), behaviours=behaviours)
    mx2 = d.mx[1]
    assert mx2.ptr == (("198.51.100.26", "wrong.good.test"),)
    assert mx2.fcrdns == (("198.51.100.26", False),)
    assert "PTR-MISMATCH" in codes(d)


# --- SRV, policy records, DKIM, DNSBL --------------------------------------------------------------------


def test_srv_records_and_targets() -> None:
    d = resolve("good.test")
    srv = {name: (value, status) for name, value, status in records(d, "SRV")}
    assert srv["_submission._tcp.good.test"] == ("0 1 587 mx1.good.test.", "ok")
    assert srv["_pop3._tcp.good.test"] == ("0 0 0 .", "unavailable")
    assert srv["_imap._tcp.good.test"] == ("", "missing")
    assert [(t.target, t.port, t.service.value) for t in srv_targets(d)] == [
        ("mx1.good.test", 587, "submission"),
        ("mx1.good.test", 993, "imaps"),
        ("mx2.good.test", 993, "imaps"),
    ]


def test_good_policy_records() -> None:
    d = resolve("good.test", dkim_selectors=("sel",))
    assert records(d, "SPF") == [("good.test", "v=spf1 mx include:_spf.good.test -all", "ok")]
    spf = next(r for r in d.records if r.kind == "SPF")
    assert spf.detail.startswith("2 DNS lookups")  # mx + include (the included record has none)
    assert records(d, "DMARC")[0][2] == "ok"
    assert records(d, "TLS-RPT")[0][2] == "ok"
    assert records(d, "MTA-STS") == [("_mta-sts.good.test", "", "missing")]
    assert records(d, "DKIM")[0][2] == "ok"
    dkim = next(r for r in d.records if r.kind == "DKIM")
    assert dkim.detail == "rsa 2048 bits"
    assert records(d, "TLSA") == [
        ("_25._tcp.mx1.good.test", f"3 1 1 {TLSA_HEX}", "ok"),
        ("_25._tcp.mx2.good.test", "", "missing"),
        ("_25._tcp.backup.good.test", "", "missing"),
    ]
    policy_codes = {c for c in codes(d) if c.split("-")[0] in ("SPF", "DMARC", "DKIM", "TLSRPT")}
    assert policy_codes == set()


@pytest.mark.parametrize(
    ("domain", "status", "code"),
    [
        ("spfmulti.test", "multiple", "SPF-MULTIPLE"),
        ("spfsyntax.test", "invalid", "SPF-SYNTAX"),
        ("spfpassall.test", "ok", "SPF-PASS-ALL"),
        ("spfneutral.test", "ok", "SPF-NEUTRAL-ALL"),  # and `mx` of a domain without MX: void
        ("spfnoall.test", "ok", "SPF-NO-ALL"),
        ("spfneutral.test", "ok", "SPF-VOID-LOOKUP"),
        ("spfvoids.test", "ok", "SPF-VOID-LOOKUPS"),
        ("spfbrokeninclude.test", "ok", "SPF-INCLUDE-ERROR"),
        ("spfloop.test", "ok", "SPF-INCLUDE-ERROR"),
        ("spfmany.test", "ok", "SPF-TOO-MANY-LOOKUPS"),
        ("nullmx.test", "missing", "SPF-MISSING"),
        ("timeout.test", "ok", None),
    ],
)
def test_spf_variants(domain: str, status: str, code: str | None) -> None:
    d = resolve(domain)
    spf = records(d, "SPF")
    if code is None:  # timeout.test drops only MX: SPF there is simply missing
        assert spf[0][2] == "missing"
        return
    assert {s for _, _, s in spf} == {status}
    assert code in codes(d)


def test_spf_void_lookups_are_counted_through_includes() -> None:
    d = resolve("spfvoids.test")
    evaluation = next(r.parsed for r in d.records if r.kind is RecordKind.SPF)
    assert isinstance(evaluation, SpfEvaluation)
    # its own mx and i5's a:mx1.good.test exist: three names do not (an `a` name asks A and AAAA: one per family)
    voids = {(v.term, v.query, v.outcome.value) for v in evaluation.voids}
    assert {v[0] for v in voids} == {"a:gone1.test", "exists:gone2.test", "mx:gone3.test"}
    assert evaluation.void_count(ipv6=False) == 3 and evaluation.void_count(ipv6=True) == 3
    [finding] = [f for f in check_dns(d) if f.code == "SPF-VOID-LOOKUPS"]
    assert "IPv4 and IPv6 senders" in finding.evidence and "a:gone1.test in " in finding.evidence


def test_spf_lookup_count_through_includes() -> None:
    d = resolve("spfmany.test")
    spf = next(r for r in d.records if r.kind == "SPF")
    # 3 includes + i1 (a mx exists include = 4) + i2 (a mx ptr = 3) + i3 (2) = 12 > 10: counting stops
    # before i4 (whose 2 more would not change the verdict)
    assert spf.detail.startswith("at least 12 DNS lookups (limit 10)")


@pytest.mark.parametrize(
    ("domain", "status", "expected"),
    [
        ("spfpassall.test", "ok", {"DMARC-POLICY-NONE", "DMARC-NO-RUA"}),
        ("spfneutral.test", "ok", {"DMARC-SUBDOMAIN-NONE", "DMARC-OBSOLETE-TAG"}),  # sp=none, pct=50
        ("spfnoall.test", "invalid", {"DMARC-SYNTAX"}),
        ("spfmulti.test", "multiple", {"DMARC-MULTIPLE"}),
        ("nullmx.test", "missing", {"DMARC-MISSING"}),
    ],
)
def test_dmarc_variants(domain: str, status: str, expected: set[str]) -> None:
    d = resolve(domain)
    assert {s for _, _, s in records(d, "DMARC")} == {status}
    assert {c for c in codes(d) if c.startswith("DMARC")} == expected


@pytest.mark.parametrize(
    ("domain", "record", "status", "expected"),
    [
        # good.test: p=reject, no sp= (so reject for subdomains too)
        ("sub.good.test", "_dmarc.good.test", "inherited", {"DMARC-INHERITED"}),
        # spfneutral.test: p=quarantine but sp=none, and sp= is what a subdomain gets
        (
            "deep.sub.spfneutral.test",
            "_dmarc.spfneutral.test",
            "inherited",
            {"DMARC-INHERITED", "DMARC-SUBDOMAIN-NONE", "DMARC-OBSOLETE-TAG"},  # sp=none, not p=none
        ),
        # the only ancestor's record is broken: discarded (RFC 9989), the walk finds nothing else
        ("child.spfnoall.test", "_dmarc.child.spfnoall.test", "missing", {"DMARC-MISSING"}),
    ],
)
def test_dmarc_comes_from_the_organizational_domain(
    domain: str, record: str, status: str, expected: set[str]
) -> None:
    d, asked = run_with_server(lambda server, cfg: _resolve_and_log(server, cfg, domain))
    [(name, _, got)] = records(d, "DMARC")
    assert (name, got) == (record, status)
    assert {c for c in codes(d) if c.startswith("DMARC")} == expected
    ancestors = [f"_dmarc.{'.'.join(domain.split('.')[-n:])}." for n in range(1, len(domain.split(".")) + 1)]
    assert set(ancestors) <= asked  # every level asked, the TLD too (a public suffix may publish psd=y)


async def _resolve_and_log(server: DnsServer, cfg: Config, domain: str) -> tuple[DomainDns, set[str]]:
    d = await resolve_domain(domain, cfg)
    return d, {name for _, name, qtype in server.queries if qtype == "TXT"}


def test_mta_sts_txt_invalid_means_no_fetch() -> None:
    d = resolve("spfnoall.test")
    assert records(d, "MTA-STS")[0][2] == "invalid"
    assert records(d, "MTA-STS-POLICY") == []
    assert "MTA-STS-TXT-INVALID" in codes(d)


def test_dkim_selectors() -> None:
    d = resolve("good.test", dkim_selectors=("sel", "old", "weak", "bad", "nosuch"))
    dkim = {name.split(".")[0]: status for name, _, status in records(d, "DKIM")}
    assert dkim == {"sel": "ok", "old": "revoked", "weak": "ok", "bad": "invalid", "nosuch": "missing"}
    found = {(f.code, f.target.split(".")[0]) for f in check_dns(d) if f.code.startswith("DKIM")}
    assert found == {
        ("DKIM-REVOKED", "old"),
        ("DKIM-WEAK-KEY", "weak"),
        ("DKIM-TESTING", "weak"),
        ("DKIM-INVALID", "bad"),
        ("DKIM-MISSING", "nosuch"),
    }


def test_dnsbl_listed_with_reason_and_error_code() -> None:
    behaviours = {k: v for k, v in BEHAVIOURS.items() if not k.startswith("26.")}
    d = run_with_server(
        lambda server, cfg: resolve_domain("good.test", cfg), behaviours=behaviours, dnsbl_zones=("bl.example",)
    )
    listed = {(r.value, r.status): r.detail for r in d.records if r.kind == "DNSBL"}
    assert listed[("198.51.100.25", "listed")] == (
        "bl.example: 127.0.0.2 — listed for testing, see https://bl.example/198.51.100.25"
    )
    assert ("198.51.100.26", "error") in listed  # 127.255.255.254: the list refused the query
    assert ("203.0.113.27", "ok") in listed
    assert ("2001:db8::25", "ok") in listed  # nibble-reversed under the list's zone: not listed
    found = {(f.code, f.target) for f in check_dns(d) if f.code.startswith("DNSBL")}
    assert found == {("DNSBL-LISTED", "198.51.100.25"), ("DNSBL-ERROR", "198.51.100.26")}


def test_authenticated_follows_the_ad_bit() -> None:
    async def body(authenticated: bool) -> DomainDns:
        async with DnsServer(ZONES, authenticated=authenticated) as server:
            cfg = Config(resolver=Resolver("127.0.0.1", server.port), limits=Limits(connect_timeout=0.4))
            return await resolve_domain("good.test", cfg)

    signed = asyncio.run(body(True))
    unsigned = asyncio.run(body(False))
    assert signed.authenticated is True and unsigned.authenticated is False
    assert "DNSSEC-UNAUTHENTICATED" in codes(unsigned) and "DNSSEC-UNAUTHENTICATED" not in codes(signed)
    assert "DANE-UNAUTHENTICATED" in codes(unsigned) and "DANE-UNAUTHENTICATED" not in codes(signed)


# --- hosts, resolver checks, speed -----------------------------------------------------------------------


def test_resolve_host_respects_address_families() -> None:
    async def body(server: DnsServer, cfg: Config) -> list[tuple[str, ...]]:
        return [
            await resolve_host("mx1.good.test", cfg),
            await resolve_host("mx1.good.test", dataclasses.replace(cfg, ipv6=False)),
            await resolve_host("mx1.good.test", dataclasses.replace(cfg, ipv4=False)),
            await resolve_host("198.51.100.7", cfg),
            await resolve_host("nothing.test", cfg),
        ]

    assert run_with_server(body) == [
        ("198.51.100.25", "2001:db8::25"),
        ("198.51.100.25",),
        ("2001:db8::25",),
        ("198.51.100.7",),
        (),
    ]


def test_check_resolver_accepts_a_dns_server() -> None:
    run_with_server(lambda server, cfg: check_resolver(cfg))  # REFUSED for "." is still DNS


def test_check_resolver_nothing_listening() -> None:
    async def main() -> None:
        async with DnsServer(ZONES) as server:
            port = server.port
        # The host's ICMP "port unreachable" is the answer: the check does not wait out its 30 s deadline.
        cfg = Config(resolver=Resolver("127.0.0.1", port), limits=Limits(connect_timeout=30))
        with pytest.raises(ResolverError, match=r"^resolver 127\.0\.0\.1:\d+: nothing listening there"):
            await asyncio.wait_for(check_resolver(cfg), 10)

    asyncio.run(main())


def test_resolver_over_ipv6_answers_and_refuses_at_once() -> None:
    """The query's socket is connected to the resolver: answers from [::1] are taken, and with the server gone
    the refusal (not the 30 s deadline) ends the check."""

    async def main() -> tuple[str, ...]:
        async with DnsServer(ZONES, host="::1") as server:
            port = server.port
            cfg = Config(resolver=Resolver("::1", port), limits=Limits(connect_timeout=30))
            await check_resolver(cfg)
            found = await resolve_host("mx1.good.test", cfg)
        with pytest.raises(ResolverError, match=r"^resolver \[::1\]:\d+: nothing listening there"):
            await asyncio.wait_for(check_resolver(cfg), 10)
        return found

    assert asyncio.run(main()) == ("198.51.100.25", "2001:db8::25")


def test_truncated_answer_and_no_tcp_is_a_server_not_nothing() -> None:
    """A server that answers over UDP (truncated) but refuses TCP is there: the answer is an error, not the
    "nothing listening" a refused UDP query means."""

    class TruncatingUdpOnly(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = cast(asyncio.DatagramTransport, transport)

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            reply = dns.message.make_response(dns.message.from_wire(data))
            reply.flags |= dns.flags.TC
            self.transport.sendto(reply.to_wire(), addr)

    async def main() -> Answer:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(TruncatingUdpOnly, local_addr=("127.0.0.1", 0))
        try:
            port = transport.get_extra_info("sockname")[1]  # no TCP listener on it: a connect is refused
            client = DnsClient(Resolver("127.0.0.1", port), timeout=5)
            return await client.query("good.test", "MX")
        finally:
            transport.close()

    answer = asyncio.run(main())
    assert answer.used_tcp and not answer.refused
    assert answer.reason.endswith("refused TCP for a truncated answer")


def test_check_resolver_silent_and_not_dns() -> None:
    with pytest.raises(ResolverError, match=r"did not answer within 0\.4s"):
        run_with_server(lambda server, cfg: check_resolver(cfg), behaviours={".": "drop"})
    with pytest.raises(ResolverError, match="not DNS"):
        run_with_server(lambda server, cfg: check_resolver(cfg), behaviours={".": "garbage"})


def test_resolver_outside_the_guard_is_refused_before_sending() -> None:
    cfg = Config(resolver=Resolver("198.18.0.53"))  # never contacted: the guard refuses first
    with pytest.raises(UnsafeTargetError):
        asyncio.run(resolve_domain("good.test", cfg))
    with pytest.raises(UnsafeTargetError):
        asyncio.run(check_resolver(cfg))


def test_lookups_run_concurrently() -> None:
    """Every answer delayed 50 ms: the whole picture costs a few delays, not one per query."""

    async def main() -> tuple[float, float, int]:
        async with DnsServer(ZONES, delay=0.05) as server:
            cfg = Config(resolver=Resolver("127.0.0.1", server.port), dkim_selectors=("sel",))
            client = DnsClient.from_config(cfg)
            d = await resolve_domain("good.test", cfg, client=client)
            return d.elapsed_ms, sum(q.elapsed_ms for q in client.log), len(client.log)

    wall, total, count = asyncio.run(main())
    assert count > 30
    assert total > 30 * 50
    # At most four dependency levels (MX -> A/AAAA -> PTR -> forward check), plus scheduling slack.
    assert wall < 8 * 50, (wall, total, count)
