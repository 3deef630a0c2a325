"""mailprobe's SPF verdicts against the RFC 7208 test suite (rfc7208-tests.yml, release 2014.04 with the
2019.08 syntax additions, as published with pyspf; BSD licence in rfc7208/rfc7208-tests.LICENSE).

Each scenario's zone data is served by the in-process DNS server (mailprobe.demo.dns_server), following the
suite's conventions: an `SPF:` record is also published as TXT unless the name lists TXT records of its own
(`TXT: NONE` lists none), and a bare `TIMEOUT` entry makes every query type not answered before it go
unanswered. mailprobe only ever asks for TXT (RFC 7208 3.1). Each test's identity is the MAIL FROM domain, or
the HELO name when MAIL FROM is empty; the DNS stage resolves that domain's SPF and the checks judge it.

mailprobe judges a domain for every sender, never for one client address, so each suite test is asserted as
follows (the rule, not a list of names, decides):

- verdict tests: the expected result is none, permerror or temperror (all acceptable results among those).
  mailprobe must report it: none as SPF-MISSING; permerror as a cause that makes SPF a permerror (SPF-SYNTAX,
  SPF-MULTIPLE, SPF-INCLUDE-ERROR, SPF-TOO-MANY-LOOKUPS, SPF-VOID-LOOKUPS, SPF-MX-LIMIT); temperror as
  SPF-LOOKUP-FAILED or SPF-TEMPERROR.
- no-false-alarm tests: every other expected result (pass, fail, softfail, neutral: a result for one client).
  mailprobe must not claim a result for every sender that contradicts it: SPF-MISSING (none), SPF-SYNTAX or
  SPF-MULTIPLE (permerror) or SPF-LOOKUP-FAILED (temperror) only where the suite accepts that result.
  The no-false-alarm assertion applies to verdict tests too.

Skipped, by rule:
- IDENTITY: the identity is not a domain mailprobe can be asked about (an address literal, an empty or
  over-long label, a single label): those results come from checking the sender's identity (RFC 7208 4.3),
  which a domain audit does not do.
- SENDER-MACRO (verdict assertion only): a record the identity reaches through include/redirect names holds a
  macro of sender data (%{s}, %{l}, %{o}, %{i}, %{p}, %{h}, %{v}): the result may come from expanding the
  sender's local part, address or HELO name, which mailprobe does not have. The no-false-alarm assertion
  still runs.

Omitted from the served zones: a TXT record with no strings (the suite's `SPF: [ ]`), which no DNS message
can carry; it is not an SPF record, so no expected result depends on it.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.zone
import pytest
import yaml
from judging import findings

from mailprobe.config import Resolver
from mailprobe.demo.dns_server import DnsServer
from mailprobe.dns import policy
from mailprobe.dns.client import DnsClient
from mailprobe.dns.names import validate_domain
from mailprobe.errors import UsageError
from mailprobe.model import DomainDns, MxStatus

SUITE = Path(__file__).parent / "rfc7208" / "rfc7208-tests.yml"
SCENARIOS: list[dict[str, Any]] = list(yaml.safe_load_all(SUITE.read_text(encoding="utf-8")))
ERRORS = {"none", "permerror", "temperror"}
EVERY_SENDER = {"SPF-MISSING": "none", "SPF-SYNTAX": "permerror", "SPF-MULTIPLE": "permerror",
                "SPF-LOOKUP-FAILED": "temperror"}  # fmt: skip
CAUSES = {
    "none": {"SPF-MISSING"},
    "permerror": {"SPF-SYNTAX", "SPF-MULTIPLE", "SPF-INCLUDE-ERROR", "SPF-TOO-MANY-LOOKUPS", "SPF-VOID-LOOKUPS",
                  "SPF-MX-LIMIT"},
    "temperror": {"SPF-LOOKUP-FAILED", "SPF-TEMPERROR"},
}  # fmt: skip
ASKED_TYPES = ("TXT", "A", "AAAA", "MX", "PTR")
TIMEOUT = 1.0  # seconds: only the names the suite makes time out wait this long
# Macro letters that expand data of the message or the client (RFC 7208 7.3): s, l, o, i, p, h, v. Not d (the
# domain being checked), nor c, r, t (explanation text only: in a record they are a syntax error).
_SENDER_MACRO = re.compile(r"%\{[slopihvSLOPIHV]")
_FOLLOWED = re.compile(r"^(?:[-+~?]?include:|redirect=)([^%\s]+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Case:
    scenario: int
    name: str
    identity: str  # the MAIL FROM domain, or the HELO name
    domain: str  # the identity as a domain ("" when it is not one)
    expected: frozenset[str]
    skip: str  # IDENTITY, or ""
    sender_macro: bool  # SENDER-MACRO: the verdict assertion does not apply


def _zone_entries(scenario: dict[str, Any]) -> dict[str, list[Any]]:
    return {name.lower().rstrip("."): entries for name, entries in scenario["zonedata"].items()}


def _published(entries: list[Any]) -> tuple[list[tuple[str, Any]], set[str]]:
    """The records a name publishes, and the query types that time out (the suite's TIMEOUT convention)."""
    records: list[tuple[str, Any]] = []
    generated: list[tuple[str, Any]] = []
    own_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
    answered: set[str] = set()
    timeouts: set[str] = set()
    for entry in entries:
        if entry == "TIMEOUT":
            timeouts = {t for t in ASKED_TYPES if t not in answered}
            continue
        ((rdtype, value),) = entry.items()
        if rdtype == "SPF":
            if not own_txt:
                generated.append(("TXT", value))  # published after everything listed, as the suite's drivers do
            continue
        if value != "NONE":
            records.append((rdtype, value))
            answered.add(rdtype)
    return records + generated, timeouts


def _spf_texts(entries: list[Any]) -> list[str]:
    records, _ = _published(entries)
    return ["".join(v) if isinstance(v, list) else str(v) for t, v in records if t == "TXT"]


def _reaches_sender_macro(zone: dict[str, list[Any]], domain: str) -> bool:
    """Whether a record the domain reaches through include/redirect holds a macro of sender data."""
    seen: set[str] = set()
    todo = [domain]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in _spf_texts(zone.get(name, [])):
            if _SENDER_MACRO.search(text):
                return True
            todo.extend(m.group(1).lower().rstrip(".") for m in map(_FOLLOWED.match, text.split(" ")) if m)
    return False


def _identity(test: dict[str, Any]) -> str:
    mailfrom = str(test.get("mailfrom") or "")
    return mailfrom.rsplit("@", 1)[1] if mailfrom else str(test.get("helo", ""))


def _cases() -> list[Case]:
    cases = []
    for index, scenario in enumerate(SCENARIOS):
        zone = _zone_entries(scenario)
        for name, test in scenario["tests"].items():
            result = test["result"]
            expected = frozenset(result if isinstance(result, list) else [result])
            identity = _identity(test)
            try:
                domain = validate_domain(identity)
            except UsageError:
                cases.append(Case(index, name, identity, "", expected, "IDENTITY", False))
                continue
            cases.append(Case(index, name, identity, domain, expected, "", _reaches_sender_macro(zone, domain)))
    return cases


CASES = _cases()


def _rdata(rdtype: str, value: Any) -> dns.rdata.Rdata:
    if rdtype == "TXT":
        joined = "".join(value) if isinstance(value, list) else str(value)
        data = joined.encode("utf-8")
        strings = [data[i : i + 255] for i in range(0, len(data), 255)]
        return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings)
    text = f"{value[0]} {value[1]}" if rdtype == "MX" else str(value)
    if rdtype in ("MX", "PTR", "CNAME") and not text.endswith("."):
        text += "."
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, text)


