"""SPF evaluation and DMARC records through the DNS stage, against the in-process DNS server: the cases of
issue 10 ("Verdicts an expert trusts"), each from DNS answer to finding."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import dns.zone
import pytest
from judging import findings

from mailprobe.config import Config, Limits, Resolver
from mailprobe.demo.dns_server import DnsServer
from mailprobe.dns import resolve_domain
from mailprobe.dns.client import Answer, Outcome
from mailprobe.dns.policy import _single
from mailprobe.model import (
    DnsOutcome,
    DomainDns,
    Finding,
    MxStatus,
    RecordKind,
    RecordStatus,
    Severity,
    SpfEvaluation,
)

LONG_LABEL = "a" * 64
MX_HOSTS = "\n".join(f"mx11 MX {n} h{n}.mx11.test." for n in range(11))

ZONE = f"""$ORIGIN test.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 127.0.0.1
host A 198.51.100.25
host AAAA 2001:db8::25
v4only A 198.51.100.26
v4only2 A 198.51.100.27
v4only3 A 198.51.100.28

; SPF
longlabel TXT "v=spf1 a:{LONG_LABEL}.example.com -all"
port TXT "v=spf1 a:example.com:8080 -all"
badtop TXT "v=spf1 a:example.-com -all"
ctrl TXT "v=spf1 a:host.test.\\013ptr -all"
noaaaa TXT "v=spf1 a:v4only.test -all"
noaaaa3 TXT "v=spf1 a:v4only.test a:v4only2.test a:v4only3.test -all"
{MX_HOSTS}
mx11 TXT "v=spf1 mx -all"
mx10 TXT "v=spf1 mx:mx11.test -all"
tempa TXT "v=spf1 a:slow.test -all"
tempmx TXT "v=spf1 mx:broken.test exists:slow.test -all"
diamond TXT "v=spf1 include:left.diamond.test include:right.diamond.test -all"
left.diamond TXT "v=spf1 include:shared.diamond.test -all"
right.diamond TXT "v=spf1 include:shared.diamond.test -all"
shared.diamond TXT "v=spf1 ip4:198.51.100.0/24 -all"
selfloop TXT "v=spf1 ip4:198.51.100.1 redirect=selfloop.test"

