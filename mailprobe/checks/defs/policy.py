"""Findings about published policy records: SPF, DMARC, MTA-STS, TLS-RPT, DKIM and TLSA records.

Definitions only; the logic is in mailprobe.checks.
"""

from __future__ import annotations

from mailprobe.checks.catalogue import define
from mailprobe.model import Category, Severity

WEAK_DKIM_BITS = 1024  # below: forgeable (RFC 8301 forbids < 1024)
SHORT_DKIM_BITS = 2048  # below: weak by today's guidance

SPF_MISSING = define(
    "SPF-MISSING", Severity.MEDIUM, Category.POLICY, "No SPF record",
    "Without SPF receivers cannot tell which servers may send for the domain; DMARC then relies on DKIM alone "
    "and forged mail is harder to reject.",
    "Publish a TXT record such as `v=spf1 mx -all` (list every server that sends for the domain).",
)  # fmt: skip

SPF_MULTIPLE = define(
    "SPF-MULTIPLE", Severity.HIGH, Category.POLICY, "More than one SPF record",
    "RFC 7208 4.5: two v=spf1 records make SPF fail with a permerror for every message.",
    "Merge them into one record.",
)  # fmt: skip

SPF_SYNTAX = define(
    "SPF-SYNTAX", Severity.HIGH, Category.POLICY, "SPF record has a syntax error",
    "RFC 7208 4.6: a syntax error anywhere in the record is a permerror for every message, whatever the "
    "sender. Terms are separated by spaces only; a domain ends in a top label of letters, digits and inner "
    "hyphens (no port, no CIDR on include/exists/ptr), labels have at most 63 octets; macros are %{letter...} "
    "with s, l, o, d, i, p, h, v (c, r, t only in explanation text).",
    "Fix the term named in the evidence (RFC 7208 section 5 for the mechanisms, 7 for macros, 12 for the ABNF).",
)  # fmt: skip

SPF_TOO_MANY_LOOKUPS = define(
    "SPF-TOO-MANY-LOOKUPS", Severity.HIGH, Category.POLICY, "SPF needs more than 10 DNS lookups",
    "RFC 7208 4.6.4: include, a, mx, ptr, exists and redirect (counted through every include) may cause at "
    "most 10 lookups; beyond that SPF is a permerror.",
    "Flatten includes, replace a/mx with ip4/ip6, drop unused includes.",
)  # fmt: skip

SPF_VOID_LIMIT = define(
    "SPF-VOID-LOOKUPS", Severity.HIGH, Category.POLICY, "SPF names more than two domains that do not exist",
    "RFC 7208 4.6.4: more than two lookups that find nothing (a, mx, exists or include names with no such "
    "name or no such record) make the whole SPF evaluation a permerror.",
    "Remove the a:/mx:/include: terms naming domains that are gone (listed in the evidence).",
)  # fmt: skip

SPF_VOID_LOOKUP = define(
    "SPF-VOID-LOOKUP", Severity.LOW, Category.POLICY, "SPF names a domain that does not exist",
    "A term of the SPF record looks up a name that has no such record: it never matches, and a third one "
    "would make SPF a permerror (RFC 7208 4.6.4).",
    "Remove or correct the term named in the evidence (often a retired server or provider).",
)  # fmt: skip

SPF_INCLUDE_ERROR = define(
    "SPF-INCLUDE-ERROR", Severity.HIGH, Category.POLICY, "An SPF include or redirect is broken",
    "An included domain has no SPF record, several, a syntax error or fails to resolve: the whole SPF "
    "evaluation becomes a permerror or temperror.",
    "Fix or remove the include/redirect named in the evidence.",
)  # fmt: skip

SPF_PASS_ALL = define(
    "SPF-PASS-ALL", Severity.HIGH, Category.POLICY, "SPF allows every server (+all)",
    "`+all` authorises the whole Internet to send as the domain: SPF then protects nothing.",
    "End the record with `-all` (or `~all` while testing).",
)  # fmt: skip

