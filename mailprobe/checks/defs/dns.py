"""Findings about a domain's MX hosts, addresses, reverse DNS, DNSSEC and blocklists.

Definitions only; the logic is in mailprobe.checks.
"""

from __future__ import annotations

from mailprobe.checks.catalogue import define
from mailprobe.model import Category, Severity

MX_NONE = define(
    "MX-NONE", Severity.HIGH, Category.DNS, "Domain has no MX and no address",
    "Neither an MX record nor an A/AAAA record exists: no mail can be delivered to the domain (RFC 5321 5.1). "
    "If the domain sends no mail and receives none, publish a null MX instead so senders fail fast.",
    "Publish MX records for the mail servers, or `MX 0 .` (RFC 7505) if the domain takes no mail.",
    "example.test. MX -> NOERROR, no answer; A -> no answer; AAAA -> no answer",
)  # fmt: skip

MX_NULL = define(
    "MX-NULL", Severity.INFO, Category.DNS, "Domain accepts no mail (null MX)",
    "`MX 0 .` (RFC 7505) says the domain receives no mail; senders reject mail to it at once. Nothing to probe.",
    "Nothing to do if intended; otherwise replace the null MX with real MX records.",
    "example.test. MX 0 .",
)  # fmt: skip

MX_NULL_MIXED = define(
    "MX-NULL-MIXED", Severity.MEDIUM, Category.DNS, "Null MX published beside other MX records",
    "RFC 7505 3: a null MX must be the only MX record. Mixed with others, senders may treat the domain as "
    "accepting no mail or ignore the null MX, depending on the software.",
    "Remove either the `MX 0 .` record or the other MX records.",
)  # fmt: skip

MX_IMPLICIT = define(
    "MX-IMPLICIT", Severity.LOW, Category.DNS, "No MX record: mail goes to the domain's address (implicit MX)",
    "Without MX records senders deliver to the domain's own A/AAAA (RFC 5321 5.1). It works, but it is "
    "often accidental (a web server receiving mail) and gives no way to add a backup.",
    "Publish an MX record naming the mail server (or a null MX if the domain takes no mail).",
)  # fmt: skip

MX_NXDOMAIN = define(
    "MX-NXDOMAIN", Severity.HIGH, Category.DNS, "Domain does not exist (NXDOMAIN)",
    "The resolver says the name does not exist: mail to it bounces.",
    "Check the spelling, the registration and the delegation of the domain.",
)  # fmt: skip

MX_SERVFAIL = define(
    "MX-SERVFAIL", Severity.HIGH, Category.DNS, "MX lookup failed (SERVFAIL)",
    "The resolver could not get an answer (broken delegation, DNSSEC validation failure, dead name servers). "
    "Senders queue mail and retry; nothing is delivered meanwhile.",
    "Check the domain's name servers and DNSSEC (e.g. with `dig +trace`, `delv`); fix the delegation.",
)  # fmt: skip

MX_REFUSED = define(
    "MX-REFUSED", Severity.HIGH, Category.DNS, "MX lookup refused (REFUSED)",
    "The name server refused the query: it is not authoritative for the domain or does not serve this "
    "client. Through a real resolver this means the delegation points at servers that do not serve the zone.",
    "Check that the delegated name servers serve the zone (and that --resolver is a resolver for this domain).",
)  # fmt: skip

MX_TIMEOUT = define(
    "MX-TIMEOUT", Severity.HIGH, Category.DNS, "MX lookup timed out",
    "No answer within the deadline: the domain's name servers are unreachable or too slow. Senders retry "
    "later; mail is delayed.",
    "Check that the domain's name servers answer over UDP and TCP on port 53.",
)  # fmt: skip

MX_ERROR = define(
    "MX-ERROR", Severity.HIGH, Category.DNS, "MX lookup failed",
    "The MX lookup ended in an error other than NXDOMAIN/SERVFAIL/timeout (see the evidence): a CNAME loop, "
    "an unexpected response code, or a reply that is not DNS.",
    "Fix the record or the server named in the evidence.",
)  # fmt: skip

MX_DUPLICATE = define(
    "MX-DUPLICATE", Severity.LOW, Category.DNS, "The same host appears in several MX records",
    "A host listed twice adds no redundancy; usually a leftover from a migration.",
    "Keep one MX record per host.",
)  # fmt: skip

MX_CNAME = define(
    "MX-CNAME", Severity.MEDIUM, Category.DNS, "MX target is a CNAME",
    "RFC 2181 10.3 and RFC 5321 5.1: an MX must name a host with A/AAAA records, not an alias. Many senders "
    "follow the alias anyway, some refuse, and DANE/MTA-STS name checks get confusing.",
    "Point the MX at the canonical name (the CNAME's target).",
    "example.test. MX 10 mail.example.test.   mail.example.test. CNAME host.provider.test.",
)  # fmt: skip

MX_CNAME_LOOP = define(
    "MX-CNAME-LOOP", Severity.HIGH, Category.DNS, "MX target is a CNAME loop",
    "The MX target's aliases point at each other: it never resolves, no mail is delivered to it.",
    "Break the loop: give the MX target A/AAAA records.",
)  # fmt: skip

