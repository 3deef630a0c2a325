"""DMARC policy records judged by RFC 9989 (DMARCbis, which obsoletes RFC 7489), sans I/O.

Where RFC 7489 readers (still common among receivers) differ, the messages say so. What RFC 9989 says:
- the record starts with the version tag: `v` (case-insensitive, as every ABNF literal) `=` and `DMARC1`
  (case-sensitive), with no whitespace before it; tags are separated by `;` (4.7, 4.8);
- a record without `p` is treated as `p=none` (4.7); an invalid `p`, `sp` or `np` makes receivers act as if
  the record said `p=none` when `rua` holds a valid URI, and apply no DMARC otherwise (4.10.1);
- any other syntax error is discarded in favour of the tag's default (4.8): an invalid `adkim` is `r`;
- `pct`, `rf` and `ri` are removed (historic in the DMARC Tags registry, 9.3); unknown tags are ignored;
- `t=y` asks receivers to apply one level below the policy (4.7); `np` is the policy for non-existent
  subdomains, falling back to `sp`, then `p`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailprobe.decimal_text import is_decimal
from mailprobe.records.tags import TagRecord

POLICIES = ("none", "quarantine", "reject")
POLICY_TAGS = ("p", "sp", "np")
REMOVED_TAGS = ("pct", "rf", "ri")  # RFC 9989 9.3: historic
KNOWN_TAGS = ("v", "p", "sp", "np", "adkim", "aspf", "fo", "rua", "ruf", "t", "psd", *REMOVED_TAGS)
DEFAULTS = {"adkim": "r", "aspf": "r", "fo": "0", "t": "n", "psd": "u"}
VERSION = "DMARC1"

# A TXT record at _dmarc that begins like a DMARC record, however broken the rest: judged, not ignored.
_CANDIDATE = re.compile(r"^v[ \t]*=[ \t]*DMARC1", re.IGNORECASE)
_LEADING_CANDIDATE = re.compile(r"^\s+v[ \t]*=[ \t]*DMARC1", re.IGNORECASE)
_TAG_NAME = re.compile(r"^[A-Za-z]+$")
_GLUED_TAG = re.compile(r"[\s,]+[A-Za-z]+[ \t]*=")  # "DMARC1 p=reject": a tag after a space, not a ";"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s,!]+(![0-9]+[kmgtKMGT]?)?$")
_SIZE_SUFFIX = re.compile(r"![0-9]+[kmgtKMGT]?$")


@dataclass(frozen=True, slots=True)
class TagFault:
    """A tag whose value is not valid, and what receivers use instead."""

    tag: str
    value: str
    reason: str
    applies: str  # the value receivers use instead ("r", "none", ...), "" when the tag is simply ignored


# `errors` make receivers ignore the whole record (the DNS stage marks it invalid); the rest is judged from
# `tags` by the properties. (No docstring: it would change the report's JSON schema.)
@dataclass(frozen=True, slots=True)
class DmarcRecord(TagRecord):
    warnings: tuple[str, ...]

    @property
    def policy_faults(self) -> tuple[TagFault, ...]:
        """Invalid p, sp or np: with a valid rua the record acts as `p=none`, without it it is ignored."""
        return tuple(f for f in self.tag_faults() if f.tag in POLICY_TAGS)

    @property
    def policy_missing(self) -> bool:
        return self.tag("p") is None

    @property
    def policy(self) -> str:
        """The policy receivers apply to the domain itself (RFC 9989 4.7, 4.10.1)."""
        if self.policy_faults:
            return "none"
        return _policy_value(self.tag("p")) or "none"

    def stated_policy(self, tag: str) -> str | None:
        """The policy a p=, sp= or np= tag states, lower-case; None when absent or not a policy value."""
        return _policy_value(self.tag(tag))

    @property
    def subdomain_policy(self) -> str:
        """sp=, else p= (RFC 9989 4.7)."""
        if self.policy_faults:
            return "none"
        return _policy_value(self.tag("sp")) or self.policy

    @property
    def nonexistent_policy(self) -> str:
        """np= for subdomains that do not exist, else sp=, else p= (RFC 9989 4.7)."""
        if self.policy_faults:
            return "none"
        return _policy_value(self.tag("np")) or self.subdomain_policy

    @property
    def testing(self) -> bool:
        """t=y: receivers apply one level below the policy (reject as quarantine, quarantine as none)."""
        return (self.tag("t") or "").lower() == "y"

    @property
    def removed_tags(self) -> tuple[tuple[str, str], ...]:
        """pct, rf and ri: gone from RFC 9989; RFC 7489 receivers may still apply them."""
        return tuple((k, v) for k, v in self.tags if k in REMOVED_TAGS)

    @property
    def pct(self) -> int:
        """RFC 7489's sampling rate (100 when absent or not a number 0-100)."""
        value = self.tag("pct")
        return int(value) if value is not None and is_decimal(value) and int(value) <= 100 else 100

    @property
    def rua(self) -> tuple[str, ...]:
        return _uris(self.tag("rua"))

    @property
    def ruf(self) -> tuple[str, ...]:
        return _uris(self.tag("ruf"))

    def tag_faults(self) -> tuple[TagFault, ...]:
        """Every known tag (removed ones aside) whose value is not valid, with the value receivers use."""
        faults = []
        seen: set[str] = set()
        for key, value in self.tags:
            if key == "v" or key not in KNOWN_TAGS or key in REMOVED_TAGS:
                continue
            if key in seen:
                faults.append(TagFault(key, value, f"{key}= appears more than once", _fallback(key)))
                continue
            seen.add(key)
            reason = _value_fault(key, value)
            if reason:
                faults.append(TagFault(key, value, reason, _fallback(key)))
        return tuple(faults)


