"""Findings from a mail domain's DNS: MX outcomes and targets, reverse DNS, policy records, DANE. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mailprobe.checks.catalogue import FindingKind, define, finding
from mailprobe.dns import dane as dane_records
from mailprobe.dns import dkim, dmarc, spf
from mailprobe.dns.mtasts import parse_sts_policy
from mailprobe.dns.names import nonpublic_reason
from mailprobe.model import DnsRecord, DomainDns, Finding, HandshakeResult, MxHost, MxStatus, Service, Severity

WEAK_DKIM_BITS = 1024  # below: forgeable (RFC 8301 forbids < 1024)
SHORT_DKIM_BITS = 2048  # below: weak by today's guidance
SHORT_STS_MAX_AGE = 86_400  # RFC 8461 recommends weeks; under a day caching barely helps

# --- MX outcomes -----------------------------------------------------------------------------------------
MX_NONE = define(
    "MX-NONE", Severity.HIGH, "Domain has no MX and no address",
    "Neither an MX record nor an A/AAAA record exists: no mail can be delivered to the domain (RFC 5321 5.1). "
    "If the domain sends no mail and receives none, publish a null MX instead so senders fail fast.",
    "Publish MX records for the mail servers, or `MX 0 .` (RFC 7505) if the domain takes no mail.",
    "example.test. MX -> NOERROR, no answer; A -> no answer; AAAA -> no answer",
)  # fmt: skip
MX_NULL = define(
    "MX-NULL", Severity.INFO, "Domain accepts no mail (null MX)",
    "`MX 0 .` (RFC 7505) says the domain receives no mail; senders reject mail to it at once. Nothing to probe.",
    "Nothing to do if intended; otherwise replace the null MX with real MX records.",
    "example.test. MX 0 .",
)  # fmt: skip
MX_NULL_MIXED = define(
    "MX-NULL-MIXED", Severity.MEDIUM, "Null MX published beside other MX records",
    "RFC 7505 3: a null MX must be the only MX record. Mixed with others, senders may treat the domain as "
    "accepting no mail or ignore the null MX, depending on the software.",
    "Remove either the `MX 0 .` record or the other MX records.",
)  # fmt: skip
MX_IMPLICIT = define(
    "MX-IMPLICIT", Severity.LOW, "No MX record: mail goes to the domain's address (implicit MX)",
    "Without MX records senders deliver to the domain's own A/AAAA (RFC 5321 5.1). It works, but it is "
    "often accidental (a web server receiving mail) and gives no way to add a backup.",
    "Publish an MX record naming the mail server (or a null MX if the domain takes no mail).",
)  # fmt: skip
MX_NXDOMAIN = define(
    "MX-NXDOMAIN", Severity.HIGH, "Domain does not exist (NXDOMAIN)",
    "The resolver says the name does not exist: mail to it bounces.",
    "Check the spelling, the registration and the delegation of the domain.",
)  # fmt: skip
MX_SERVFAIL = define(
    "MX-SERVFAIL", Severity.HIGH, "MX lookup failed (SERVFAIL)",
    "The resolver could not get an answer (broken delegation, DNSSEC validation failure, dead name servers). "
    "Senders queue mail and retry; nothing is delivered meanwhile.",
    "Check the domain's name servers and DNSSEC (e.g. with `dig +trace`, `delv`); fix the delegation.",
)  # fmt: skip
MX_REFUSED = define(
    "MX-REFUSED", Severity.HIGH, "MX lookup refused (REFUSED)",
    "The name server refused the query: it is not authoritative for the domain or does not serve this "
    "client. Through a real resolver this means the delegation points at servers that do not serve the zone.",
    "Check that the delegated name servers serve the zone (and that --resolver is a resolver for this domain).",
)  # fmt: skip
MX_TIMEOUT = define(
    "MX-TIMEOUT", Severity.HIGH, "MX lookup timed out",
    "No answer within the deadline: the domain's name servers are unreachable or too slow. Senders retry "
    "later; mail is delayed.",
    "Check that the domain's name servers answer over UDP and TCP on port 53.",
)  # fmt: skip
MX_ERROR = define(
    "MX-ERROR", Severity.HIGH, "MX lookup failed",
    "The MX lookup ended in an error other than NXDOMAIN/SERVFAIL/timeout (see the evidence): a CNAME loop, "
    "an unexpected response code, or a reply that is not DNS.",
    "Fix the record or the server named in the evidence.",
)  # fmt: skip
MX_DUPLICATE = define(
    "MX-DUPLICATE", Severity.LOW, "The same host appears in several MX records",
    "A host listed twice adds no redundancy; usually a leftover from a migration.",
    "Keep one MX record per host.",
)  # fmt: skip
MX_CNAME = define(
    "MX-CNAME", Severity.MEDIUM, "MX target is a CNAME",
    "RFC 2181 10.3 and RFC 5321 5.1: an MX must name a host with A/AAAA records, not an alias. Many senders "
    "follow the alias anyway, some refuse, and DANE/MTA-STS name checks get confusing.",
    "Point the MX at the canonical name (the CNAME's target).",
    "example.test. MX 10 mail.example.test.   mail.example.test. CNAME host.provider.test.",
)  # fmt: skip
MX_CNAME_LOOP = define(
    "MX-CNAME-LOOP", Severity.HIGH, "MX target is a CNAME loop",
    "The MX target's aliases point at each other: it never resolves, no mail is delivered to it.",
    "Break the loop: give the MX target A/AAAA records.",
)  # fmt: skip
MX_DANGLING = define(
    "MX-DANGLING", Severity.HIGH, "MX target has no address",
    "The MX names a host without A or AAAA records (or one that does not exist): senders cannot deliver "
    "through it. If it is the only MX, mail to the domain bounces.",
    "Add A/AAAA records for the MX host or remove the MX record.",
)  # fmt: skip
MX_LOOKUP_FAILED = define(
    "MX-LOOKUP-FAILED", Severity.MEDIUM, "MX target's address lookup failed",
    "The A/AAAA lookup of the MX host timed out or failed: senders cannot reach the host until it answers.",
    "Check the name servers of the MX host's zone.",
)  # fmt: skip
MX_IP_LITERAL = define(
    "MX-IP-LITERAL", Severity.HIGH, "MX target is an IP address",
    "An MX must hold a host name. `MX 10 198.51.100.25.` is a name of four labels under a top-level domain "
    "`25`, not an address; senders look it up as a name and fail. mailprobe never uses it as an address.",
    "Create a host name with an A/AAAA record for the address and point the MX at it.",
    "example.test. MX 10 198.51.100.25.",
)  # fmt: skip
MX_NONPUBLIC = define(
    "MX-NONPUBLIC", Severity.HIGH, "MX target has a non-public address",
    "The MX host resolves to a loopback, private, link-local, documentation or otherwise non-routable "
    "address: senders on the Internet cannot reach it (and some will try to deliver inside their own "
    "network). mailprobe does not probe it unless --allow-nonpublic.",
    "Publish the server's public address (split-horizon DNS leaking internal records is a common cause).",
    "mx.example.test. A 10.0.0.25",
)  # fmt: skip
MX_NO_IPV6 = define(
    "MX-NO-IPV6", Severity.INFO, "MX target has no IPv6 address",
    "The host has only A records; IPv6-only senders cannot reach it.",
    "Add an AAAA record if the server is reachable over IPv6.",
)  # fmt: skip
DOMAIN_CNAME = define(
    "DOMAIN-CNAME", Severity.INFO, "Mail domain is an alias (CNAME)",
    "The domain's MX records come through a CNAME. It works, but the domain can then hold no other "
    "records of its own (SPF, MX of its own) and many tools get confused.",
    "Nothing to do if intended.",
)  # fmt: skip

# --- reverse DNS -----------------------------------------------------------------------------------------
PTR_MISSING = define(
    "PTR-MISSING", Severity.MEDIUM, "Mail server address has no reverse DNS (PTR)",
    "Many receivers reject or score down mail from addresses without a PTR record.",
    "Ask whoever controls the address block (hosting provider, ISP) to set a PTR naming the server.",
    "25.100.51.198.in-addr.arpa. PTR -> NXDOMAIN",
)  # fmt: skip
PTR_MISMATCH = define(
    "PTR-MISMATCH", Severity.MEDIUM, "Reverse DNS is not forward-confirmed (FCrDNS)",
    "The PTR name does not resolve back to the address. Receivers (and their spam filters) treat this like "
    "a missing PTR.",
    "Make the PTR name's A/AAAA record include this address, or change the PTR to a name that does.",
    "198.51.100.25 PTR mail.example.test.; mail.example.test. A 198.51.100.99",
)  # fmt: skip
PTR_ERROR = define(
    "PTR-ERROR", Severity.LOW, "Reverse DNS lookup failed",
    "The PTR lookup timed out or failed, so reverse DNS could not be checked; receivers meet the same failure.",
    "Check the name servers of the reverse zone.",
)  # fmt: skip

# --- SPF -------------------------------------------------------------------------------------------------
SPF_MISSING = define(
    "SPF-MISSING", Severity.MEDIUM, "No SPF record",
    "Without SPF receivers cannot tell which servers may send for the domain; DMARC then relies on DKIM alone "
    "and forged mail is harder to reject.",
    "Publish a TXT record such as `v=spf1 mx -all` (list every server that sends for the domain).",
)  # fmt: skip
SPF_MULTIPLE = define(
    "SPF-MULTIPLE", Severity.HIGH, "More than one SPF record",
    "RFC 7208 4.5: two v=spf1 records make SPF fail with a permerror for every message.",
    "Merge them into one record.",
)  # fmt: skip
SPF_SYNTAX = define(
    "SPF-SYNTAX", Severity.HIGH, "SPF record has a syntax error",
    "A syntax error is a permerror: receivers treat SPF as broken for every message.",
    "Fix the term named in the evidence (see RFC 7208 section 5 for the mechanisms).",
)  # fmt: skip
SPF_TOO_MANY_LOOKUPS = define(
    "SPF-TOO-MANY-LOOKUPS", Severity.HIGH, "SPF needs more than 10 DNS lookups",
    "RFC 7208 4.6.4: include, a, mx, ptr, exists and redirect (counted through every include) may cause at "
    "most 10 lookups; beyond that SPF is a permerror.",
    "Flatten includes, replace a/mx with ip4/ip6, drop unused includes.",
)  # fmt: skip
SPF_VOID_LIMIT = define(
    "SPF-VOID-LOOKUPS", Severity.HIGH, "SPF names more than two domains that do not exist",
    "RFC 7208 4.6.4: more than two lookups that find nothing (a, mx, exists or include names with no such "
    "name or no such record) make the whole SPF evaluation a permerror.",
    "Remove the a:/mx:/include: terms naming domains that are gone (listed in the evidence).",
)  # fmt: skip
SPF_VOID_LOOKUP = define(
    "SPF-VOID-LOOKUP", Severity.LOW, "SPF names a domain that does not exist",
    "A term of the SPF record looks up a name that has no such record: it never matches, and a third one "
    "would make SPF a permerror (RFC 7208 4.6.4).",
    "Remove or correct the term named in the evidence (often a retired server or provider).",
)  # fmt: skip
SPF_INCLUDE_ERROR = define(
    "SPF-INCLUDE-ERROR", Severity.HIGH, "An SPF include or redirect is broken",
    "An included domain has no SPF record, several, a syntax error or fails to resolve: the whole SPF "
    "evaluation becomes a permerror or temperror.",
    "Fix or remove the include/redirect named in the evidence.",
)  # fmt: skip
SPF_PASS_ALL = define(
    "SPF-PASS-ALL", Severity.HIGH, "SPF allows every server (+all)",
    "`+all` authorises the whole Internet to send as the domain: SPF then protects nothing.",
    "End the record with `-all` (or `~all` while testing).",
)  # fmt: skip
SPF_NEUTRAL_ALL = define(
    "SPF-NEUTRAL-ALL", Severity.MEDIUM, "SPF ends in ?all (neutral)",
    "`?all` says nothing about other servers: forged mail is not distinguished from real mail.",
    "End the record with `-all` (or `~all`).",
)  # fmt: skip
SPF_SOFTFAIL_ALL = define(
    "SPF-SOFTFAIL-ALL", Severity.INFO, "SPF ends in ~all (softfail)",
    "`~all` asks receivers to accept but mark mail from other servers; with DMARC enforcing this is common "
    "practice, without it forged mail gets through.",
    "Use `-all` once every sending server is listed, and publish DMARC.",
)  # fmt: skip
SPF_NO_ALL = define(
    "SPF-NO-ALL", Severity.LOW, "SPF has no 'all' and no redirect",
    "Without a final `all` the default result is neutral: mail from unlisted servers is not judged.",
    "End the record with `-all` (or `~all`).",
)  # fmt: skip
SPF_WARNING = define(
    "SPF-WARNING", Severity.LOW, "SPF record has a questionable term",
    "The record is valid but contains something unwise (ptr mechanism, terms after all, ignored redirect).",
    "Adjust the record as the evidence says.",
)  # fmt: skip
SPF_ERROR = define(
    "SPF-LOOKUP-FAILED", Severity.LOW, "SPF lookup failed",
    "The TXT lookup for SPF failed (timeout, SERVFAIL): receivers get a temperror and may defer mail.",
    "Check the domain's name servers.",
)  # fmt: skip

# --- DMARC -----------------------------------------------------------------------------------------------
DMARC_MISSING = define(
    "DMARC-MISSING", Severity.MEDIUM, "No DMARC record",
    "Without a DMARC record at _dmarc.DOMAIN receivers apply no policy to forged mail using the domain in "
    "From:, and you get no reports. No ancestor domain has one either (the DMARCbis tree walk was followed).",
    "Publish `_dmarc.DOMAIN TXT \"v=DMARC1; p=none; rua=mailto:...\"`, then tighten p= once reports are clean.",
)  # fmt: skip
DMARC_INHERITED = define(
    "DMARC-INHERITED", Severity.INFO, "DMARC policy comes from a parent domain",
    "The domain has no _dmarc record of its own; receivers apply the nearest ancestor's record, with its "
    "subdomain policy (sp=, else p=). The other DMARC findings then judge that policy.",
    "Nothing to do if the parent's policy fits this domain; publish _dmarc.DOMAIN to give it its own.",
)  # fmt: skip
DMARC_MULTIPLE = define(
    "DMARC-MULTIPLE", Severity.HIGH, "More than one DMARC record",
    "RFC 7489 6.6.3: with several records, receivers apply none.",
    "Keep exactly one v=DMARC1 record.",
)  # fmt: skip
DMARC_SYNTAX = define(
    "DMARC-SYNTAX", Severity.HIGH, "DMARC record is invalid",
    "A malformed record (missing p=, bad values, not starting with v=DMARC1) is ignored by receivers.",
    "Fix the tag named in the evidence (RFC 7489 6.3).",
)  # fmt: skip
DMARC_POLICY_NONE = define(
    "DMARC-POLICY-NONE", Severity.LOW, "DMARC policy is none (monitoring only)",
    "p=none asks receivers to deliver forged mail as usual; it is a first step, not protection.",
    "Move to p=quarantine, then p=reject, once the reports show only legitimate senders.",
)  # fmt: skip
DMARC_SUBDOMAIN_NONE = define(
    "DMARC-SUBDOMAIN-NONE", Severity.LOW, "DMARC leaves subdomains unprotected (sp=none)",
    "The domain enforces a policy but sp=none lets forged mail from any subdomain through.",
    "Set sp=quarantine or sp=reject (or remove sp= to inherit p=).",
)  # fmt: skip
DMARC_PARTIAL = define(
    "DMARC-PARTIAL", Severity.LOW, "DMARC policy applies to part of the mail (pct<100)",
    "pct below 100 applies the policy to a sample only; the rest is treated as the next weaker policy.",
    "Raise pct to 100 (or remove it).",
)  # fmt: skip
DMARC_NO_RUA = define(
    "DMARC-NO-RUA", Severity.INFO, "DMARC asks for no aggregate reports (no rua=)",
    "Without rua= you learn nothing about who sends as your domain or what fails.",
    "Add rua=mailto:... pointing at a mailbox or a report service.",
)  # fmt: skip
DMARC_ERROR = define(
    "DMARC-LOOKUP-FAILED", Severity.LOW, "DMARC lookup failed",
    "The TXT lookup at _dmarc failed (timeout, SERVFAIL): receivers get a temporary error.",
    "Check the domain's name servers.",
)  # fmt: skip

# --- MTA-STS and TLS-RPT ---------------------------------------------------------------------------------
STS_MISSING = define(
    "MTA-STS-MISSING", Severity.INFO, "No MTA-STS policy",
    "Without MTA-STS (or DANE) senders use STARTTLS opportunistically: an attacker on the path can strip it.",
    "Publish _mta-sts TXT `v=STSv1; id=...` and a policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt.",
)  # fmt: skip
STS_TXT_INVALID = define(
    "MTA-STS-TXT-INVALID", Severity.MEDIUM, "MTA-STS TXT record is invalid",
    "Senders ignore an invalid or duplicated _mta-sts record and therefore the whole policy.",
    "Publish exactly one `v=STSv1; id=<1-32 letters/digits>;` record.",
)  # fmt: skip
STS_FETCH_FAILED = define(
    "MTA-STS-FETCH-FAILED", Severity.HIGH, "MTA-STS policy cannot be fetched",
    "The TXT record announces a policy but the HTTPS fetch fails (DNS, connection, certificate, HTTP status): "
    "senders that cached an enforce policy keep it; new ones get none.",
    "Serve the policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt with a valid certificate for that name.",
)  # fmt: skip
STS_POLICY_INVALID = define(
    "MTA-STS-POLICY-INVALID", Severity.HIGH, "MTA-STS policy file is invalid",
    "Senders ignore a policy with a missing or bad version, mode, mx or max_age.",
    "Fix the policy file (RFC 8461 3.2): version: STSv1, mode, mx: lines, max_age.",
    "version: STSv1\nmode: enforce\nmx: mail.example.test\nmax_age: 604800",
)  # fmt: skip
STS_MX_MISMATCH = define(
    "MTA-STS-MX-MISMATCH", Severity.HIGH, "An MX host is not covered by the MTA-STS policy",
    "In enforce mode, senders refuse to deliver to MX hosts no `mx:` line matches; in testing mode they "
    "report it. Mail through that host fails.",
    "Add an `mx:` line for the host (a `*.` wildcard covers exactly one label) and change the policy id.",
)  # fmt: skip
STS_TESTING = define(
    "MTA-STS-TESTING", Severity.INFO, "MTA-STS policy is in testing mode",
    "mode: testing only asks senders to report failures; TLS is not enforced yet.",
    "Switch to mode: enforce once TLS reports are clean.",
)  # fmt: skip
STS_MODE_NONE = define(
    "MTA-STS-MODE-NONE", Severity.LOW, "MTA-STS policy mode is none",
    "mode: none withdraws the policy; senders no longer enforce TLS.",
    "Nothing to do if you are retiring MTA-STS; otherwise use testing or enforce.",
)  # fmt: skip
STS_SHORT_MAX_AGE = define(
    "MTA-STS-SHORT-MAX-AGE", Severity.LOW, "MTA-STS max_age is very short",
    "A policy cached for less than a day leaves senders unprotected between fetches (RFC 8461 recommends weeks).",
    "Set max_age to at least 604800 (a week), better 31557600.",
)  # fmt: skip
TLSRPT_MISSING = define(
    "TLSRPT-MISSING", Severity.INFO, "No TLS reporting (TLS-RPT) record",
    "With MTA-STS or DANE in place, TLS-RPT (_smtp._tls TXT) tells you when senders fail to connect securely.",
    "Publish `_smtp._tls.DOMAIN TXT \"v=TLSRPTv1; rua=mailto:tls-reports@DOMAIN\"`.",
)  # fmt: skip
TLSRPT_INVALID = define(
    "TLSRPT-INVALID", Severity.LOW, "TLS-RPT record is invalid",
    "Senders ignore an invalid or duplicated _smtp._tls record and send no reports.",
    "Publish exactly one `v=TLSRPTv1; rua=mailto:...` record.",
)  # fmt: skip

# --- DANE ------------------------------------------------------------------------------------------------
DANE_MISMATCH = define(
    "DANE-MISMATCH", Severity.CRITICAL, "Certificate does not match the TLSA records (DANE)",
    "The MX publishes TLSA records but the certificate served on port 25 matches none: DANE-validating "
    "senders (Postfix, Exim with DNSSEC, large providers) refuse to deliver. A certificate renewed without "
    "updating TLSA is the usual cause.",
    "Publish a TLSA record for the new key (3 1 1 is robust across renewals that keep the key), then roll over.",
    "_25._tcp.mx.example.test. TLSA 3 1 1 <sha256 of the SPKI>",
)  # fmt: skip
DANE_NO_TLS = define(
    "DANE-NO-TLS", Severity.HIGH, "TLSA records published but no TLS on port 25",
    "DANE requires STARTTLS: validating senders refuse to deliver in plaintext to a host with TLSA records.",
    "Enable STARTTLS on port 25 (or withdraw the TLSA records).",
)  # fmt: skip
DANE_INVALID = define(
    "DANE-INVALID", Severity.MEDIUM, "TLSA record is malformed",
    "A TLSA record with a bad field or digest length can never match.",
    "Regenerate the record (e.g. `openssl x509 -pubkey | ... sha256`; or a TLSA generator).",
)  # fmt: skip
DANE_UNSUPPORTED = define(
    "DANE-UNSUPPORTED", Severity.INFO, "TLSA record parameters not checked",
    "RFC 7672 says PKIX usages (0, 1) are not for SMTP; mailprobe checks DANE-EE/DANE-TA with SHA2-256.",
    "Prefer `3 1 1` records for SMTP.",
)  # fmt: skip
DANE_UNAUTHENTICATED = define(
    "DANE-UNAUTHENTICATED", Severity.MEDIUM, "TLSA records are not DNSSEC-authenticated",
    "DANE only works when the TLSA records are DNSSEC-signed (and the resolver validates, setting AD); "
    "otherwise senders ignore them.",
    "Sign the zone with DNSSEC (and check with a validating --resolver).",
)  # fmt: skip

# --- DKIM ------------------------------------------------------------------------------------------------
DKIM_MISSING = define(
    "DKIM-MISSING", Severity.MEDIUM, "DKIM key not found for the selector",
    "No key record at SELECTOR._domainkey.DOMAIN: mail signed with that selector fails DKIM.",
    "Publish the selector's public key (or check the selector name).",
)  # fmt: skip
DKIM_INVALID = define(
    "DKIM-INVALID", Severity.HIGH, "DKIM key record is invalid",
    "A key record receivers cannot parse makes every signature with this selector fail.",
    "Republish the record as your signer prints it (v=DKIM1; k=rsa; p=...).",
)  # fmt: skip
DKIM_REVOKED = define(
    "DKIM-REVOKED", Severity.INFO, "DKIM key is revoked (empty p=)",
    "An empty p= revokes the selector: signatures with it fail. Fine for a retired selector.",
    "Nothing to do if the selector is retired; otherwise publish its key.",
)  # fmt: skip
DKIM_WEAK_KEY = define(
    "DKIM-WEAK-KEY", Severity.MEDIUM, "DKIM key is short",
    f"RSA keys under {WEAK_DKIM_BITS} bits must be rejected (RFC 8301) and under {SHORT_DKIM_BITS} bits are "
    "weak by current guidance.",
    "Generate a 2048-bit RSA (or Ed25519 plus RSA) key and publish it under a new selector.",
)  # fmt: skip
DKIM_TESTING = define(
    "DKIM-TESTING", Severity.LOW, "DKIM key is in testing mode (t=y)",
    "t=y asks receivers to treat failures as if unsigned: DKIM protects nothing yet.",
    "Remove t=y once signing works.",
)  # fmt: skip
DKIM_ERROR = define(
    "DKIM-LOOKUP-FAILED", Severity.LOW, "DKIM key lookup failed",
    "The TXT lookup of the selector failed (timeout, SERVFAIL); receivers get a temporary error.",
    "Check the domain's name servers.",
)  # fmt: skip

# --- blocklists, DNSSEC ----------------------------------------------------------------------------------
DNSBL_LISTED = define(
    "DNSBL-LISTED", Severity.HIGH, "Mail server address is on a DNS blocklist",
    "Receivers using the list reject or score down mail from the address.",
    "Find and stop the cause (compromised account, open relay, bad neighbour), then request delisting at the "
    "list's site (the TXT reason usually links it).",
    "25.100.51.198.zen.example. A 127.0.0.2  TXT \"listed: see https://...\"",
)  # fmt: skip
DNSBL_ERROR = define(
    "DNSBL-ERROR", Severity.INFO, "Blocklist could not be checked",
    "The blocklist lookup failed or returned an error code (many lists refuse queries through public "
    "resolvers, answering 127.255.255.x).",
    "Use a resolver the list accepts (your own recursive resolver), or drop the list from the profile.",
)  # fmt: skip
DNSSEC_UNSIGNED = define(
    "DNSSEC-UNAUTHENTICATED", Severity.INFO, "DNS answers are not DNSSEC-authenticated",
    "The resolver did not set the AD bit: the zone is unsigned or the resolver does not validate. Without "
    "DNSSEC, DANE cannot be used and answers can be forged on the path.",
    "Sign the zone with DNSSEC; use a validating resolver for the check.",
)  # fmt: skip

_MX_OUTCOME: dict[MxStatus, FindingKind] = {
    MxStatus.NODATA: MX_NONE,
    MxStatus.NULL: MX_NULL,
    MxStatus.IMPLICIT: MX_IMPLICIT,
    MxStatus.NXDOMAIN: MX_NXDOMAIN,
    MxStatus.SERVFAIL: MX_SERVFAIL,
    MxStatus.REFUSED: MX_REFUSED,
    MxStatus.TIMEOUT: MX_TIMEOUT,
    MxStatus.ERROR: MX_ERROR,
}


def check_dns(d: DomainDns) -> list[Finding]:
    """Every finding a domain's DNS picture supports."""
    return [*_mx(d), *_policies(d)]