SPF_NEUTRAL_ALL = define(
    "SPF-NEUTRAL-ALL", Severity.MEDIUM, Category.POLICY, "SPF ends in ?all (neutral)",
    "`?all` says nothing about other servers: forged mail is not distinguished from real mail.",
    "End the record with `-all` (or `~all`).",
)  # fmt: skip

SPF_SOFTFAIL_ALL = define(
    "SPF-SOFTFAIL-ALL", Severity.INFO, Category.POLICY, "SPF ends in ~all (softfail)",
    "`~all` asks receivers to accept but mark mail from other servers; with DMARC enforcing this is common "
    "practice, without it forged mail gets through.",
    "Use `-all` once every sending server is listed, and publish DMARC.",
)  # fmt: skip

SPF_NO_ALL = define(
    "SPF-NO-ALL", Severity.LOW, Category.POLICY, "SPF has no 'all' and no redirect",
    "Without a final `all` the default result is neutral: mail from unlisted servers is not judged.",
    "End the record with `-all` (or `~all`).",
)  # fmt: skip

SPF_WARNING = define(
    "SPF-WARNING", Severity.LOW, Category.POLICY, "SPF record has a questionable term",
    "The record is valid but contains something unwise (ptr mechanism, terms after all, ignored redirect).",
    "Adjust the record as the evidence says.",
)  # fmt: skip

SPF_ERROR = define(
    "SPF-LOOKUP-FAILED", Severity.LOW, Category.POLICY, "SPF lookup failed",
    "The TXT lookup for SPF failed (timeout, SERVFAIL): receivers get a temperror and may defer mail.",
    "Check the domain's name servers.",
)  # fmt: skip

DMARC_MISSING = define(
    "DMARC-MISSING", Severity.MEDIUM, Category.POLICY, "No DMARC record",
    "Without a DMARC record at _dmarc.DOMAIN receivers apply no policy to forged mail using the domain in "
    "From:, and you get no reports. No Organizational Domain record applies either (the DNS tree walk of "
    "RFC 9989 was followed up to the top-level domain; invalid records on the way are discarded; RFC 7489 "
    "receivers look at the public-suffix-list organizational domain only).",
    "Publish `_dmarc.DOMAIN TXT \"v=DMARC1; p=none; rua=mailto:...\"`, then tighten p= once reports are clean.",
)  # fmt: skip

DMARC_INHERITED = define(
    "DMARC-INHERITED", Severity.INFO, Category.POLICY, "DMARC policy comes from a parent domain",
    "The domain has no _dmarc record of its own; receivers apply its Organizational Domain's record (RFC 9989: "
    "the first ancestor with psd=n, the name below one with psd=y, else the ancestor with the fewest labels), "
    "with its subdomain policy (sp=, else p=; np= if the domain does not exist). The other DMARC findings then "
    "judge that policy.",
    "Nothing to do if the parent's policy fits this domain; publish _dmarc.DOMAIN to give it its own.",
)  # fmt: skip

DMARC_MULTIPLE = define(
    "DMARC-MULTIPLE", Severity.HIGH, Category.POLICY, "More than one DMARC record",
    "RFC 9989 4.10 (as RFC 7489 6.6.3): when a name has several v=DMARC1 records, receivers discard them all.",
    "Keep exactly one v=DMARC1 record.",
)  # fmt: skip

DMARC_SYNTAX = define(
    "DMARC-SYNTAX", Severity.HIGH, Category.POLICY, "DMARC record is broken: receivers ignore it",
    "The TXT record at _dmarc is meant as DMARC (it starts with v=DMARC1) but receivers discard it: the version "
    "is not exactly v=DMARC1 at the very start, tags are not separated by ';', or p=/sp=/np= is invalid while "
    "rua= has no valid URI (RFC 9989 4.7, 4.8, 4.10.1). The domain is as unprotected as with no record.",
    "Fix the fault named in the evidence: `v=DMARC1; p=quarantine; rua=mailto:dmarc@DOMAIN`.",
)  # fmt: skip

