"""The DNS stage against the lab's real NSD (zones in tests/lab/zones) and nginx (MTA-STS policies in
tests/lab/www), from the client namespace. One zone per case the DNS issue lists.

Every failure comes from NSD too: SERVFAIL from expired.test, a secondary zone whose primary never answers
(labservers.nsd), no answer at all for names whose first label is "silent" (the servers' firewall drops those
queries, labnet.Lab._build_network), REFUSED outside its zones, NXDOMAIN, and truncation (big.test).
"""

from __future__ import annotations

import itertools
import json
import sys
from typing import Any

import pytest
from labnet import Lab

# Runs in the client namespace: resolve several domains concurrently, print DomainDns + findings as JSON.
RESOLVE = """
import asyncio, json, sys
from mailprobe.checks.run import judge
from mailprobe.config import Config, Limits, Resolver
from mailprobe.dns import resolve_domain
from mailprobe.model import Report, RunContext
from mailprobe.report.serialize import jsonable

args = json.loads(sys.argv[1])
cfg = Config(
    resolver=Resolver(args["resolver"]), ca_file=args["ca_file"], allow_nonpublic=True,
    dkim_selectors=tuple(args["dkim"]), dnsbl_zones=tuple(args["dnsbl"]),
    limits=Limits(connect_timeout=args["timeout"]),
)

async def main():
    results = await asyncio.gather(*(resolve_domain(d, cfg) for d in args["domains"]))
    out = {}
    for domain, d in zip(args["domains"], results):
        item = jsonable(d)
        report = Report("mx", (domain,), "", 0.0, dns=(d,), context=RunContext(allow_nonpublic=True))
        item["findings"] = jsonable(judge(report).findings)
        out[domain] = item
    print(json.dumps(out))

asyncio.run(main())
"""

DOMAINS = (
    "good.test", "nullmx.test", "nomx.test", "nomail.test", "cnamemx.test", "dangling.test", "iplit.test",
    "private.test", "nosuch.good.test", "example.invalid", "spfbroken.test", "spfmulti.test", "spflimit.test",
    "stsbad.test", "stsnocert.test", "dane-ok.test", "dane-bad.test", "big.test", "sub.good.test",
    "spfvoid.test",
)  # fmt: skip