def _mx(d: DomainDns) -> Iterator[Finding]:
    kind = _MX_OUTCOME.get(d.status)
    if kind is not None:
        yield finding(kind, d.domain, d.reason)
    for hint in d.findings_hint:
        key, _, value = hint.partition(":")
        if key == "null-mx-mixed":
            yield finding(MX_NULL_MIXED, d.domain, "MX 0 . beside: " + ", ".join(h.name for h in d.mx))
        elif key == "mx-duplicate":
            yield finding(MX_DUPLICATE, d.domain, f"{value} appears in more than one MX record")
        elif key == "domain-cname":
            yield finding(DOMAIN_CNAME, d.domain, f"{d.domain} is an alias of {value}")
        elif key == "ptr-error":
            address, _, outcome = value.rpartition(":")
            yield finding(PTR_ERROR, address, f"PTR lookup of {address}: {outcome}")
    allowed = "allow-nonpublic" in d.findings_hint
    for host in d.mx:
        yield from _mx_host(d, host, allowed)
    if d.authenticated is False:
        yield finding(DNSSEC_UNSIGNED, d.domain, "MX answer without the AD bit")


def _mx_host(d: DomainDns, host: MxHost, nonpublic_allowed: bool) -> Iterator[Finding]:
    label = f"MX {host.preference} {host.name}"
    if host.status == "ip-literal":
        yield finding(MX_IP_LITERAL, host.name, f"{label}. is an address written as a name")
    if host.status == "cname-loop":
        yield finding(MX_CNAME_LOOP, host.name, f"{label}: CNAME loop")
    if host.cname_target is not None:
        yield finding(MX_CNAME, host.name, f"{label} is a CNAME for {host.cname_target}")
    if host.status == "dangling":
        yield finding(MX_DANGLING, host.name, f"{label}: no A/AAAA record")
    elif host.status in ("timeout", "servfail", "refused", "error", "referral"):
        yield finding(MX_LOOKUP_FAILED, host.name, f"{label}: address lookup {host.status}")
    for address in host.addresses:
        reason = nonpublic_reason(address)
        if reason:
            # With --allow-nonpublic (a lab, a private network) the user expects it: note it, do not alarm.
            severity = Severity.INFO if nonpublic_allowed else None
            yield finding(MX_NONPUBLIC, host.name, f"{host.name} -> {address} ({reason})", severity=severity)
    if host.addresses and not any(":" in a for a in host.addresses) and host.status != "ip-literal":
        yield finding(MX_NO_IPV6, host.name, f"{host.name} has A records only: {', '.join(host.addresses)}")
    confirmed = dict(host.fcrdns)
    for address, ptr_name in host.ptr:
        if not ptr_name:
            yield finding(PTR_MISSING, address, f"{address} ({host.name}) has no PTR record")
        elif confirmed.get(address) is False:
            yield finding(PTR_MISMATCH, address, f"{address} PTR {ptr_name}, which does not resolve back to {address}")