DMARC_INVALID_TAG = define(
    "DMARC-INVALID-TAG", Severity.LOW, Category.POLICY, "A DMARC tag has an invalid value",
    "RFC 9989 4.8: receivers replace an invalid value by the tag's default (adkim/aspf r, fo 0, t n) and still "
    "apply the record. An invalid p=, sp= or np= is worse: with a valid rua= receivers act as if the record "
    "said p=none (RFC 9989 4.10.1; RFC 7489 readers do the same).",
    "Correct the value named in the evidence (p/sp/np: none, quarantine, reject; adkim/aspf: r or s).",
)  # fmt: skip

DMARC_NO_POLICY = define(
    "DMARC-NO-POLICY", Severity.LOW, Category.POLICY, "DMARC record has no p= (treated as p=none)",
    "RFC 9989 4.7 treats a record without p= as p=none: monitoring only. RFC 7489 made p= required: its readers "
    "act as if p=none only when rua= has a valid URI, and otherwise apply no DMARC at all.",
    "Add p=none (then quarantine or reject once reports are clean) right after v=DMARC1.",
)  # fmt: skip

DMARC_POLICY_NONE = define(
    "DMARC-POLICY-NONE", Severity.LOW, Category.POLICY, "DMARC policy is none (monitoring only)",
    "p=none asks receivers to deliver forged mail as usual; it is a first step, not protection.",
    "Move to p=quarantine, then p=reject, once the reports show only legitimate senders.",
)  # fmt: skip

DMARC_SUBDOMAIN_NONE = define(
    "DMARC-SUBDOMAIN-NONE", Severity.LOW, Category.POLICY, "DMARC leaves subdomains unprotected (sp/np=none)",
    "The domain enforces a policy but sp=none lets forged mail from any existing subdomain through, and np=none "
    "from any subdomain that does not exist (RFC 9989 4.7; RFC 7489 readers ignore np=).",
    "Set sp=/np= to quarantine or reject (or remove them to inherit p=).",
)  # fmt: skip

DMARC_TESTING = define(
    "DMARC-TESTING", Severity.LOW, Category.POLICY, "DMARC policy is in test mode (t=y)",
    "RFC 9989 4.7: t=y asks receivers to apply one level below the policy (reject as quarantine, quarantine as "
    "none). RFC 7489 readers do not know t= and apply the policy as written.",
    "Remove t=y (or set t=n) once the reports are clean.",
)  # fmt: skip

DMARC_OBSOLETE_TAG = define(
    "DMARC-OBSOLETE-TAG", Severity.INFO, Category.POLICY, "DMARC record uses a tag RFC 9989 removed",
    "pct=, rf= and ri= are gone from RFC 9989 (historic in the DMARC tags registry): current receivers ignore "
    "them, RFC 7489 receivers may still apply them. pct below 100 makes those apply the policy to a sample of "
    "failing mail only (the rest gets the next weaker policy); t=y is RFC 9989's way to test.",
    "Remove the tag (use t=y instead of pct=0 while testing).",
)  # fmt: skip

DMARC_NO_RUA = define(
    "DMARC-NO-RUA", Severity.INFO, Category.POLICY, "DMARC asks for no aggregate reports (no rua=)",
    "Without rua= you learn nothing about who sends as your domain or what fails (reports: RFC 9990).",
    "Add rua=mailto:... pointing at a mailbox or a report service.",
)  # fmt: skip

DMARC_ERROR = define(
    "DMARC-LOOKUP-FAILED", Severity.LOW, Category.POLICY, "DMARC lookup failed",
    "The TXT lookup at _dmarc failed (timeout, SERVFAIL): receivers get a temporary error.",
    "Check the domain's name servers.",
)  # fmt: skip

STS_MISSING = define(
    "MTA-STS-MISSING", Severity.INFO, Category.POLICY, "No MTA-STS policy",
    "Without MTA-STS (or DANE) senders use STARTTLS opportunistically: an attacker on the path can strip it.",
    "Publish _mta-sts TXT `v=STSv1; id=...` and a policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt.",
)  # fmt: skip