def _served(scenario: dict[str, Any]) -> tuple[dns.zone.Zone, dict[str, str]]:
    """The scenario as one root zone (every name authoritative: NXDOMAIN where the suite has nothing)."""
    zone = dns.zone.Zone(dns.name.root, relativize=False)
    apex = zone.find_node(dns.name.root, create=True)
    apex.find_rdataset(dns.rdataclass.IN, dns.rdatatype.SOA, create=True).add(
        dns.rdata.from_text("IN", "SOA", "ns.test. hostmaster.test. 1 3600 600 86400 300"), 300
    )
    apex.find_rdataset(dns.rdataclass.IN, dns.rdatatype.NS, create=True).add(
        dns.rdata.from_text("IN", "NS", "ns.test."), 300
    )
    behaviours: dict[str, str] = {}
    for name, entries in _zone_entries(scenario).items():
        owner = dns.name.from_text(name)
        records, timeouts = _published(entries)
        for rdtype, value in records:
            if rdtype == "TXT" and value == []:
                continue  # no DNS message can carry a TXT record without strings (see the module docstring)
            rdata = _rdata(rdtype, value)
            zone.find_node(owner, create=True).find_rdataset(dns.rdataclass.IN, rdata.rdtype, create=True).add(
                rdata, 300
            )
        behaviours.update({f"{owner.to_text()}/{rdtype}": "drop" for rdtype in timeouts})
    return zone, behaviours