def _policies(d: DomainDns) -> Iterator[Finding]:
    kinds = {r.kind for r in d.records}
    for record in d.records:
        if record.kind == "SPF":
            yield from _spf(record)
        elif record.kind == "DMARC":
            yield from _dmarc(record)
        elif record.kind == "MTA-STS":
            yield from _sts_txt(d, record)
        elif record.kind == "MTA-STS-POLICY":
            yield from _sts_policy(record)
        elif record.kind == "TLS-RPT":
            yield from _tlsrpt(d, record, kinds)
        elif record.kind == "TLSA":
            yield from _tlsa(record)
        elif record.kind == "DKIM":
            yield from _dkim(record)
        elif record.kind == "DNSBL":
            if record.status == "listed":
                yield finding(DNSBL_LISTED, record.value, f"{record.name}: {record.detail}")
            elif record.status == "error":
                yield finding(DNSBL_ERROR, record.value, record.detail)


def _spf(record: DnsRecord) -> Iterator[Finding]:
    where = record.name
    simple = {
        "missing": SPF_MISSING,
        "multiple": SPF_MULTIPLE,
        "invalid": SPF_SYNTAX,
        "lookup-limit": SPF_TOO_MANY_LOOKUPS,
        "void-limit": SPF_VOID_LIMIT,
        "include-error": SPF_INCLUDE_ERROR,
        "void-lookup": SPF_VOID_LOOKUP,
        "error": SPF_ERROR,
    }
    if record.status in simple:
        evidence = f"{record.value} — {record.detail}" if record.value else record.detail
        yield finding(simple[record.status], where, evidence)
    if record.status not in ("ok", "lookup-limit", "void-limit", "include-error", "void-lookup"):
        return
    parsed = spf.parse_spf(record.value)
    qualifier = parsed.all_qualifier
    if qualifier == "+":
        yield finding(SPF_PASS_ALL, where, record.value)
    elif qualifier == "?":
        yield finding(SPF_NEUTRAL_ALL, where, record.value)
    elif qualifier == "~":
        yield finding(SPF_SOFTFAIL_ALL, where, record.value)
    elif qualifier is None and parsed.redirect is None:
        yield finding(SPF_NO_ALL, where, record.value)
    for warning in parsed.warnings:
        yield finding(SPF_WARNING, where, warning)