STS_TXT_INVALID = define(
    "MTA-STS-TXT-INVALID", Severity.MEDIUM, Category.POLICY, "MTA-STS TXT record is invalid",
    "Senders ignore an invalid or duplicated _mta-sts record and therefore the whole policy.",
    "Publish exactly one `v=STSv1; id=<1-32 letters/digits>;` record.",
)  # fmt: skip

STS_FETCH_FAILED = define(
    "MTA-STS-FETCH-FAILED", Severity.HIGH, Category.POLICY, "MTA-STS policy cannot be fetched",
    "The TXT record announces a policy but the HTTPS fetch fails (DNS, connection, certificate, HTTP status): "
    "senders that cached an enforce policy keep it; new ones get none.",
    "Serve the policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt with a valid certificate for that name.",
)  # fmt: skip

STS_POLICY_INVALID = define(
    "MTA-STS-POLICY-INVALID", Severity.HIGH, Category.POLICY, "MTA-STS policy file is invalid",
    "Senders ignore a policy with a missing or bad version, mode, mx or max_age.",
    "Fix the policy file (RFC 8461 3.2): version: STSv1, mode, mx: lines, max_age.",
    "version: STSv1\nmode: enforce\nmx: mail.example.test\nmax_age: 604800",
)  # fmt: skip

STS_MX_MISMATCH = define(
    "MTA-STS-MX-MISMATCH", Severity.HIGH, Category.POLICY, "An MX host is not covered by the MTA-STS policy",
    "In enforce mode, senders refuse to deliver to MX hosts no `mx:` line matches; in testing mode they "
    "report it. Mail through that host fails.",
    "Add an `mx:` line for the host (a `*.` wildcard covers exactly one label) and change the policy id.",
)  # fmt: skip

STS_TESTING = define(
    "MTA-STS-TESTING", Severity.INFO, Category.POLICY, "MTA-STS policy is in testing mode",
    "mode: testing only asks senders to report failures; TLS is not enforced yet.",
    "Switch to mode: enforce once TLS reports are clean.",
)  # fmt: skip

STS_MODE_NONE = define(
    "MTA-STS-MODE-NONE", Severity.LOW, Category.POLICY, "MTA-STS policy mode is none",
    "mode: none withdraws the policy; senders no longer enforce TLS.",
    "Nothing to do if you are retiring MTA-STS; otherwise use testing or enforce.",
)  # fmt: skip

STS_SHORT_MAX_AGE = define(
    "MTA-STS-SHORT-MAX-AGE", Severity.LOW, Category.POLICY, "MTA-STS max_age is very short",
    "A policy cached for less than a day leaves senders unprotected between fetches (RFC 8461 recommends weeks).",
    "Set max_age to at least 604800 (a week), better 31557600.",
)  # fmt: skip

TLSRPT_MISSING = define(
    "TLSRPT-MISSING", Severity.INFO, Category.POLICY, "No TLS reporting (TLS-RPT) record",
    "With MTA-STS or DANE in place, TLS-RPT (_smtp._tls TXT) tells you when senders fail to connect securely.",
    "Publish `_smtp._tls.DOMAIN TXT \"v=TLSRPTv1; rua=mailto:tls-reports@DOMAIN\"`.",
)  # fmt: skip

TLSRPT_INVALID = define(
    "TLSRPT-INVALID", Severity.LOW, Category.POLICY, "TLS-RPT record is invalid",
    "Senders ignore an invalid or duplicated _smtp._tls record and send no reports.",
    "Publish exactly one `v=TLSRPTv1; rua=mailto:...` record.",
)  # fmt: skip

DANE_INVALID = define(
    "DANE-INVALID", Severity.MEDIUM, Category.POLICY, "TLSA record is malformed",
    "A TLSA record with a bad field or digest length can never match.",
    "Regenerate the record (e.g. `openssl x509 -pubkey | ... sha256`; or a TLSA generator).",
)  # fmt: skip