MX_DANGLING = define(
    "MX-DANGLING", Severity.HIGH, Category.DNS, "MX target has no address",
    "The MX names a host without A or AAAA records (or one that does not exist): senders cannot deliver "
    "through it. If it is the only MX, mail to the domain bounces.",
    "Add A/AAAA records for the MX host or remove the MX record.",
)  # fmt: skip

MX_LOOKUP_FAILED = define(
    "MX-LOOKUP-FAILED", Severity.MEDIUM, Category.DNS, "MX target's address lookup failed",
    "The A/AAAA lookup of the MX host timed out or failed: senders cannot reach the host until it answers.",
    "Check the name servers of the MX host's zone.",
)  # fmt: skip

MX_IP_LITERAL = define(
    "MX-IP-LITERAL", Severity.HIGH, Category.DNS, "MX target is an IP address",
    "An MX must hold a host name. `MX 10 198.51.100.25.` is a name of four labels under a top-level domain "
    "`25`, not an address; senders look it up as a name and fail. mailprobe never uses it as an address.",
    "Create a host name with an A/AAAA record for the address and point the MX at it.",
    "example.test. MX 10 198.51.100.25.",
)  # fmt: skip

MX_NONPUBLIC = define(
    "MX-NONPUBLIC", Severity.HIGH, Category.DNS, "MX target has a non-public address",
    "The resolver mailprobe asked says the MX host has a loopback, private, link-local, documentation or "
    "otherwise non-routable address. If public DNS says so too, senders on the Internet cannot reach it (and "
    "some will try to deliver inside their own network); a resolver inside your network may give an internal "
    "view instead (split-horizon DNS). mailprobe does not probe it unless --allow-nonpublic.",
    "Ask a public resolver (--resolver) to see what senders see; if it gives the same address, publish the "
    "server's public one (split-horizon DNS leaking internal records is a common cause).",
    "mx.example.test. A 10.0.0.25",
)  # fmt: skip

MX_NO_IPV6 = define(
    "MX-NO-IPV6", Severity.INFO, Category.DNS, "MX target has no IPv6 address",
    "The host has only A records; IPv6-only senders cannot reach it.",
    "Add an AAAA record if the server is reachable over IPv6.",
)  # fmt: skip

DOMAIN_CNAME = define(
    "DOMAIN-CNAME", Severity.INFO, Category.DNS, "Mail domain is an alias (CNAME)",
    "The domain's MX records come through a CNAME. It works, but the domain can then hold no other "
    "records of its own (SPF, MX of its own) and many tools get confused.",
    "Nothing to do if intended.",
)  # fmt: skip

PTR_MISSING = define(
    "PTR-MISSING", Severity.MEDIUM, Category.DNS, "Mail server address has no reverse DNS (PTR)",
    "Many receivers reject or score down mail from addresses without a PTR record.",
    "Ask whoever controls the address block (hosting provider, ISP) to set a PTR naming the server.",
    "25.100.51.198.in-addr.arpa. PTR -> NXDOMAIN",
)  # fmt: skip

PTR_MISMATCH = define(
    "PTR-MISMATCH", Severity.MEDIUM, Category.DNS, "Reverse DNS is not forward-confirmed (FCrDNS)",
    "The PTR name does not resolve back to the address. Receivers (and their spam filters) treat this like "
    "a missing PTR.",
    "Make the PTR name's A/AAAA record include this address, or change the PTR to a name that does.",
    "198.51.100.25 PTR mail.example.test.; mail.example.test. A 198.51.100.99",
)  # fmt: skip

PTR_ERROR = define(
    "PTR-ERROR", Severity.LOW, Category.DNS, "Reverse DNS lookup failed",
    "The PTR lookup timed out or failed, so reverse DNS could not be checked; receivers meet the same failure.",
    "Check the name servers of the reverse zone.",
)  # fmt: skip

DNSBL_LISTED = define(
    "DNSBL-LISTED", Severity.HIGH, Category.DNS, "Mail server address is on a DNS blocklist",
    "Receivers using the list reject or score down mail from the address.",
    "Find and stop the cause (compromised account, open relay, bad neighbour), then request delisting at the "
    "list's site (the TXT reason usually links it).",
    "25.100.51.198.zen.example. A 127.0.0.2  TXT \"listed: see https://...\"",
)  # fmt: skip

DNSBL_ERROR = define(
    "DNSBL-ERROR", Severity.INFO, Category.DNS, "Blocklist could not be checked",
    "The blocklist lookup failed or returned an error code (many lists refuse queries through public "
    "resolvers, answering 127.255.255.x).",
    "Use a resolver the list accepts (your own recursive resolver), or drop the list from the profile.",
)  # fmt: skip

DNSSEC_UNSIGNED = define(
    "DNSSEC-UNAUTHENTICATED", Severity.INFO, Category.DNS, "DNS answers are not DNSSEC-authenticated",
    "The resolver did not set the AD bit: the zone is unsigned or the resolver does not validate. Without "
    "DNSSEC, DANE cannot be used and answers can be forged on the path.",
    "Sign the zone with DNSSEC; use a validating resolver for the check.",
)  # fmt: skip
