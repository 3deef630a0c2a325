"""Policy and discovery records of a mail domain: SPF, DMARC, MTA-STS, TLS-RPT, SRV, DKIM.

Each lookup returns DnsRecords with a status and the record parsed once (`DnsRecord.parsed`, from the pure
parsers in mailprobe.records). Everything here starts at the first level of the picture (the names follow
from the domain alone), so it runs beside the MX chain (resolve.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

import dns.rdata

from mailprobe.config import Config
from mailprobe.dns.client import Answer, DnsClient, Outcome
from mailprobe.dns.fetch import fetch_policy, lookup_policy_host, warm_tls_context
from mailprobe.dns.names import normal_name, validate_domain
from mailprobe.model import (
    SERVICES,
    DnsRecord,
    RecordKind,
    RecordStatus,
    Service,
    SpfEvaluation,
    SpfLookup,
    SrvTarget,
    StsFetch,
)
from mailprobe.records import dkim as dkim_syntax
from mailprobe.records import dmarc as dmarc_syntax
from mailprobe.records import mtasts
from mailprobe.records import spf as spf_syntax
from mailprobe.records.dmarc import DmarcRecord
from mailprobe.records.spf import SpfRecord
from mailprobe.records.tags import TagRecord

# RFC 6186 / RFC 8314: the services a domain may announce with SRV records, from the service registry.
SRV_SERVICES: tuple[tuple[str, Service], ...] = tuple(
    (spec.srv_label, service) for service, spec in SERVICES.items() if spec.srv_label is not None
)
MAX_SPF_DEPTH = 10
MAX_MX_NAMES = 10  # RFC 7208 4.6.4: an mx term whose MX answer names more hosts is a permerror


async def _txt_of(client: DnsClient, name: str) -> Answer:
    return await client.query(name, "TXT")


def _lookup_failed(kind: RecordKind, name: str, answer: Answer) -> list[DnsRecord] | None:
    if answer.outcome.is_negative:
        return [DnsRecord(kind, name, "", RecordStatus.MISSING, f"no {kind.value} record at {name}")]
    if answer.outcome is not Outcome.OK:
        return [DnsRecord(kind, name, "", RecordStatus.ERROR, answer.reason or answer.outcome.value)]
    return None


# --- SPF -------------------------------------------------------------------------------------------------


async def spf(client: DnsClient, domain: str) -> list[DnsRecord]:
    answer = await _txt_of(client, domain)
    found = _single(RecordKind.SPF, domain, answer, spf_syntax.spf_records, spf_syntax.parse_spf, "v=spf1 TXT")
    if isinstance(found, list):
        return found
    text, record = found
    try:
        evaluation = await evaluate_spf(client, domain, record)
    except Exception as exc:  # the judging boundary: this record gets an error result, the report goes on
        detail = f"internal error evaluating the record: {exc!r}"
        return [DnsRecord(RecordKind.SPF, domain, text, RecordStatus.ERROR, detail, record)]
    plural = "" if evaluation.lookups == 1 else "s"
    detail = (
        f"{'' if evaluation.complete else 'at least '}{evaluation.lookups} DNS lookup{plural} "
        f"(limit {spf_syntax.MAX_LOOKUPS})"
    )
    return [DnsRecord(RecordKind.SPF, domain, text, RecordStatus.OK, detail, evaluation)]


@dataclass
class _Walk:
    """What an SPF evaluation meets on its way through includes, for any sender."""

    lookups: int = 0
    voids: list[SpfLookup] = field(default_factory=list)
    temperrors: list[SpfLookup] = field(default_factory=list)
    include_errors: list[str] = field(default_factory=list)
    mx_over_limit: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Followed:
    """An include or redirect target and the chain of records that leads to it (loops are judged on it)."""

    target: str
    term: str  # "include:x.example" or "redirect=x.example", as the evidence names it
    chain: tuple[str, ...]


async def evaluate_spf(client: DnsClient, domain: str, record: SpfRecord) -> SpfEvaluation:
    """Count DNS-querying terms through include/redirect, level by level (each level one round trip), with
    the void lookups and failed lookups on the way.

    Counting stops once past the limit (the verdict is known); `complete` says whether the count is whole.
    A domain reached twice on different branches counts twice, as an evaluation reaching both would; only a
    domain that includes itself through its own chain is a loop. The a/mx/exists names of each level are
    asked beside the next level's TXT records (no extra round trip; repeated questions are asked once).
    """
    walk = _Walk(lookups=record.local_lookups())
    level = _followed(record, (domain,))
    terms = [(domain, term) for term in record.address_terms(domain)]
    for _depth in range(MAX_SPF_DEPTH):
        if not level or walk.lookups > spf_syntax.MAX_LOOKUPS:
            break
        for item in level:
            if item.target in item.chain:
                walk.include_errors.append(
                    f"{item.term} in {item.chain[-1]} loops back ({' > '.join((*item.chain, item.target))})"
                )
        level = [item for item in level if item.target not in item.chain]
        answers, _ = await asyncio.gather(
            asyncio.gather(*(_txt_of(client, item.target) for item in level)), _address_terms(client, terms, walk)
        )
        terms = []
        next_level: list[_Followed] = []
        for item, answer in zip(level, answers, strict=True):
            child = _included_record(item, answer, walk)
            if child is None:
                continue
            walk.lookups += child.local_lookups()
            next_level.extend(_followed(child, (*item.chain, item.target)))
            terms.extend((item.target, term) for term in child.address_terms(item.target))
        level = next_level
    await _address_terms(client, terms, walk)
    return SpfEvaluation(
        record=record,
        lookups=walk.lookups,
        complete=not level,
        voids=tuple(walk.voids),
        temperrors=tuple(walk.temperrors),
        include_errors=tuple(dict.fromkeys(walk.include_errors)),
        mx_over_limit=tuple(dict.fromkeys(walk.mx_over_limit)),
    )


def _followed(record: SpfRecord, chain: tuple[str, ...]) -> list[_Followed]:
    redirect = (record.redirect or "").rstrip(".").lower()
    return [
        _Followed(target, f"redirect={target}" if target == redirect else f"include:{target}", chain)
        for target in record.followed_domains()
    ]


def _included_record(item: _Followed, answer: Answer, walk: _Walk) -> SpfRecord | None:
    """The SPF record of an included (or redirect) domain, or None with the problem noted."""
    term, target = item.term, item.target
    if answer.outcome.is_failure:
        walk.temperrors.append(SpfLookup(term, target, f"TXT {target}", answer.outcome))
        return None
    if answer.outcome.is_negative:
        walk.voids.append(SpfLookup(term, target, f"TXT {target}", answer.outcome))
    texts = spf_syntax.spf_records(answer.texts()) if answer.outcome is Outcome.OK else []
    if len(texts) != 1:
        walk.include_errors.append(f"{term}: {target} has {'no' if not texts else len(texts)} SPF records")
        return None
    child = spf_syntax.parse_spf(texts[0])
    if not child.valid:
        walk.include_errors.append(f"{term}: {target}'s record has errors: {'; '.join(child.errors)}")
        return None
    return child


async def _address_terms(client: DnsClient, terms: list[tuple[str, spf_syntax.AddressTerm]], walk: _Walk) -> None:
    """Ask what the a/mx/exists terms ask: void lookups (per sender family) and failures (temperror)."""
    found = await asyncio.gather(*(_address_term(client, record, term) for record, term in dict.fromkeys(terms)))
    for voids, failures, over in found:
        walk.voids.extend(voids)
        walk.temperrors.extend(failures)
        walk.mx_over_limit.extend(over)


async def _address_term(
    client: DnsClient, record: str, term: spf_syntax.AddressTerm
) -> tuple[list[SpfLookup], list[SpfLookup], list[str]]:
    # a: A for IPv4 senders, AAAA for IPv6 senders; mx: the MX records for both; exists: A always (RFC 7208 5).
    families = {"a": (("A", True, False), ("AAAA", False, True)), "mx": (("MX", True, True),)}
    asks = families.get(term.mechanism, (("A", True, True),))
    answers = await asyncio.gather(*(client.query(term.target, rdtype) for rdtype, _, _ in asks))
    voids: list[SpfLookup] = []
    failures: list[SpfLookup] = []
    over: list[str] = []
    for (rdtype, ipv4, ipv6), answer in zip(asks, answers, strict=True):
        lookup = SpfLookup(term.text, record, f"{rdtype} {term.target}", answer.outcome, ipv4, ipv6)
        if answer.outcome.is_negative:
            voids.append(lookup)
        elif answer.outcome.is_failure:
            failures.append(lookup)
        elif rdtype == "MX" and len(answer.records) > MAX_MX_NAMES:
            over.append(f"{term.text} ({record}): {len(answer.records)} MX records")
    return voids, failures, over


# --- DMARC -----------------------------------------------------------------------------------------------


def dmarc_candidates(domain: str) -> list[str]:
    """Where DMARC policy discovery looks, nearest first (the DNS tree walk of RFC 9989, which replaces
    RFC 7489's public-suffix list): the domain, then its ancestors from at most 7 labels up to the top-level
    domain, where a public suffix may publish (psd=y). At most 8 names."""
    labels = domain.split(".")
    return [domain] + [".".join(labels[-count:]) for count in range(min(len(labels) - 1, 7), 0, -1)]


def organizational_domain(walk: list[tuple[str, DmarcRecord]]) -> str | None:
    """RFC 9989's Organizational Domain from the valid records a tree walk found (nearest first, the Author
    Domain's own excluded): the first with psd=n; else the name one label below the first with psd=y; else
    the one with the fewest labels. None when the walk found no record."""
    for position, (name, record) in enumerate(walk):
        psd = (record.tag("psd") or "u").lower()
        if psd == "n":
            return name
        if psd == "y":
            return walk[position - 1][0] if position else None  # the name below it, if the walk has one
    return walk[-1][0] if walk else None


async def dmarc(client: DnsClient, domain: str) -> list[DnsRecord]:
    """The domain's own DMARC record or, when it has none, its Organizational Domain's (all asked at once).

    Invalid ancestor records are discarded (RFC 9989: the walk goes on past them); the Organizational Domain
    is chosen by psd= tags, else as the valid record with the fewest labels."""
    names = dmarc_candidates(domain)
    answers = await asyncio.gather(*(_txt_of(client, f"_dmarc.{name}") for name in names))
    own = _dmarc_at(f"_dmarc.{domain}", answers[0])
    if own[0].status is not RecordStatus.MISSING:
        return own
    walk: list[tuple[str, DmarcRecord]] = []
    discarded: list[str] = []
    by_name: dict[str, DnsRecord] = {}
    for ancestor, answer in zip(names[1:], answers[1:], strict=True):
        found = _dmarc_at(f"_dmarc.{ancestor}", answer)[0]
        if found.status is RecordStatus.OK and isinstance(found.parsed, DmarcRecord):
            walk.append((ancestor, found.parsed))
            by_name[ancestor] = found
        elif found.status is not RecordStatus.MISSING:
            discarded.append(f"{found.name} ({found.status.value})")
    org = organizational_domain(walk)
    note = f"; discarded on the way: {', '.join(discarded)}" if discarded else ""
    if org is None or org not in by_name:
        why = f"; the Organizational Domain {org} has no record" if org else ""
        return [replace(own[0], detail=own[0].detail + why + note)]
    record = by_name[org]
    assert isinstance(record.parsed, DmarcRecord)
    detail = (
        f"no record at _dmarc.{domain}: the Organizational Domain {org}'s applies, with its subdomain policy "
        f"sp={record.parsed.subdomain_policy} (np={record.parsed.nonexistent_policy} if {domain} does not exist)"
        + note
    )
    return [replace(record, status=RecordStatus.INHERITED, detail=detail)]


def _dmarc_at(name: str, answer: Answer) -> list[DnsRecord]:
    found = _single(
        RecordKind.DMARC, name, answer, dmarc_syntax.dmarc_records, dmarc_syntax.parse_dmarc, "v=DMARC1 TXT"
    )
    if isinstance(found, list):
        return found
    text, record = found
    detail = f"p={record.policy} sp={record.subdomain_policy} np={record.nonexistent_policy}"
    if record.testing:
        detail += " t=y"
    return [DnsRecord(RecordKind.DMARC, name, text, RecordStatus.OK, detail, record)]


# --- one record of a kind ----------------------------------------------------------------------------------


P = TypeVar("P", SpfRecord, DmarcRecord, TagRecord)


def _single(
    kind: RecordKind,
    name: str,
    answer: Answer,
    select: Callable[[tuple[str, ...]], list[str]],
    parse: Callable[[str], P],
    what: str,
) -> list[DnsRecord] | tuple[str, P]:
    """The one valid record of a kind among a name's TXT records, or what is wrong (failed lookup, none,
    several, invalid) as the records to report. A parser that crashes makes its record invalid, naming the
    crash: one record's judgement never loses the rest of the report."""
    failed = _lookup_failed(kind, name, answer)
    if failed is not None:
        return failed
    texts = select(answer.texts())
    if not texts:
        return [DnsRecord(kind, name, "", RecordStatus.MISSING, f"no {what} record at {name}")]
    parsed = [_parse_safely(parse, text) for text in texts]
    if len(texts) > 1:
        return [
            DnsRecord(kind, name, t, RecordStatus.MULTIPLE, f"{len(texts)} {kind.value} records", p)
            for t, (p, _) in zip(texts, parsed, strict=True)
        ]
    record, crash = parsed[0]
    if record is None:
        return [DnsRecord(kind, name, texts[0], RecordStatus.INVALID, crash)]
    if record.errors:
        return [DnsRecord(kind, name, texts[0], RecordStatus.INVALID, "; ".join(record.errors), record)]
    return texts[0], record


