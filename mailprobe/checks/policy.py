"""Checks of a domain's published policies: SPF, DMARC, MTA-STS, TLS-RPT, DKIM keys and TLSA records.

Each reads the record the DNS stage parsed once (`DnsRecord.parsed`); nothing here parses record text.
"""

from __future__ import annotations

from collections.abc import Iterator

from mailprobe.checks.catalogue import finding
from mailprobe.checks.defs import policy as p
from mailprobe.checks.framework import Check
from mailprobe.checks.mx import domain_label, domains, existing_domains, record_label
from mailprobe.model import (
    Category,
    DnsRecord,
    DomainDns,
    Finding,
    MxStatus,
    RecordKind,
    RecordStatus,
    Report,
    Severity,
    SpfEvaluation,
    SpfLookup,
    StsFetch,
)
from mailprobe.records.dkim import DkimKey
from mailprobe.records.dmarc import POLICY_TAGS, DmarcRecord
from mailprobe.records.spf import MAX_LOOKUPS, MAX_VOID_LOOKUPS, SpfRecord
from mailprobe.records.tlsa import Tlsa

SHORT_STS_MAX_AGE = 86_400  # RFC 8461 recommends weeks; under a day caching barely helps


def _value(record: DnsRecord) -> str:
    return f"{record.value} — {record.detail}" if record.value else record.detail


# --- SPF -------------------------------------------------------------------------------------------------


def _spf(report: Report, domain: DomainDns) -> Iterator[Finding]:
    records = domain.records_of(RecordKind.SPF)
    if not records:
        return
    first = records[0]
    where = first.name
    if first.status is RecordStatus.MISSING:
        yield finding(p.SPF_MISSING, where, first.detail)
    elif first.status is RecordStatus.MULTIPLE:
        yield finding(p.SPF_MULTIPLE, where, " | ".join(r.value for r in records))
    elif first.status is RecordStatus.INVALID:
        yield finding(p.SPF_SYNTAX, where, _value(first))
    elif first.status is RecordStatus.ERROR:
        yield finding(p.SPF_ERROR, where, first.detail)
    evaluation = first.parsed if isinstance(first.parsed, SpfEvaluation) else None
    if first.status is RecordStatus.OK and evaluation is not None:
        yield from _spf_evaluation(where, first.value, evaluation)
        yield from _spf_record(where, first.value, evaluation.record)


def _lookups_text(lookups: tuple[SpfLookup, ...]) -> str:
    return ", ".join(f"{v.term} in {v.record}: {v.query} {v.outcome.value}" for v in lookups)


def _spf_evaluation(where: str, text: str, e: SpfEvaluation) -> Iterator[Finding]:
    count = f"{'' if e.complete else 'at least '}{e.lookups}"
    if e.lookups > MAX_LOOKUPS:
        yield finding(p.SPF_TOO_MANY_LOOKUPS, where, f"{text} — {count} DNS lookups (limit {MAX_LOOKUPS})")
    over = [family for family, ipv6 in (("IPv4", False), ("IPv6", True)) if e.void_count(ipv6) > MAX_VOID_LOOKUPS]
    if over:
        senders = " and ".join(over)
        yield finding(
            p.SPF_VOID_LIMIT,
            where,
            f"void lookups for {senders} senders (limit {MAX_VOID_LOOKUPS}): " + _lookups_text(e.voids),
        )
    elif e.voids:
        yield finding(p.SPF_VOID_LOOKUP, where, _lookups_text(e.voids))
    if e.include_errors:
        yield finding(p.SPF_INCLUDE_ERROR, where, "; ".join(e.include_errors))
    if e.temperrors:
        yield finding(p.SPF_TEMPERROR, where, _lookups_text(e.temperrors))
    if e.mx_over_limit:
        yield finding(p.SPF_MX_LIMIT, where, "; ".join(e.mx_over_limit))


def _spf_record(where: str, text: str, record: SpfRecord) -> Iterator[Finding]:
    qualifier = record.all_qualifier
    if qualifier == "+":
        yield finding(p.SPF_PASS_ALL, where, text)
    elif qualifier == "?":
        yield finding(p.SPF_NEUTRAL_ALL, where, text)
    elif qualifier == "~":
        yield finding(p.SPF_SOFTFAIL_ALL, where, text)
    elif qualifier is None and record.redirect is None:
        yield finding(p.SPF_NO_ALL, where, text)
    for warning in record.warnings:
        yield finding(p.SPF_WARNING, where, warning)


# --- DMARC -----------------------------------------------------------------------------------------------


