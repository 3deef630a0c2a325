"""Policy and discovery records of a mail domain: SPF, DMARC, MTA-STS, TLS-RPT, SRV, DKIM.

Each lookup returns DnsRecords with a status ("ok", "missing", "invalid", "multiple", "error", ...); the
parsers are the pure modules beside this one. Everything here starts at the first level of the picture
(the names follow from the domain alone), so it runs beside the MX chain (resolve.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

import dns.rdata

from mailprobe.config import Config
from mailprobe.dns import dkim as dkim_syntax
from mailprobe.dns import dmarc as dmarc_syntax
from mailprobe.dns import mtasts
from mailprobe.dns import spf as spf_syntax
from mailprobe.dns.client import Answer, DnsClient, Outcome
from mailprobe.dns.fetch import fetch_policy, lookup_policy_host, warm_tls_context
from mailprobe.dns.names import validate_domain
from mailprobe.dns.tags import TagRecord
from mailprobe.model import DnsRecord, Service

SRV_SERVICES: tuple[tuple[str, Service], ...] = (
    ("_submission._tcp", Service.SUBMISSION),
    ("_submissions._tcp", Service.SUBMISSIONS),
    ("_imap._tcp", Service.IMAP),
    ("_imaps._tcp", Service.IMAPS),
    ("_pop3._tcp", Service.POP3),
    ("_pop3s._tcp", Service.POP3S),
)
MAX_SPF_DEPTH = 10


async def _txt_of(client: DnsClient, name: str) -> Answer:
    return await client.query(name, "TXT")


def _lookup_failed(kind: str, name: str, answer: Answer) -> list[DnsRecord] | None:
    if answer.outcome.is_negative:
        return [DnsRecord(kind, name, "", "missing", f"no {kind} record at {name}")]
    if answer.outcome is not Outcome.OK:
        return [DnsRecord(kind, name, "", "error", answer.reason or answer.outcome.value)]
    return None


async def spf(client: DnsClient, domain: str) -> list[DnsRecord]:
    answer = await _txt_of(client, domain)
    text = _single(
        "SPF", domain, answer, spf_syntax.is_spf, spf_syntax.parse_spf, "v=spf1 TXT", "SPF records: a permerror"
    )
    if isinstance(text, list):
        return text
    record = spf_syntax.parse_spf(text)
    lookups, problems, complete, voids = await _count_spf_lookups(client, domain, record)
    plural = "" if lookups == 1 else "s"
    detail = f"{'' if complete else 'at least '}{lookups} DNS lookup{plural} (limit {spf_syntax.MAX_LOOKUPS})"
    if voids:
        detail += f"; {len(voids)} void lookup{'' if len(voids) == 1 else 's'} (limit 2): {', '.join(voids)}"
    if lookups > spf_syntax.MAX_LOOKUPS:
        return [DnsRecord("SPF", domain, text, "lookup-limit", f"{detail}: a permerror")]
    if len(voids) > spf_syntax.MAX_VOID_LOOKUPS:
        return [DnsRecord("SPF", domain, text, "void-limit", f"{detail}: a permerror")]
    if problems:
        return [DnsRecord("SPF", domain, text, "include-error", f"{detail}; " + "; ".join(problems))]
    if voids:
        return [DnsRecord("SPF", domain, text, "void-lookup", detail)]
    return [DnsRecord("SPF", domain, text, "ok", detail)]


async def _count_spf_lookups(
    client: DnsClient, domain: str, record: spf_syntax.SpfRecord
) -> tuple[int, list[str], bool, list[str]]:
    """Count DNS-querying terms through include/redirect, level by level (each level one round trip), and
    the void lookups on the way (names that do not exist or have no such record).

    Counting stops once past the limit (the verdict is known); the flag says whether the count is complete.
    The a/mx/exists names of each level are asked beside the next level's TXT records (no extra round trip;
    the domain's own MX and A/AAAA are the picture's queries, asked once).
    """
    count = record.local_lookups()
    problems: list[str] = []
    voids: list[str] = []
    visited = {domain}
    level = list(record.followed_domains())
    checks = list(record.void_checks(domain))
    for _depth in range(MAX_SPF_DEPTH):
        if not level or count > spf_syntax.MAX_LOOKUPS:
            break
        for target in level:
            if target in visited:
                problems.append(f"{target} is included in a loop")
        level = [t for t in dict.fromkeys(level) if t not in visited]
        visited.update(level)
        answers, found = await asyncio.gather(
            asyncio.gather(*(_txt_of(client, target) for target in level)), _voids(client, checks)
        )
        voids.extend(found)
        checks = []
        next_level: list[str] = []
        for target, answer in zip(level, answers, strict=True):
            if answer.outcome.is_failure:
                problems.append(f"{target}: {answer.reason or answer.outcome.value}")
                continue
            if answer.outcome.is_negative:
                voids.append(f"include:{target} ({answer.outcome.value})")
            texts = spf_syntax.spf_records(answer.texts()) if answer.outcome is Outcome.OK else []
            if len(texts) != 1:
                problems.append(f"{target} has {'no' if not texts else len(texts)} SPF record(s)")
                continue
            child = spf_syntax.parse_spf(texts[0])
            if not child.valid:
                problems.append(f"{target}: {'; '.join(child.errors)}")
                continue
            count += child.local_lookups()
            next_level.extend(child.followed_domains())
            checks.extend(child.void_checks(target))
        level = next_level
    voids.extend(await _voids(client, checks))
    return count, problems, not level, voids


async def _voids(client: DnsClient, checks: list[tuple[str, str]]) -> list[str]:
    """The a/mx/exists names that find nothing. An `a` name counts only if it has neither A nor AAAA."""
    found = await asyncio.gather(*(_void(client, name, mechanism) for name, mechanism in dict.fromkeys(checks)))
    return [void for void in found if void]


async def _void(client: DnsClient, name: str, mechanism: str) -> str:
    types = {"mx": ("MX",), "a": ("A", "AAAA"), "exists": ("A",)}[mechanism]
    answers = await asyncio.gather(*(client.query(name, rdtype) for rdtype in types))
    if all(answer.outcome.is_negative for answer in answers):
        return f"{mechanism}:{name} ({answers[0].outcome.value})"
    return ""


def dmarc_candidates(domain: str) -> list[str]:
    """Where DMARC policy discovery looks, nearest first (the DNS tree walk of DMARCbis, which replaces
    RFC 7489's public-suffix list): the domain, then its ancestors from at most 7 labels down to 2, never
    the top-level domain. At most 7 names."""
    labels = domain.split(".")
    return [domain] + [".".join(labels[-count:]) for count in range(min(len(labels) - 1, 7), 1, -1)]


async def dmarc(client: DnsClient, domain: str) -> list[DnsRecord]:
    """The domain's own DMARC record or, when it has none, the nearest ancestor's (all asked at once)."""
    names = dmarc_candidates(domain)
    answers = await asyncio.gather(*(_txt_of(client, f"_dmarc.{name}") for name in names))
    own = _dmarc_at(f"_dmarc.{domain}", answers[0])
    if own[0].status != "missing":
        return own
    for ancestor, answer in zip(names[1:], answers[1:], strict=True):
        found = _dmarc_at(f"_dmarc.{ancestor}", answer)
        if found[0].status == "missing":
            continue
        if found[0].status != "ok":
            note = f"; the nearest ancestor's record ({found[0].name}) is {found[0].status}, so none applies"
            return [replace(own[0], detail=own[0].detail + note)]
        record = dmarc_syntax.parse_dmarc(found[0].value)
        detail = (
            f"no record at _dmarc.{domain}: {ancestor}'s applies to it with its subdomain policy "
            f"sp={record.subdomain_policy} pct={record.pct}"
        )
        return [replace(found[0], status="inherited", detail=detail)]
    return own


def _dmarc_at(name: str, answer: Answer) -> list[DnsRecord]:
    parse = dmarc_syntax.parse_dmarc
    text = _single("DMARC", name, answer, dmarc_syntax.is_dmarc, parse, "v=DMARC1 TXT", "DMARC records: none applies")
    if isinstance(text, list):
        return text
    record = parse(text)
    detail = f"p={record.policy} sp={record.subdomain_policy} pct={record.pct}"
    return [DnsRecord("DMARC", name, text, "ok", detail)]


async def _tagged_txt(
    client: DnsClient,
    name: str,
    kind: str,
    is_kind: Callable[[str], bool],
    parse: Callable[[str], TagRecord],
) -> list[DnsRecord]:
    """A `v=...` TXT record (MTA-STS, TLS-RPT): missing, multiple, invalid or ok."""
    answer = await _txt_of(client, name)
    text = _single(kind, name, answer, is_kind, parse, kind, "records: none applies")
    if isinstance(text, list):
        return text
    return [DnsRecord(kind, name, text, "ok")]


def _single(
    kind: str,
    name: str,
    answer: Answer,
    is_kind: Callable[[str], bool],
    parse: Callable[[str], _Parsed],
    what: str,
    several: str,
) -> list[DnsRecord] | str:
    """The one valid record of a kind among a name's TXT records, or what is wrong (failed lookup, none,
    several, invalid) as the records to report."""
    failed = _lookup_failed(kind, name, answer)
    if failed is not None:
        return failed
    texts = [t for t in answer.texts() if is_kind(t)]
    if not texts:
        return [DnsRecord(kind, name, "", "missing", f"no {what} record at {name}")]
    if len(texts) > 1:
        return [DnsRecord(kind, name, t, "multiple", f"{len(texts)} {several}") for t in texts]
    errors = parse(texts[0]).errors
    if errors:
        return [DnsRecord(kind, name, texts[0], "invalid", "; ".join(errors))]
    return texts[0]


class _Parsed(Protocol):
    @property
    def errors(self) -> tuple[str, ...]: ...


async def mta_sts(client: DnsClient, domain: str, cfg: Config, port: int) -> list[DnsRecord]:
    name = f"_mta-sts.{domain}"
    # The policy host's address is asked beside the TXT record (DNS only); nothing connects unless TXT is valid.
    txt, answers, _ = await asyncio.gather(
        _tagged_txt(client, name, "MTA-STS", mtasts.is_sts_txt, mtasts.parse_sts_txt),
        lookup_policy_host(domain, client, cfg),
        warm_tls_context(cfg),
    )
    if txt[0].status != "ok":
        return txt  # RFC 8461 3.3: no valid TXT record, no policy fetch
    fetched = await fetch_policy(domain, client, cfg, port, answers)
    if fetched.status != "ok":
        return [*txt, DnsRecord("MTA-STS-POLICY", fetched.url, "", fetched.status, fetched.detail)]
    policy = mtasts.parse_sts_policy(fetched.body)
    if not policy.valid:
        return [*txt, DnsRecord("MTA-STS-POLICY", fetched.url, fetched.body, "invalid", "; ".join(policy.errors))]
    detail = f"mode={policy.mode} max_age={policy.max_age} mx={','.join(policy.mx)}"
    if fetched.detail:
        detail += f"; {fetched.detail}"
    return [*txt, DnsRecord("MTA-STS-POLICY", fetched.url, fetched.body, "ok", detail)]


def match_sts(records: list[DnsRecord], mx_names: list[str]) -> list[DnsRecord]:
    """Every MX must match a policy mx: pattern (RFC 8461 4.1); mismatches become the policy's status."""
    out = []
    for record in records:
        if record.kind == "MTA-STS-POLICY" and record.status == "ok" and mx_names:
            policy = mtasts.parse_sts_policy(record.value)
            unmatched = policy.unmatched(mx_names)
            if unmatched:
                detail = f"{record.detail}; MX not in policy: {', '.join(unmatched)}"
                record = DnsRecord(record.kind, record.name, record.value, "mx-mismatch", detail)
        out.append(record)
    return out