def resolve_in_lab(
    lab: Lab, domains: tuple[str, ...], resolver: str, *, timeout: float = 3.0, dnsbl: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    args = {"domains": domains, "resolver": resolver, "ca_file": lab.ca_file, "dkim": ["mail2024"],
            "dnsbl": list(dnsbl), "timeout": timeout}  # fmt: skip
    done = lab.run_client([sys.executable, "-c", RESOLVE, json.dumps(args)], timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, dict[str, Any]] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def pictures(lab: Lab) -> dict[str, dict[str, Any]]:
    return resolve_in_lab(lab, DOMAINS, lab.dns4)


def records(d: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r for r in d["records"] if r["kind"] == kind]


def status_of(d: dict[str, Any], kind: str) -> str:
    (record,) = records(d, kind)
    return str(record["status"])


def codes(d: dict[str, Any]) -> set[str]:
    return {f["code"] for f in d["findings"]}


# --- MX outcomes ---------------------------------------------------------------------------------------


def test_good_domain_has_everything_right(pictures: dict[str, dict[str, Any]], lab: Lab) -> None:
    d = pictures["good.test"]
    assert d["status"] == "found"
    (mx,) = d["mx"]
    assert (mx["preference"], mx["name"], set(mx["addresses"])) == (10, "mx1.lab.test", {lab.mail4, lab.mail6})
    assert {tuple(p) for p in mx["ptr"]} == {(lab.mail4, "mx1.lab.test"), (lab.mail6, "mx1.lab.test")}
    assert all(confirmed for _, confirmed in mx["fcrdns"]) and len(mx["fcrdns"]) == 2
    for kind in ("SPF", "DMARC", "MTA-STS", "MTA-STS-POLICY", "TLS-RPT", "DKIM"):
        assert status_of(d, kind) == "ok", records(d, kind)
    (policy,) = records(d, "MTA-STS-POLICY")
    assert policy["name"] == "https://mta-sts.good.test/.well-known/mta-sts.txt"
    assert policy["detail"] == "mode=enforce max_age=604800 mx=mx1.lab.test,*.good.test"  # text/plain from nginx
    assert records(d, "DKIM")[0]["detail"] == "rsa 2048 bits"
    srv = {(r["name"], r["value"]) for r in records(d, "SRV") if r["status"] == "ok"}
    assert srv == {("_submission._tcp.good.test", "0 1 587 mail.lab.test."),
                   ("_imaps._tcp.good.test", "0 1 993 mail.lab.test.")}  # fmt: skip
    # The lab's addresses are documentation ranges (noted, allowed here) and NSD does not sign: nothing else.
    assert {f["severity"] for f in d["findings"]} == {"info"}, d["findings"]
    assert codes(d) == {"MX-NONPUBLIC", "DNSSEC-UNAUTHENTICATED"}


@pytest.mark.parametrize(
    ("domain", "status", "code"),
    [
        ("nullmx.test", "null", "MX-NULL"),
        ("nomail.test", "nodata", "MX-NONE"),
        ("nosuch.good.test", "nxdomain", "MX-NXDOMAIN"),
        ("example.invalid", "refused", "MX-REFUSED"),  # NSD is not authoritative for it
    ],
)
def test_domains_without_mx_hosts(pictures: dict[str, dict[str, Any]], domain: str, status: str, code: str) -> None:
    d = pictures[domain]
    assert (d["status"], d["mx"]) == (status, [])
    assert code in codes(d)


def test_no_mx_falls_back_to_the_domain_address(pictures: dict[str, dict[str, Any]], lab: Lab) -> None:
    d = pictures["nomx.test"]
    assert d["status"] == "implicit"
    assert [(m["preference"], m["name"], set(m["addresses"])) for m in d["mx"]] == [
        (0, "nomx.test", {lab.mail4, lab.mail6})
    ]
    assert "MX-IMPLICIT" in codes(d)


@pytest.mark.parametrize(
    ("domain", "host_status", "code"),
    [
        ("cnamemx.test", "cname", "MX-CNAME"),
        ("dangling.test", "dangling", "MX-DANGLING"),
        ("iplit.test", "ip-literal", "MX-IP-LITERAL"),
        ("private.test", "nonpublic", "MX-NONPUBLIC"),
    ],
)
def test_mx_target_problems(pictures: dict[str, dict[str, Any]], domain: str, host_status: str, code: str) -> None:
    (mx,) = pictures[domain]["mx"]
    assert mx["status"] == host_status
    assert code in codes(pictures[domain])


def test_target_details(pictures: dict[str, dict[str, Any]], lab: Lab) -> None:
    (cname,) = pictures["cnamemx.test"]["mx"]
    assert cname["cname_target"] == "mx1.lab.test" and set(cname["addresses"]) == {lab.mail4, lab.mail6}
    (literal,) = pictures["iplit.test"]["mx"]
    assert (literal["name"], literal["addresses"]) == ("203.0.113.25", [])  # a name, never an address
    (private,) = pictures["private.test"]["mx"]
    assert private["addresses"] == ["127.0.0.25"]
    evidence = [f["evidence"] for f in pictures["private.test"]["findings"] if f["code"] == "MX-NONPUBLIC"]
    assert evidence == ["mx.private.test -> 127.0.0.25 (loopback)"]


def test_truncated_answer_is_retried_over_tcp(pictures: dict[str, dict[str, Any]], lab: Lab) -> None:
    assert records(pictures["big.test"], "SPF")[0]["value"] == "v=spf1 mx -all"
    script = (
        "import asyncio\n"
        "from mailprobe.config import Resolver\n"
        "from mailprobe.dns.client import DnsClient\n"
        f"client = DnsClient(Resolver({lab.dns4!r}), 3.0)\n"
        "answer = asyncio.run(client.query('big.test', 'TXT'))\n"
        "print(answer.outcome.value, answer.used_tcp, len(answer.records))\n"
    )
    done = lab.run_client([sys.executable, "-c", script])
    assert done.stdout.split() == ["ok", "True", "9"], done.stderr[-2000:]


# --- policy records ------------------------------------------------------------------------------------


def test_broken_spf_and_dmarc(pictures: dict[str, dict[str, Any]]) -> None:
    broken = pictures["spfbroken.test"]
    assert (status_of(broken, "SPF"), status_of(broken, "DMARC")) == ("invalid", "invalid")
    assert {"SPF-SYNTAX", "DMARC-SYNTAX"} <= codes(broken)
    multi = pictures["spfmulti.test"]
    assert {r["status"] for r in records(multi, "SPF") + records(multi, "DMARC")} == {"multiple"}
    assert {"SPF-MULTIPLE", "DMARC-MULTIPLE"} <= codes(multi)
    limit = pictures["spflimit.test"]
    assert status_of(limit, "SPF") == "ok"  # a valid record; its evaluation goes over the limit
    assert records(limit, "SPF")[0]["detail"].startswith("at least 12 DNS lookups")
    assert records(limit, "SPF")[0]["parsed"]["lookups"] == 12
    assert {"SPF-TOO-MANY-LOOKUPS", "SPF-SOFTFAIL-ALL", "DMARC-POLICY-NONE", "DMARC-NO-RUA"} <= codes(limit)


def test_spf_void_lookups(pictures: dict[str, dict[str, Any]]) -> None:
    void = pictures["spfvoid.test"]
    [spf] = records(void, "SPF")
    voids = {(v["term"], v["outcome"]) for v in spf["parsed"]["voids"]}
    assert {"a:gone.spfvoid.test", "mx:old-relay.spfvoid.test", "exists:nothing.spfvoid.test"} <= {t for t, _ in voids}
    assert {outcome for _, outcome in voids} == {"nxdomain"}
    assert "SPF-VOID-LOOKUPS" in codes(void)
    assert status_of(pictures["good.test"], "SPF") == "ok"  # `mx` of a domain with MX is not void


# --- SPF and DMARC verdicts an expert trusts (issue 10): NSD serves each case from its own zone ------------

VERDICT_DOMAINS = ("dmarcspace.test", "dmarcupper.test", "spflabel.test", "spfport.test", "spfnoaaaa.test",
                   "spfmx11.test", "spfsilent.test")  # fmt: skip


@pytest.fixture(scope="module")
def verdicts(lab: Lab) -> dict[str, dict[str, Any]]:
    return resolve_in_lab(lab, VERDICT_DOMAINS, lab.dns4, timeout=1.5)


def findings_of(d: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [f for f in d["findings"] if f["code"] == code]


def test_dmarc_with_space_separated_tags_is_broken_not_missing(verdicts: dict[str, dict[str, Any]]) -> None:
    d = verdicts["dmarcspace.test"]
    [dmarc] = records(d, "DMARC")
    assert (dmarc["status"], dmarc["value"]) == ("invalid", "v=DMARC1 p=reject rua=mailto:dmarc@dmarcspace.test")
    [syntax] = findings_of(d, "DMARC-SYNTAX")
    assert "tags must be separated by ';'" in syntax["evidence"]
    assert not findings_of(d, "DMARC-MISSING")


def test_dmarc_v_tag_in_capitals_is_valid(verdicts: dict[str, dict[str, Any]]) -> None:
    d = verdicts["dmarcupper.test"]
    assert status_of(d, "DMARC") == "ok"
    assert not {c for c in codes(d) if c.startswith("DMARC")}  # p=reject with reports: nothing to say


@pytest.mark.parametrize(
    ("domain", "fault"),
    [
        ("spflabel.test", f"'a:{'a' * 64}.spflabel.test': bad domain: label '{'a' * 20}...' is 64 octets"),
        ("spfport.test", "'a:mx1.lab.test:8080': bad domain: top label 'test:8080'"),
    ],
)
def test_spf_domain_specs_are_validated(verdicts: dict[str, dict[str, Any]], domain: str, fault: str) -> None:
    d = verdicts[domain]
    [spf] = records(d, "SPF")
    assert spf["status"] == "invalid" and fault in spf["detail"]
    [syntax] = findings_of(d, "SPF-SYNTAX")
    assert fault in syntax["evidence"]
    assert d["status"] == "found"  # the rest of the domain's report is there


def test_spf_a_without_aaaa_is_void_for_ipv6_senders(verdicts: dict[str, dict[str, Any]]) -> None:
    d = verdicts["spfnoaaaa.test"]
    [spf] = records(d, "SPF")
    voids = {(v["query"], v["outcome"], v["ipv4"], v["ipv6"]) for v in spf["parsed"]["voids"]}
    assert voids == {(f"AAAA v4{x}.spfnoaaaa.test", "nodata", False, True) for x in "abc"}
    [limit] = findings_of(d, "SPF-VOID-LOOKUPS")
    assert limit["evidence"].startswith("void lookups for IPv6 senders (limit 2)")


def test_spf_mx_term_naming_eleven_hosts(verdicts: dict[str, dict[str, Any]]) -> None:
    d = verdicts["spfmx11.test"]
    [spf] = records(d, "SPF")
    assert spf["parsed"]["mx_over_limit"] == ["mx:many.spfmx11.test (spfmx11.test): 11 MX records"]
    assert findings_of(d, "SPF-MX-LIMIT")


def test_spf_a_term_that_never_answers_is_a_temperror(verdicts: dict[str, dict[str, Any]]) -> None:
    d = verdicts["spfsilent.test"]
    [spf] = records(d, "SPF")
    failed = {(t["term"], t["query"], t["outcome"]) for t in spf["parsed"]["temperrors"]}
    assert failed == {("a:silent.spfsilent.test", f"{q} silent.spfsilent.test", "timeout") for q in ("A", "AAAA")}
    assert findings_of(d, "SPF-TEMPERROR") and spf["status"] == "ok"


def test_dmarc_of_a_subdomain_comes_from_its_parent(pictures: dict[str, dict[str, Any]]) -> None:
    sub = pictures["sub.good.test"]
    [dmarc] = records(sub, "DMARC")
    assert (dmarc["name"], dmarc["status"]) == ("_dmarc.good.test", "inherited")
    assert "sp=reject" in dmarc["detail"]
    assert "DMARC-INHERITED" in codes(sub) and "DMARC-MISSING" not in codes(sub)


def test_mta_sts_policy_that_does_not_match_the_mx(pictures: dict[str, dict[str, Any]]) -> None:
    d = pictures["stsbad.test"]
    (policy,) = records(d, "MTA-STS-POLICY")
    assert policy["status"] == "ok" and policy["parsed"]["unmatched_mx"] == ["mx1.lab.test"]
    assert policy["detail"].endswith("MX not in policy: mx1.lab.test")
    (mismatch,) = [f for f in d["findings"] if f["code"] == "MTA-STS-MX-MISMATCH"]
    assert mismatch["severity"] == "high"  # mode enforce: senders refuse the host


def test_mta_sts_policy_without_a_certificate_for_its_name(pictures: dict[str, dict[str, Any]]) -> None:
    d = pictures["stsnocert.test"]
    (policy,) = records(d, "MTA-STS-POLICY")
    assert policy["status"] == "tls-error"  # nginx answers with web.lab.test's certificate
    assert "certificate not valid for mta-sts.stsnocert.test" in policy["detail"]
    assert "MTA-STS-FETCH-FAILED" in codes(d)


def test_tlsa_records_are_published(pictures: dict[str, dict[str, Any]], lab: Lab) -> None:
    assert lab.pki is not None
    ok = records(pictures["dane-ok.test"], "TLSA")
    assert [(r["name"], r["value"]) for r in ok] == [
        ("_25._tcp.mx.dane-ok.test", f"3 1 1 {lab.pki.certs['mx1.lab.test'].spki_sha256}")
    ]
    assert len(records(pictures["dane-bad.test"], "TLSA")) == 2


@pytest.mark.parametrize(("domain", "mismatch"), [("dane-ok.test", False), ("dane-bad.test", True)])
def test_dane_against_the_certificate_served_on_port_25(lab: Lab, domain: str, mismatch: bool) -> None:
    done = lab.mailprobe(
        "audit", domain, "--resolver", lab.dns4, "--ca-file", lab.ca_file, "--allow-nonpublic", "-4",
        "--fail-on", "never", "--json", timeout=120,
    )  # fmt: skip
    assert done.stdout, done.stderr[-3000:]
    report = json.loads(done.stdout)
    smtp = [h for h in report["handshakes"] if h["target"]["port"] == 25]
    assert smtp and smtp[0]["tls"] is not None
    found = [f for f in report["findings"] if f["code"] == "DANE-MISMATCH"]
    assert bool(found) is mismatch, found


def test_dkim_and_dnsbl(lab: Lab) -> None:
    d = resolve_in_lab(lab, ("good.test",), lab.dns4, dnsbl=("bl.test",))["good.test"]
    listed = {(r["value"], r["status"]): r["detail"] for r in records(d, "DNSBL")}
    assert listed == {
        (lab.mail4, "listed"): "bl.test: 127.0.0.2 — listed in the lab blocklist: see https://bl.test/203.0.113.25",
        (lab.mail6, "ok"): "not listed in bl.test",
    }
    assert [f["target"] for f in d["findings"] if f["code"] == "DNSBL-LISTED"] == [lab.mail4]


# --- failures: SERVFAIL and silence, both from NSD ------------------------------------------------------


def test_servfail_and_timeout_never_fall_back(lab: Lab) -> None:
    domains = ("expired.test", "silent.flaky.test", "ok.flaky.test")
    got = resolve_in_lab(lab, domains, lab.dns4, timeout=1.0)
    assert {d: got[d]["status"] for d in domains} == {
        "expired.test": "servfail",  # NSD has no data for the zone (its primary never answered)
        "silent.flaky.test": "timeout",  # NSD never sees the query: the firewall in front of it drops it
        "ok.flaky.test": "found",  # same zone, same server, another name: answered
    }
    assert "MX-SERVFAIL" in codes(got["expired.test"]) and got["expired.test"]["mx"] == []
    assert "MX-TIMEOUT" in codes(got["silent.flaky.test"]) and got["silent.flaky.test"]["mx"] == []


# --- the mx command --------------------------------------------------------------------------------------


def test_mx_command_json_and_table(lab: Lab) -> None:
    done = lab.mailprobe("mx", "good.test", "cnamemx.test", "--resolver", lab.dns4, "--json", "--fail-on", "never")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert [(d["domain"], d["status"]) for d in report["dns"]] == [("good.test", "found"), ("cnamemx.test", "found")]
    assert "MX-CNAME" in {f["code"] for f in report["findings"]}
    table = lab.mailprobe("mx", "good.test", "--resolver", lab.dns4, "--fail-on", "never")
    assert table.returncode == 0 and "mx1.lab.test" in table.stdout and "v=spf1 mx -all" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bad..domain", "--resolver", Lab.dns4), "empty label"),
        (("a" * 64 + ".test", "--resolver", Lab.dns4), "max 63"),
        (("good.test", "--resolver", "203.0.113.99", "--timeout", "1"), "did not answer"),
        (("good.test", "--resolver", f"{Lab.mail4}:25", "--timeout", "1"), "resolver 203.0.113.25:25"),
        (("good.test", "--resolver", f"{Lab.dns4}:5353", "--timeout", "1"), "resolver 203.0.113.53:5353"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(lab: Lab, args: tuple[str, ...], message: str) -> None:
    done = lab.mailprobe("mx", *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], done.stderr


# --- speed: the dependency chains run side by side --------------------------------------------------------

TIMED = """
import asyncio, json, sys, time
from mailprobe.config import Config, Resolver
from mailprobe.dns import resolve_domain
from mailprobe.dns.client import DnsClient

cfg = Config(resolver=Resolver(sys.argv[1]), dkim_selectors=("mail2024",))

async def main():
    client = DnsClient.from_config(cfg)
    await client.query(sys.argv[2], "SOA")  # warm up (neighbour caches)
    client.log.clear()
    started = time.perf_counter()
    await resolve_domain(sys.argv[2], cfg, client=client)
    sent = sorted(q.started for q in client.log)
    dns = max(q.started + q.elapsed_ms / 1000 for q in client.log) - started
    print(json.dumps({"dns": dns * 1000, "sum": sum(q.elapsed_ms for q in client.log), "queries": len(client.log),
                      "sent": [(t - started) * 1000 for t in sent]}))

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("domain", "levels"),
    [
        ("lab.test", 2),  # MX in its own zone (addresses volunteered), PTR names the MX host
        ("dane-ok.test", 3),  # + the forward check of a PTR name that is not the MX host
        ("good.test", 3),  # MX in another zone: nothing volunteered, the PTR waits for A/AAAA
    ],
)
def test_dns_picture_costs_its_dependency_levels_not_the_sum(delayed_lab: Lab, domain: str, levels: int) -> None:
    done = delayed_lab.run_client([sys.executable, "-c", TIMED, delayed_lab.dns4, domain])
    assert done.returncode == 0, done.stderr[-2000:]
    timing = json.loads(done.stdout)
    rtt = delayed_lab.rtt_ms
    # Queries go out in waves, one per dependency level: a wave starts a round trip after the one before.
    sent = timing["sent"]
    waves = 1 + sum(1 for a, b in itertools.pairwise(sent) if b - a > rtt / 2)
    assert waves == levels, timing
    assert timing["queries"] > 20 and timing["sum"] > 20 * rtt
    # The wall time itself is the bench's business (bench/dns_round_trips.py): under load it stretches, while
    # the waves (what the code controls) do not.
    assert levels * rtt <= timing["dns"], timing