def _dmarc(record: DnsRecord) -> Iterator[Finding]:
    where = record.name
    simple = {"missing": DMARC_MISSING, "multiple": DMARC_MULTIPLE, "invalid": DMARC_SYNTAX, "error": DMARC_ERROR}
    if record.status in simple:
        evidence = f"{record.value} — {record.detail}" if record.value else record.detail
        yield finding(simple[record.status], where, evidence)
        return
    parsed = dmarc.parse_dmarc(record.value)
    policy = parsed.policy
    if record.status == "inherited":  # the parent's subdomain policy is the one that applies here
        yield finding(DMARC_INHERITED, where, record.detail)
        policy = parsed.subdomain_policy
    if policy == "none":
        yield finding(DMARC_POLICY_NONE, where, record.value)
    elif parsed.subdomain_policy == "none" and record.status != "inherited":
        yield finding(DMARC_SUBDOMAIN_NONE, where, record.value)
    if parsed.pct < 100 and policy != "none":
        yield finding(DMARC_PARTIAL, where, f"pct={parsed.pct}")
    if not parsed.rua:
        yield finding(DMARC_NO_RUA, where, record.value)


def _sts_txt(d: DomainDns, record: DnsRecord) -> Iterator[Finding]:
    if record.status == "missing" and d.mx:
        yield finding(STS_MISSING, d.domain, record.detail)
    elif record.status in ("invalid", "multiple"):
        yield finding(STS_TXT_INVALID, record.name, f"{record.value} — {record.detail}")