def _dmarc(report: Report, domain: DomainDns) -> Iterator[Finding]:
    records = domain.records_of(RecordKind.DMARC)
    if not records:
        return
    record = records[0]
    where = record.name
    simple = {
        RecordStatus.MISSING: p.DMARC_MISSING,
        RecordStatus.INVALID: p.DMARC_SYNTAX,
        RecordStatus.ERROR: p.DMARC_ERROR,
    }
    if record.status is RecordStatus.MULTIPLE:
        yield finding(p.DMARC_MULTIPLE, where, " | ".join(r.value for r in records))
        return
    if record.status is RecordStatus.MISSING and domain.status is MxStatus.NXDOMAIN:
        return  # a name that does not exist needs no record of its own (an ancestor's np= would apply)
    if record.status in simple:
        yield finding(simple[record.status], where, _value(record))
        return
    parsed = record.parsed
    if not isinstance(parsed, DmarcRecord):
        return
    inherited = record.status is RecordStatus.INHERITED
    if inherited:  # the ancestor's subdomain (or non-existent subdomain) policy is the one that applies here
        yield finding(p.DMARC_INHERITED, domain.domain, record.detail)
    yield from _dmarc_record(where, record.value, parsed, _applied_tag(domain, parsed, inherited), inherited)


def _applied_tag(domain: DomainDns, record: DmarcRecord, inherited: bool) -> str:
    """Which tag's policy applies to the domain: p, or for an inherited record sp (np for a domain that does not
    exist, RFC 9989 4.10.1), each falling back to the one before when absent or invalid."""
    if not inherited:
        return "p"
    order = ("np", "sp") if domain.status is MxStatus.NXDOMAIN else ("sp",)
    return next((tag for tag in order if record.stated_policy(tag) is not None), "p")


def _policy_of(record: DmarcRecord, tag: str) -> str:
    return {"p": record.policy, "sp": record.subdomain_policy, "np": record.nonexistent_policy}[tag]


def _dmarc_record(where: str, text: str, record: DmarcRecord, tag: str, inherited: bool) -> Iterator[Finding]:
    policy = _policy_of(record, tag)
    fallback = bool(record.policy_faults)
    for fault in record.tag_faults():
        if fault.tag in POLICY_TAGS:
            effect = "rua= has a valid URI, so receivers act as if the record said p=none (RFC 9989 4.10.1)"
            yield finding(p.DMARC_INVALID_TAG, where, f"{fault.reason}; {effect}", severity=Severity.MEDIUM)
        else:
            effect = f"receivers use the default {fault.tag}={fault.applies}" if fault.applies else "ignored"
            yield finding(p.DMARC_INVALID_TAG, where, f"{fault.reason}; {effect}: the record still applies")
    if record.policy_missing and not fallback:
        yield finding(p.DMARC_NO_POLICY, where, text)
    elif policy == "none" and not fallback and tag != "p":  # the parent enforces p=, but not here
        yield finding(p.DMARC_SUBDOMAIN_NONE, where, f"{tag}=none of the parent domain's record applies — {text}")
    elif policy == "none" and not fallback:
        yield finding(p.DMARC_POLICY_NONE, where, text)
    if not inherited and policy != "none":
        weaker = [f"{k}=none" for k in ("sp", "np") if (record.tag(k) or "").lower() == "none"]
        if weaker:
            yield finding(p.DMARC_SUBDOMAIN_NONE, where, f"{' and '.join(weaker)} — {text}")
    if record.testing and policy != "none":
        lower = {"reject": "quarantine", "quarantine": "none"}[policy]
        yield finding(p.DMARC_TESTING, where, f"t=y: receivers apply {lower} instead of {policy} — {text}")
    for key, value in record.removed_tags:
        # RFC 7489 receivers apply an enforcing policy to pct% of failing mail only.
        sampled = key == "pct" and record.pct < 100 and policy != "none"
        severity = Severity.LOW if sampled else None
        yield finding(p.DMARC_OBSOLETE_TAG, where, f"{key}={value}", severity=severity)
    if not record.rua:
        yield finding(p.DMARC_NO_RUA, where, text)


# --- MTA-STS, TLS-RPT ------------------------------------------------------------------------------------


def _mta_sts(report: Report, domain: DomainDns) -> Iterator[Finding]:
    for record in domain.records_of(RecordKind.MTA_STS):
        if record.status is RecordStatus.MISSING and domain.mx:
            yield finding(p.STS_MISSING, domain.domain, record.detail)
        elif record.status in (RecordStatus.INVALID, RecordStatus.MULTIPLE):
            yield finding(p.STS_TXT_INVALID, record.name, _value(record))
    for record in domain.records_of(RecordKind.MTA_STS_POLICY):
        yield from _sts_policy(record)