def _parse_safely(parse: Callable[[str], P], text: str) -> tuple[P | None, str]:
    try:
        return parse(text), ""
    except Exception as exc:  # the judging boundary for one record
        return None, f"internal error parsing the record: {exc!r}"


def _kind_filter(is_kind: Callable[[str], bool]) -> Callable[[tuple[str, ...]], list[str]]:
    return lambda texts: [t for t in texts if is_kind(t)]


async def _tagged_txt(
    client: DnsClient, name: str, kind: RecordKind, is_kind: Callable[[str], bool], parse: Callable[[str], TagRecord]
) -> list[DnsRecord]:
    """A `v=...` TXT record (MTA-STS, TLS-RPT): missing, multiple, invalid or ok."""
    answer = await _txt_of(client, name)
    found = _single(kind, name, answer, _kind_filter(is_kind), parse, kind.value)
    if isinstance(found, list):
        return found
    text, record = found
    return [DnsRecord(kind, name, text, RecordStatus.OK, "", record)]


# --- MTA-STS, TLS-RPT -------------------------------------------------------------------------------------


async def mta_sts(client: DnsClient, domain: str, cfg: Config, port: int) -> list[DnsRecord]:
    name = f"_mta-sts.{domain}"
    # The policy host's address is asked beside the TXT record (DNS only); nothing connects unless TXT is valid.
    txt, answers, _ = await asyncio.gather(
        _tagged_txt(client, name, RecordKind.MTA_STS, mtasts.is_sts_txt, mtasts.parse_sts_txt),
        lookup_policy_host(domain, client, cfg),
        warm_tls_context(cfg),
    )
    if txt[0].status is not RecordStatus.OK:
        return txt  # RFC 8461 3.3: no valid TXT record, no policy fetch
    fetched = await fetch_policy(domain, client, cfg, port, answers)
    if fetched.status is not RecordStatus.OK:
        return [*txt, DnsRecord(RecordKind.MTA_STS_POLICY, fetched.url, "", fetched.status, fetched.detail)]
    try:
        policy = mtasts.parse_sts_policy(fetched.body)
    except Exception as exc:  # the judging boundary for one record: never the whole domain's picture
        crash = f"internal error parsing the policy: {exc!r}"
        return [*txt, DnsRecord(RecordKind.MTA_STS_POLICY, fetched.url, fetched.body, RecordStatus.INVALID, crash)]
    parsed = StsFetch(policy, fetched.url, fetched.address)
    if not policy.valid:
        status, detail = RecordStatus.INVALID, "; ".join(policy.errors)
    else:
        status, detail = RecordStatus.OK, f"mode={policy.mode} max_age={policy.max_age} mx={','.join(policy.mx)}"
        if fetched.detail:
            detail += f"; {fetched.detail}"
    return [*txt, DnsRecord(RecordKind.MTA_STS_POLICY, fetched.url, fetched.body, status, detail, parsed)]