def _sts_policy(record: DnsRecord) -> Iterator[Finding]:
    if record.status == "invalid":
        yield finding(STS_POLICY_INVALID, record.name, record.detail)
        return
    if record.status in ("skipped-nonpublic", "blocked"):
        return  # mailprobe chose not to fetch (non-public address, the safety guard): no verdict on the domain
    if record.status not in ("ok", "mx-mismatch"):
        yield finding(STS_FETCH_FAILED, record.name, f"{record.status}: {record.detail}")
        return
    policy = parse_sts_policy(record.value)
    if record.status == "mx-mismatch":
        unmatched = record.detail.rpartition("MX not in policy: ")[2]
        yield finding(STS_MX_MISMATCH, record.name, f"mode {policy.mode}; not matched by any mx: {unmatched}",
                      severity=Severity.MEDIUM if policy.mode != "enforce" else None)  # fmt: skip
    if policy.mode == "testing":
        yield finding(STS_TESTING, record.name, "mode: testing")
    elif policy.mode == "none":
        yield finding(STS_MODE_NONE, record.name, "mode: none")
    if policy.max_age is not None and policy.max_age < SHORT_STS_MAX_AGE and policy.mode != "none":
        yield finding(STS_SHORT_MAX_AGE, record.name, f"max_age: {policy.max_age}")