def _sts_policy(record: DnsRecord) -> Iterator[Finding]:
    if record.status is RecordStatus.INVALID:
        yield finding(p.STS_POLICY_INVALID, record.name, record.detail)
        return
    if record.status in (RecordStatus.SKIPPED_NONPUBLIC, RecordStatus.BLOCKED):
        return  # mailprobe chose not to fetch (non-public address, the safety guard): no verdict on the domain
    fetched = record.parsed
    if record.status is not RecordStatus.OK or not isinstance(fetched, StsFetch):
        yield finding(p.STS_FETCH_FAILED, record.name, f"{record.status.value}: {record.detail}")
        return
    policy = fetched.policy
    if fetched.unmatched_mx and policy.mode != "none":  # a retired policy (RFC 8461 8.3) needs no mx: lines
        severity = Severity.MEDIUM if policy.mode != "enforce" else None
        unmatched = ", ".join(fetched.unmatched_mx)
        yield finding(
            p.STS_MX_MISMATCH, record.name, f"mode {policy.mode}; not matched by any mx: {unmatched}", severity=severity
        )
    if policy.mode == "testing":
        yield finding(p.STS_TESTING, record.name, "mode: testing")
    elif policy.mode == "none":
        yield finding(p.STS_MODE_NONE, record.name, "mode: none")
    if policy.max_age is not None and policy.max_age < SHORT_STS_MAX_AGE and policy.mode != "none":
        yield finding(p.STS_SHORT_MAX_AGE, record.name, f"max_age: {policy.max_age}")


def _tls_rpt(report: Report, domain: DomainDns) -> Iterator[Finding]:
    uses_tls_policy = any(
        r.status is RecordStatus.OK for r in (*domain.records_of(RecordKind.MTA_STS_POLICY), *tlsa_of(domain))
    )
    for record in domain.records_of(RecordKind.TLS_RPT):
        if record.status is RecordStatus.MISSING and uses_tls_policy:
            yield finding(p.TLSRPT_MISSING, domain.domain, record.detail)
        elif record.status in (RecordStatus.INVALID, RecordStatus.MULTIPLE):
            yield finding(p.TLSRPT_INVALID, record.name, _value(record))


# --- TLSA records (matching against certificates is checks.dane) ------------------------------------------


def tlsa_of(domain: DomainDns) -> tuple[DnsRecord, ...]:
    return domain.records_of(RecordKind.TLSA)


def tlsa_records(report: Report) -> Iterator[DnsRecord]:
    for domain in report.dns:
        yield from (r for r in tlsa_of(domain) if r.status in (RecordStatus.OK, RecordStatus.INVALID))


def _tlsa(report: Report, record: DnsRecord) -> Iterator[Finding]:
    parsed = record.parsed
    if not isinstance(parsed, Tlsa):
        yield finding(p.DANE_INVALID, record.name, record.value)
        return
    if not parsed.supported:
        fields = " ".join(record.value.split()[:3])
        yield finding(p.DANE_UNSUPPORTED, record.name, f"{fields} = {parsed.describe()}")
    if record.authenticated is False:
        yield finding(p.DANE_UNAUTHENTICATED, record.name, "TLSA answer without the AD bit")


# --- DKIM ------------------------------------------------------------------------------------------------


def dkim_records(report: Report) -> Iterator[DnsRecord]:
    for domain in report.dns:
        yield from domain.records_of(RecordKind.DKIM)


def _dkim(report: Report, record: DnsRecord) -> Iterator[Finding]:
    where = record.name
    if record.status is RecordStatus.MISSING:
        yield finding(p.DKIM_MISSING, where, record.detail or "no TXT record")
    elif record.status is RecordStatus.ERROR:
        yield finding(p.DKIM_ERROR, where, record.detail)
    elif record.status is RecordStatus.INVALID:
        yield finding(p.DKIM_INVALID, where, record.detail)
    elif record.status is RecordStatus.REVOKED:
        yield finding(p.DKIM_REVOKED, where, "p= is empty")
    elif record.status is RecordStatus.OK and isinstance(record.parsed, DkimKey):
        key = record.parsed
        if key.key_type == "rsa" and 0 < key.key_bits < p.SHORT_DKIM_BITS:
            severity = Severity.HIGH if key.key_bits < p.WEAK_DKIM_BITS else None
            yield finding(p.DKIM_WEAK_KEY, where, f"RSA {key.key_bits} bits", severity=severity)
        if key.testing:
            yield finding(p.DKIM_TESTING, where, "t=y")


CHECKS: tuple[Check[DomainDns] | Check[DnsRecord], ...] = (
    Check("spf", Category.POLICY, existing_domains, domain_label, _spf),
    Check("dmarc", Category.POLICY, domains, domain_label, _dmarc),
    Check("mta-sts", Category.POLICY, existing_domains, domain_label, _mta_sts),
    Check("tls-rpt", Category.POLICY, existing_domains, domain_label, _tls_rpt),
    Check("tlsa-records", Category.POLICY, tlsa_records, record_label, _tlsa),
    Check("dkim", Category.POLICY, dkim_records, record_label, _dkim),
)