def match_sts(records: list[DnsRecord], mx_names: list[str]) -> list[DnsRecord]:
    """Every MX must match a policy mx: pattern (RFC 8461 4.1): the MX hosts none covers go into the fetch."""
    out = []
    for record in records:
        fetched = record.parsed
        # mode none retires the policy (RFC 8461 8.3): senders apply nothing, so no MX needs to be covered
        retired = isinstance(fetched, StsFetch) and fetched.policy.mode == "none"
        if isinstance(fetched, StsFetch) and record.status is RecordStatus.OK and mx_names and not retired:
            unmatched = tuple(fetched.policy.unmatched(mx_names))
            if unmatched:
                detail = f"{record.detail}; MX not in policy: {', '.join(unmatched)}"
                record = replace(record, detail=detail, parsed=replace(fetched, unmatched_mx=unmatched))
        out.append(record)
    return out


async def tls_rpt(client: DnsClient, domain: str) -> list[DnsRecord]:
    return await _tagged_txt(
        client, f"_smtp._tls.{domain}", RecordKind.TLS_RPT, mtasts.is_tlsrpt_txt, mtasts.parse_tlsrpt_txt
    )


# --- SRV, DKIM --------------------------------------------------------------------------------------------


async def srv(client: DnsClient, domain: str) -> list[DnsRecord]:
    names = [(f"{label}.{domain}", service) for label, service in SRV_SERVICES]
    answers = await asyncio.gather(*(client.query(name, "SRV") for name, _ in names))
    out: list[DnsRecord] = []
    for (name, service), answer in zip(names, answers, strict=True):
        if answer.outcome.is_negative:
            out.append(DnsRecord(RecordKind.SRV, name, "", RecordStatus.MISSING, service.value))
        elif answer.outcome is not Outcome.OK:
            out.append(DnsRecord(RecordKind.SRV, name, "", RecordStatus.ERROR, f"{service.value}: {answer.reason}"))
        else:
            for rdata in sorted(answer.records, key=_srv_key):
                target = _srv_target(rdata, service)
                # RFC 2782: a target of "." says the service is not offered at this domain.
                status = RecordStatus.UNAVAILABLE if not target.target else RecordStatus.OK
                text = rdata.to_text()
                out.append(DnsRecord(RecordKind.SRV, name, text, status, service.value, target, answer.authenticated))
    return out