DANE_UNSUPPORTED = define(
    "DANE-UNSUPPORTED", Severity.INFO, Category.POLICY, "TLSA record parameters not checked",
    "RFC 7672 says PKIX usages (0, 1) are not for SMTP (senders ignore them); mailprobe checks DANE-EE and "
    "DANE-TA records with SHA2-256 or SHA2-512 digests, not Full (matching type 0) ones.",
    "Prefer `3 1 1` records for SMTP.",
)  # fmt: skip

DANE_UNAUTHENTICATED = define(
    "DANE-UNAUTHENTICATED", Severity.MEDIUM, Category.POLICY, "TLSA records are not DNSSEC-authenticated",
    "DANE only works when the TLSA records are DNSSEC-signed (and the resolver validates, setting AD); "
    "otherwise senders ignore them.",
    "Sign the zone with DNSSEC (and check with a validating --resolver).",
)  # fmt: skip

DKIM_MISSING = define(
    "DKIM-MISSING", Severity.MEDIUM, Category.POLICY, "DKIM key not found for the selector",
    "No key record at SELECTOR._domainkey.DOMAIN: mail signed with that selector fails DKIM.",
    "Publish the selector's public key (or check the selector name).",
)  # fmt: skip

DKIM_INVALID = define(
    "DKIM-INVALID", Severity.HIGH, Category.POLICY, "DKIM key record is invalid",
    "A key record receivers cannot parse makes every signature with this selector fail.",
    "Republish the record as your signer prints it (v=DKIM1; k=rsa; p=...).",
)  # fmt: skip

DKIM_REVOKED = define(
    "DKIM-REVOKED", Severity.INFO, Category.POLICY, "DKIM key is revoked (empty p=)",
    "An empty p= revokes the selector: signatures with it fail. Fine for a retired selector.",
    "Nothing to do if the selector is retired; otherwise publish its key.",
)  # fmt: skip

DKIM_WEAK_KEY = define(
    "DKIM-WEAK-KEY", Severity.MEDIUM, Category.POLICY, "DKIM key is short",
    f"RSA keys under {WEAK_DKIM_BITS} bits must be rejected (RFC 8301) and under {SHORT_DKIM_BITS} bits are "
    "weak by current guidance.",
    "Generate a 2048-bit RSA (or Ed25519 plus RSA) key and publish it under a new selector.",
)  # fmt: skip

DKIM_TESTING = define(
    "DKIM-TESTING", Severity.LOW, Category.POLICY, "DKIM key is in testing mode (t=y)",
    "t=y asks receivers to treat failures as if unsigned: DKIM protects nothing yet.",
    "Remove t=y once signing works.",
)  # fmt: skip

DKIM_ERROR = define(
    "DKIM-LOOKUP-FAILED", Severity.LOW, Category.POLICY, "DKIM key lookup failed",
    "The TXT lookup of the selector failed (timeout, SERVFAIL); receivers get a temporary error.",
    "Check the domain's name servers.",
)  # fmt: skip

SPF_TEMPERROR = define(
    "SPF-TEMPERROR", Severity.MEDIUM, Category.POLICY, "An SPF lookup fails (temperror)",
    "A name an a, mx, exists or include term asks about does not answer (timeout, SERVFAIL): receivers whose "
    "evaluation reaches that term get a temperror and defer or reject the message (RFC 7208 5, 2.6.6).",
    "Fix the name servers of the names in the evidence, or remove the terms that point at them.",
)  # fmt: skip
SPF_MX_LIMIT = define(
    "SPF-MX-LIMIT", Severity.HIGH, Category.POLICY, "An SPF mx term names more than 10 hosts",
    "RFC 7208 4.6.4: the MX answer of one mx mechanism may name at most 10 hosts; more make the mechanism a "
    "permerror for every sender it is evaluated for.",
    "Replace the mx term with ip4/ip6 terms (or an include) for the sending servers.",
)  # fmt: skip