async def _judge_scenario(index: int, domains: set[str]) -> dict[str, set[str]]:
    zone, behaviours = _served(SCENARIOS[index])
    async with DnsServer([zone], behaviours=behaviours) as server:
        client = DnsClient(Resolver("127.0.0.1", server.port), TIMEOUT)
        found = await asyncio.gather(*(policy.spf(client, domain) for domain in sorted(domains)))
    out = {}
    for domain, records in zip(sorted(domains), found, strict=True):
        picture = DomainDns(domain, MxStatus.FOUND, "", 0.0, records=tuple(records))
        out[domain] = {f.code for f in findings(dns=(picture,)) if f.code.startswith("SPF")}
    return out


@pytest.fixture(scope="module")
def verdicts() -> dict[tuple[int, str], set[str]]:
    async def main() -> dict[tuple[int, str], set[str]]:
        per_scenario: dict[int, set[str]] = {}
        for case in CASES:
            if case.domain:
                per_scenario.setdefault(case.scenario, set()).add(case.domain)
        out = {}
        for index, domains in per_scenario.items():  # one server at a time: the machine is shared
            judged = await _judge_scenario(index, domains)
            out.update({(index, domain): codes for domain, codes in judged.items()})
        return out

    return asyncio.run(main())


def _param(case: Case) -> Any:
    return pytest.param(case, id=f"{case.scenario}-{case.name}")


# Cases whose sender identity is not a domain (RFC 7208 4.3) are not collected at all: a domain audit never
# checks a sender, so they have nothing to say here (test_what_the_suite_covers counts them). Not skips: CI
# treats a skip as something that should have run.
@pytest.mark.parametrize("case", [_param(c) for c in CASES if not c.skip])
def test_no_false_alarm(case: Case, verdicts: dict[tuple[int, str], set[str]]) -> None:
    codes = verdicts[(case.scenario, case.domain)]
    claimed = {EVERY_SENDER[c] for c in codes if c in EVERY_SENDER}
    assert claimed <= case.expected, (case, codes)


VERDICT_CASES = [c for c in CASES if c.expected <= ERRORS]


@pytest.mark.parametrize(
    "case",
    [_param(c) for c in VERDICT_CASES if not c.skip and not c.sender_macro],
)
def test_verdict(case: Case, verdicts: dict[tuple[int, str], set[str]]) -> None:
    codes = verdicts[(case.scenario, case.domain)]
    assert any(codes & CAUSES[result] for result in case.expected), (case, codes)


def test_what_the_suite_covers() -> None:
    """The counts the issue report gives; a change in the data or the rules shows here first."""
    skipped_identity = sum(1 for c in CASES if c.skip == "IDENTITY")
    verdicts = [c for c in VERDICT_CASES if not c.skip]
    sender_macro = sum(1 for c in verdicts if c.sender_macro)
    assert (len(CASES), skipped_identity) == (203, 4)
    assert (len(verdicts), sender_macro) == (83, 0)