def _srv_target(rdata: dns.rdata.Rdata, service: Service) -> SrvTarget:
    return SrvTarget(
        priority=int(rdata.priority),  # type: ignore[attr-defined]
        weight=int(rdata.weight),  # type: ignore[attr-defined]
        port=int(rdata.port),  # type: ignore[attr-defined]
        target=normal_name(rdata.target.to_text()),  # type: ignore[attr-defined]
        service=service,
    )


def _srv_key(rdata: dns.rdata.Rdata) -> tuple[int, int]:
    return (int(rdata.priority), -int(rdata.weight))  # type: ignore[attr-defined]


async def dkim(client: DnsClient, domain: str, selectors: tuple[str, ...]) -> list[DnsRecord]:
    names = [f"{validate_domain(selector)}._domainkey.{domain}" for selector in selectors]
    answers = await asyncio.gather(*(_txt_of(client, name) for name in names))
    out: list[DnsRecord] = []
    for name, answer in zip(names, answers, strict=True):
        failed = _lookup_failed(RecordKind.DKIM, name, answer)
        if failed is not None:
            out.extend(failed)
            continue
        texts = [t for t in answer.texts() if "p=" in t]
        if not texts:
            out.append(DnsRecord(RecordKind.DKIM, name, "", RecordStatus.MISSING, "TXT record without a p= key"))
            continue
        key = dkim_syntax.parse_dkim(texts[0])
        status = RecordStatus.INVALID if not key.valid else RecordStatus.REVOKED if key.revoked else RecordStatus.OK
        detail = key.describe() if key.valid else "; ".join(key.errors)
        out.append(DnsRecord(RecordKind.DKIM, name, texts[0], status, detail, key))
    return out