def _fallback(key: str) -> str:
    return "none" if key in POLICY_TAGS else DEFAULTS.get(key, "")


def _policy_value(value: str | None) -> str | None:
    return value.lower() if value is not None and value.lower() in POLICIES else None


def _uris(value: str | None) -> tuple[str, ...]:
    """The valid reporting URIs of rua/ruf (invalid ones are ignored by receivers)."""
    if not value:
        return ()
    return tuple(u for u in (part.strip() for part in value.split(",")) if _URI.match(u) and _is_address_ok(u))


def _is_address_ok(uri: str) -> bool:
    return not uri.lower().startswith("mailto:") or "@" in uri


def is_dmarc(text: str) -> bool:
    """A TXT record at _dmarc that is meant as DMARC: it starts with v=DMARC1, in any case (RFC 9989 4.10:
    records that do not start so are discarded); anything wrong after that is judged, not ignored."""
    return bool(_CANDIDATE.match(text))


def dmarc_records(txts: tuple[str, ...] | list[str]) -> list[str]:
    """The DMARC records among the TXT strings at _dmarc; when there is none, records that would be one
    but for leading whitespace (RFC 9989 receivers discard them; the admin should hear why)."""
    found = [t for t in txts if is_dmarc(t)]
    return found or [t for t in txts if _LEADING_CANDIDATE.match(t)]


def parse_dmarc(text: str) -> DmarcRecord:
    """Parse one DMARC record; faults become `errors` (the record is ignored) or are left for the properties
    (a tag falls back to its default), never exceptions."""
    errors: list[str] = []
    warnings: list[str] = []
    stripped = text.lstrip()
    if stripped != text:
        errors.append(
            "the record starts with whitespace: RFC 9989 receivers discard a record that does not start with "
            "v=DMARC1 (some RFC 7489 parsers trim it)"
        )
    parts = stripped.split(";")
    if len(parts) > 1 and not parts[-1].strip():
        parts.pop()  # a trailing ";" is allowed
    tags: list[tuple[str, str]] = []
    version = _version(parts[0])
    errors.extend(version[1])
    tags.append(("v", version[0]))
    for part in parts[1:]:
        tag, note = _tag(part)
        if tag is not None:
            tags.append(tag)
        if note:
            warnings.append(note)
    record = DmarcRecord(text, tuple(tags), (), ())
    errors.extend(_policy_errors(record))
    warnings.extend(_warnings(record))
    return DmarcRecord(text, tuple(tags), tuple(errors), tuple(warnings))