def _tlsrpt(d: DomainDns, record: DnsRecord, kinds: set[str]) -> Iterator[Finding]:
    if record.status == "missing":
        uses_tls_policy = any(
            r.status in ("ok", "mx-mismatch") and r.kind in ("MTA-STS-POLICY", "TLSA") for r in d.records
        )
        if uses_tls_policy:
            yield finding(TLSRPT_MISSING, d.domain, record.detail)
    elif record.status in ("invalid", "multiple"):
        yield finding(TLSRPT_INVALID, record.name, f"{record.value} — {record.detail}")


def _tlsa(record: DnsRecord) -> Iterator[Finding]:
    if record.status != "ok":
        return
    parsed = dane_records.parse_tlsa(record.value)
    if parsed is None:
        yield finding(DANE_INVALID, record.name, record.value)
        return
    if not parsed.supported:
        yield finding(DANE_UNSUPPORTED, record.name, f"{record.value.split(' ', 3)[:3]} = {parsed.describe()}")
    if "not DNSSEC" in record.detail:
        yield finding(DANE_UNAUTHENTICATED, record.name, "TLSA answer without the AD bit")


def _dkim(record: DnsRecord) -> Iterator[Finding]:
    where = record.name
    if record.status == "missing":
        yield finding(DKIM_MISSING, where, record.detail or "no TXT record")
    elif record.status == "error":
        yield finding(DKIM_ERROR, where, record.detail)
    elif record.status == "invalid":
        yield finding(DKIM_INVALID, where, record.detail)
    elif record.status == "revoked":
        yield finding(DKIM_REVOKED, where, "p= is empty")
    elif record.status == "ok":
        key = dkim.parse_dkim(record.value)
        if key.key_type == "rsa" and 0 < key.key_bits < SHORT_DKIM_BITS:
            severity = Severity.HIGH if key.key_bits < WEAK_DKIM_BITS else None
            yield finding(DKIM_WEAK_KEY, where, f"RSA {key.key_bits} bits", severity=severity)
        if key.testing:
            yield finding(DKIM_TESTING, where, "t=y")