async def srv(client: DnsClient, domain: str) -> list[DnsRecord]:
    names = [(f"{label}.{domain}", service) for label, service in SRV_SERVICES]
    answers = await asyncio.gather(*(client.query(name, "SRV") for name, _ in names))
    out: list[DnsRecord] = []
    for (name, service), answer in zip(names, answers, strict=True):
        if answer.outcome.is_negative:
            out.append(DnsRecord("SRV", name, "", "missing", service.value))
        elif answer.outcome is not Outcome.OK:
            out.append(DnsRecord("SRV", name, "", "error", f"{service.value}: {answer.reason}"))
        else:
            for rdata in sorted(answer.records, key=_srv_key):
                target = rdata.target.to_text()  # type: ignore[attr-defined]
                status = "unavailable" if target == "." else "ok"  # RFC 2782: "." = service not offered
                out.append(DnsRecord("SRV", name, rdata.to_text(), status, service.value))
    return out


def _srv_key(rdata: dns.rdata.Rdata) -> tuple[int, int]:
    return (int(rdata.priority), -int(rdata.weight))  # type: ignore[attr-defined]


async def dkim(client: DnsClient, domain: str, selectors: tuple[str, ...]) -> list[DnsRecord]:
    names = [f"{validate_domain(selector)}._domainkey.{domain}" for selector in selectors]
    answers = await asyncio.gather(*(_txt_of(client, name) for name in names))
    out: list[DnsRecord] = []
    for name, answer in zip(names, answers, strict=True):
        failed = _lookup_failed("DKIM", name, answer)
        if failed is not None:
            out.extend(failed)
            continue
        texts = [t for t in answer.texts() if "p=" in t]
        if not texts:
            out.append(DnsRecord("DKIM", name, "", "missing", "TXT record without a p= key"))
            continue
        key = dkim_syntax.parse_dkim(texts[0])
        status = "invalid" if not key.valid else "revoked" if key.revoked else "ok"
        detail = key.describe() if key.valid else "; ".join(key.errors)
        out.append(DnsRecord("DKIM", name, texts[0], status, detail))
    return out


async def tls_rpt(client: DnsClient, domain: str) -> list[DnsRecord]:
    return await _tagged_txt(client, f"_smtp._tls.{domain}", "TLS-RPT", mtasts.is_tlsrpt_txt, mtasts.parse_tlsrpt_txt)