; DMARC
_dmarc.spaces TXT "v=DMARC1 p=reject rua=mailto:d@spaces.test"
_dmarc.upperv TXT "V=DMARC1; p=reject; rua=mailto:d@upperv.test"
_dmarc.leading TXT " v=DMARC1; p=reject; rua=mailto:d@leading.test"
_dmarc.lowerversion TXT "v=dmarc1; p=reject"
_dmarc.nop TXT "v=DMARC1; rua=mailto:d@nop.test"
_dmarc.badp TXT "v=DMARC1; p=rejct; rua=mailto:d@badp.test"
_dmarc.badpnorua TXT "v=DMARC1; p=rejct"
_dmarc.badadkim TXT "v=DMARC1; p=reject; adkim=x; rua=mailto:d@badadkim.test"
_dmarc.removed TXT "v=DMARC1; p=quarantine; pct=50; rf=afrf; ri=3600; rua=mailto:d@removed.test"
_dmarc.testmode TXT "v=DMARC1; p=reject; t=y; rua=mailto:d@testmode.test"
_dmarc.np TXT "v=DMARC1; p=reject; np=none; rua=mailto:d@np.test"
exists.np A 198.51.100.30
"""
BEHAVIOURS = {"slow.test": "drop", "broken.test/MX": "servfail"}


def resolve(domain: str, behaviours: Mapping[str, str] = BEHAVIOURS) -> DomainDns:
    async def main() -> DomainDns:
        zone = dns.zone.from_text(ZONE, relativize=False, check_origin=False)
        async with DnsServer([zone], behaviours=behaviours) as server:
            cfg = Config(resolver=Resolver("127.0.0.1", server.port), limits=Limits(connect_timeout=0.5))
            return await resolve_domain(domain, cfg)

    return asyncio.run(main())


def judged(d: DomainDns, prefix: str) -> list[Finding]:
    return [f for f in findings(dns=(d,)) if f.code.startswith(prefix)]


def record(d: DomainDns, kind: RecordKind) -> tuple[RecordStatus, str]:
    [found] = d.records_of(kind)
    return found.status, found.detail


def evaluation(d: DomainDns) -> SpfEvaluation:
    [found] = d.records_of(RecordKind.SPF)
    assert isinstance(found.parsed, SpfEvaluation), found
    return found.parsed


# --- SPF -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "fault"),
    [
        # a 64-octet label once crashed the whole domain's report (LabelTooLong): now the record is invalid
        ("longlabel.test", f"'a:{LONG_LABEL}.example.com': bad domain: label 'aaaaaaaaaaaaaaaaaaaa...' is 64 octets"),
        ("port.test", "'a:example.com:8080': bad domain: top label 'com:8080'"),
        ("badtop.test", "'a:example.-com': bad domain: top label '-com'"),
        ("ctrl.test", "'a:host.test.\\x0dptr': control character \\x0d (only spaces separate terms)"),
    ],
)
def test_spf_syntax_errors_are_invalid_records_naming_the_fault(domain: str, fault: str) -> None:
    d = resolve(domain)
    status, detail = record(d, RecordKind.SPF)
    assert status is RecordStatus.INVALID and fault in detail
    [syntax] = judged(d, "SPF")
    assert syntax.code == "SPF-SYNTAX" and fault in syntax.evidence


def test_an_a_term_without_aaaa_is_void_for_ipv6_senders_only() -> None:
    one = resolve("noaaaa.test")
    [void] = evaluation(one).voids
    assert (void.query, void.outcome, void.ipv4, void.ipv6) == ("AAAA v4only.test", DnsOutcome.NODATA, False, True)
    assert [f.code for f in judged(one, "SPF")] == ["SPF-VOID-LOOKUP"]
    three = resolve("noaaaa3.test")
    e = evaluation(three)
    assert (e.void_count(ipv6=False), e.void_count(ipv6=True)) == (0, 3)
    [limit] = [f for f in judged(three, "SPF") if f.code == "SPF-VOID-LOOKUPS"]
    assert limit.evidence.startswith("void lookups for IPv6 senders (limit 2)")


def test_an_mx_term_naming_more_than_ten_hosts_is_a_permerror() -> None:
    for domain, term in (("mx11.test", "mx (mx11.test)"), ("mx10.test", "mx:mx11.test (mx10.test)")):
        d = resolve(domain)
        assert evaluation(d).mx_over_limit == (f"{term}: 11 MX records",)
        assert "SPF-MX-LIMIT" in {f.code for f in judged(d, "SPF")}


def test_a_failed_lookup_under_a_term_is_a_temperror() -> None:
    a = resolve("tempa.test")
    assert {(t.term, t.query, t.outcome) for t in evaluation(a).temperrors} == {
        ("a:slow.test", "A slow.test", DnsOutcome.TIMEOUT),
        ("a:slow.test", "AAAA slow.test", DnsOutcome.TIMEOUT),
    }
    mx = resolve("tempmx.test")
    assert {(t.term, t.outcome) for t in evaluation(mx).temperrors} == {
        ("mx:broken.test", DnsOutcome.SERVFAIL),
        ("exists:slow.test", DnsOutcome.TIMEOUT),
    }
    for d in (a, mx):
        assert [f.code for f in judged(d, "SPF")] == ["SPF-TEMPERROR"]


def test_a_domain_included_twice_is_no_loop_but_a_record_redirecting_to_itself_is() -> None:
    diamond = resolve("diamond.test")
    e = evaluation(diamond)
    assert e.include_errors == () and e.lookups == 4  # the shared record is counted on each branch
    loop = resolve("selfloop.test")
    assert evaluation(loop).include_errors == (
        "redirect=selfloop.test in selfloop.test loops back (selfloop.test > selfloop.test)",
    )
    assert "SPF-INCLUDE-ERROR" in {f.code for f in judged(loop, "SPF")}


def test_a_parser_that_crashes_makes_its_record_invalid_never_the_report() -> None:
    def crashing(text: str) -> object:
        raise ValueError(f"cannot parse {text}")

    answer = Answer("x.test", "TXT", Outcome.OK, records=())
    texts = lambda _: ["v=spf1 -all"]  # noqa: E731 - the selection step, as the DNS stage passes it
    [found] = _single(RecordKind.SPF, "x.test", answer, texts, crashing, "v=spf1 TXT")  # type: ignore[arg-type]
    assert (found.status, found.value) == (RecordStatus.INVALID, "v=spf1 -all")
    assert found.detail == "internal error parsing the record: ValueError('cannot parse v=spf1 -all')"
    picture = DomainDns("x.test", MxStatus.FOUND, "", 0.0, records=(found,))
    assert [f.code for f in judged(picture, "SPF")] == ["SPF-SYNTAX"]


# --- DMARC -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "fault"),
    [
        ("spaces.test", "tags must be separated by ';'"),  # once reported as DMARC-MISSING
        ("leading.test", "the record starts with whitespace"),
        ("lowerversion.test", "the version is DMARC1 in capitals"),
        ("badpnorua.test", "p=rejct: must be none, quarantine or reject; with no valid rua= URI"),
    ],
)
def test_dmarc_records_that_exist_but_are_broken_are_invalid_not_missing(domain: str, fault: str) -> None:
    d = resolve(domain)
    status, detail = record(d, RecordKind.DMARC)
    assert status is RecordStatus.INVALID and fault in detail
    assert [(f.code, fault in f.evidence) for f in judged(d, "DMARC")] == [("DMARC-SYNTAX", True)]


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("upperv.test", set()),  # V=DMARC1 is valid: the v tag's name is case-insensitive
        ("nop.test", {("DMARC-NO-POLICY", Severity.LOW)}),
        ("badp.test", {("DMARC-INVALID-TAG", Severity.MEDIUM)}),
        ("badadkim.test", {("DMARC-INVALID-TAG", Severity.LOW)}),
        ("removed.test", {("DMARC-OBSOLETE-TAG", Severity.LOW), ("DMARC-OBSOLETE-TAG", Severity.INFO)}),
        ("testmode.test", {("DMARC-TESTING", Severity.LOW)}),
        ("np.test", {("DMARC-SUBDOMAIN-NONE", Severity.LOW)}),
    ],
)
def test_dmarc_records_that_apply(domain: str, expected: set[tuple[str, Severity]]) -> None:
    d = resolve(domain)
    assert record(d, RecordKind.DMARC)[0] is RecordStatus.OK
    assert {(f.code, f.severity) for f in judged(d, "DMARC")} == expected


def test_dmarc_evidence_says_what_receivers_do() -> None:
    [badp] = judged(resolve("badp.test"), "DMARC")
    assert badp.evidence == (
        "p=rejct: must be none, quarantine or reject; rua= has a valid URI, so receivers act as if the record "
        "said p=none (RFC 9989 4.10.1)"
    )
    [adkim] = judged(resolve("badadkim.test"), "DMARC")
    assert adkim.evidence == "adkim=x: must be r or s; receivers use the default adkim=r: the record still applies"
    [testing] = judged(resolve("testmode.test"), "DMARC")
    assert testing.evidence.startswith("t=y: receivers apply quarantine instead of reject")
    removed = {f.evidence: f.severity for f in judged(resolve("removed.test"), "DMARC")}
    assert removed == {"pct=50": Severity.LOW, "rf=afrf": Severity.INFO, "ri=3600": Severity.INFO}


def test_np_is_the_policy_of_a_subdomain_that_does_not_exist() -> None:
    gone = resolve("gone.np.test")  # NXDOMAIN: np=none applies
    assert record(gone, RecordKind.DMARC)[0] is RecordStatus.INHERITED
    assert {f.code for f in judged(gone, "DMARC")} == {"DMARC-INHERITED", "DMARC-SUBDOMAIN-NONE"}
    [weak] = [f for f in judged(gone, "DMARC") if f.code == "DMARC-SUBDOMAIN-NONE"]
    assert weak.evidence.startswith("np=none of the parent domain's record applies")  # its p= is not none
    there = resolve("exists.np.test")  # exists: sp (here p=reject) applies
    assert {f.code for f in judged(there, "DMARC")} == {"DMARC-INHERITED"}