# --- DANE against the certificates the handshake stage saw -----------------------------------------------


def check_dane(d: DomainDns, handshakes: Iterable[HandshakeResult]) -> list[Finding]:
    """For every MX with TLSA records, the certificate served on port 25 must match one of them."""
    tlsa_by_host: dict[str, list[DnsRecord]] = {}
    for record in d.records:
        if record.kind == "TLSA" and record.status == "ok":
            host = record.name.removeprefix("_25._tcp.").rstrip(".").lower()
            tlsa_by_host.setdefault(host, []).append(record)
    out: list[Finding] = []
    if not tlsa_by_host:
        return out
    for h in handshakes:
        host = h.target.host.rstrip(".").lower()
        records = tlsa_by_host.get(host)
        if not records or h.target.service is not Service.SMTP:
            continue
        where = f"{host} [{h.target.address}]:{h.target.port}"
        usable = [r for r in records if (p := dane_records.parse_tlsa(r.value)) is not None and p.supported]
        if h.tls is None or not h.tls.chain:
            if h.status.value in ("success", "post-tls-error", "tls-handshake-error"):
                why = h.tls_error or f"STARTTLS {h.starttls.value}"
                out.append(finding(DANE_NO_TLS, where, f"{len(records)} TLSA record(s); {why}"))
            continue
        if not usable:
            continue
        if not any(dane_records.chain_matches(r, h.tls.chain) for r in usable):
            leaf = h.tls.chain[0]
            evidence = (
                f"TLSA {'; '.join(r.value[:24] + '…' for r in usable)} vs certificate sha256 "
                f"{leaf.fingerprint_sha256[:16]}…, SPKI sha256 {leaf.spki_sha256[:16]}…"
            )
            out.append(finding(DANE_MISMATCH, where, evidence))
    return out