def _version(first: str) -> tuple[str, list[str]]:
    key, sep, value = first.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or key.lower() != "v":
        return value, [f"the record must start with v=DMARC1 (found '{first.strip()[:40]}')"]
    if value == VERSION:
        return value, []
    if value[: len(VERSION)].upper() == VERSION and (_GLUED_TAG.search(value) or "=" in value[len(VERSION) :]):
        glued = f"'{first.strip()}'"
        return value, [f"tags must be separated by ';' ({glued} is read as one tag): receivers ignore the record"]
    if value.upper() == VERSION:
        return value, [f"v={value}: the version is DMARC1 in capitals (case-sensitive in RFC 9989 and RFC 7489)"]
    return value, [f"v={value}: the version must be DMARC1"]


def _tag(part: str) -> tuple[tuple[str, str] | None, str]:
    """One `name=value` of the record; a part that is none is ignored (RFC 9989 4.8), with a note why."""
    if not part.strip():
        return None, "an empty tag between two ';' (ignored)"
    key, sep, value = part.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not _TAG_NAME.match(key):
        return None, f"'{part.strip()}' is not a tag=value pair (ignored)"
    return (key.lower(), value), ""


def _value_fault(key: str, value: str) -> str:
    if _GLUED_TAG.search(value):
        return f"'{key}={value}': tags must be separated by ';'"
    if key in POLICY_TAGS:
        return "" if value.lower() in POLICIES else f"{key}={value}: must be none, quarantine or reject"
    if key in ("adkim", "aspf"):
        return "" if value.lower() in ("r", "s") else f"{key}={value}: must be r or s"
    if key == "t":
        return "" if value.lower() in ("y", "n") else f"t={value}: must be y or n"
    if key == "psd":
        return "" if value.lower() in ("y", "n", "u") else f"psd={value}: must be y, n or u"
    if key in ("rua", "ruf"):
        bad = [u.strip() for u in value.split(",") if not (_URI.match(u.strip()) and _is_address_ok(u.strip()))]
        return f"{key}={value}: not a URI (mailto:... or https://...): {', '.join(bad) or '(empty)'}" if bad else ""
    if key == "fo":
        options = [o.strip().lower() for o in value.split(":")]
        ok = all(o in ("0", "1", "d", "s") for o in options) and len(set(options)) == len(options)
        return "" if ok and not {"0", "1"} <= set(options) else f"fo={value}: options are 0 or 1, d, s"
    return ""


def _policy_errors(record: DmarcRecord) -> list[str]:
    """An invalid p/sp/np with no valid rua: receivers apply no DMARC at all (RFC 9989 4.10.1)."""
    faults = record.policy_faults
    if not faults or record.rua:
        return []
    named = "; ".join(f.reason for f in faults)
    return [f"{named}; with no valid rua= URI receivers apply no DMARC at all (RFC 9989 4.10.1)"]


def _warnings(record: DmarcRecord) -> list[str]:
    warnings = []
    for key, _ in record.tags:
        if key not in KNOWN_TAGS:
            warnings.append(f"unknown tag {key}= (ignored by receivers)")
    keys = [k for k, _ in record.tags]
    if "p" in keys and keys.index("p") != 1:
        warnings.append("p= is not right after v=DMARC1 (RFC 9989 allows any order; RFC 7489 asked for it second)")
    for key in ("rua", "ruf"):
        if any(_SIZE_SUFFIX.search(u) for u in _uris(record.tag(key))):
            warnings.append(f"{key}: the !size suffix is obsolete in RFC 9989 (reporters ignore it)")
    return warnings
