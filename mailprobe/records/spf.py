"""SPF records (RFC 7208): parse and judge, sans I/O. The recursive lookup count is done by the resolver."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MAX_LOOKUPS = 10  # RFC 7208 4.6.4: more is a permerror
MAX_VOID_LOOKUPS = 2

QUALIFIERS = "+-~?"
MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
_VERSION = re.compile(r"^v=spf1(?:\s|$)", re.IGNORECASE)
_MODIFIER = re.compile(r"^([a-z][a-z0-9_.-]*)=(.*)$", re.IGNORECASE)
_CIDR = re.compile(r"^(.*?)(?:/(\d+))?(?://(\d+))?$")
_MACRO = re.compile(r"%\{[slodiphcrtv]\d*r?[-.+,/_=]*\}|%%|%_|%-", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Term:
    qualifier: str  # "+", "-", "~", "?" ("" for modifiers)
    name: str  # lower-case mechanism or modifier name
    value: str  # the argument after ":" or "=" ("" when absent)
    modifier: bool = False

    @property
    def domain(self) -> str:
        """The domain-spec part of a mechanism's argument, without CIDR lengths."""
        if self.name in ("ip4", "ip6"):
            return ""
        match = _CIDR.match(self.value)
        return match.group(1) if match else self.value

    @property
    def has_macro(self) -> bool:
        return "%" in self.value


@dataclass(frozen=True, slots=True)
class AddressTerm:
    """An a, mx or exists term to look up: its mechanism, the name it asks about, and how it was written."""

    mechanism: str
    target: str
    text: str


@dataclass(frozen=True, slots=True)
class SpfRecord:
    text: str
    terms: tuple[Term, ...]
    errors: tuple[str, ...]  # syntax errors: any one makes the record a permerror
    warnings: tuple[str, ...]  # legal but unwise (ptr, +all, terms after all, ...)

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def all_qualifier(self) -> str | None:
        """The qualifier of the `all` mechanism ("+", "-", "~", "?"), None when there is none."""
        for term in self.terms:
            if term.name == "all" and not term.modifier:
                return term.qualifier
        return None

    @property
    def redirect(self) -> str | None:
        for term in self.terms:
            if term.modifier and term.name == "redirect":
                return term.value
        return None

    def local_lookups(self) -> int:
        """DNS-querying terms in this record alone (include, a, mx, ptr, exists, redirect)."""
        count = sum(1 for t in self.terms if not t.modifier and t.name in LOOKUP_MECHANISMS)
        if self.redirect is not None and self.all_qualifier is None:  # redirect is ignored when all is present
            count += 1
        return count

    def address_terms(self, domain: str) -> tuple[AddressTerm, ...]:
        """The a, mx and exists terms whose lookups can be judged without a sender (no macros).

        A lookup that finds nothing (NXDOMAIN or no records) is a "void lookup": more than two make SPF a
        permerror (RFC 7208 4.6.4); one that fails is a temperror. `domain` is this record's own, the
        default target of a and mx.
        """
        out = []
        for term in self.terms:
            if term.modifier or term.name not in ("a", "mx", "exists") or term.has_macro:
                continue
            target = term.domain or (domain if term.name != "exists" else "")
            if target:
                text = f"{term.name}:{term.domain}" if term.domain else term.name
                out.append(AddressTerm(term.name, target.rstrip(".").lower(), text))
        return tuple(dict.fromkeys(out))

    def followed_domains(self) -> tuple[str, ...]:
        """Domains whose SPF record counts toward this one's limit: include targets and redirect."""
        out = [t.domain for t in self.terms if not t.modifier and t.name == "include" and not t.has_macro]
        redirect = self.redirect
        if redirect is not None and self.all_qualifier is None and "%" not in redirect:
            out.append(redirect)
        return tuple(d.rstrip(".").lower() for d in out if d)


def is_spf(text: str) -> bool:
    return bool(_VERSION.match(text.strip()))


def spf_records(txts: tuple[str, ...] | list[str]) -> list[str]:
    """The TXT strings that are SPF records (RFC 7208 4.5: exactly `v=spf1` then a space or the end)."""
    return [t for t in txts if is_spf(t)]


def parse_spf(text: str) -> SpfRecord:
    """Parse one SPF record; syntax problems become `errors`, never exceptions."""
    errors: list[str] = []
    warnings: list[str] = []
    terms: list[Term] = []
    if not text.isascii():
        errors.append("non-ASCII characters")
    parts = text.split()
    if not parts or parts[0].lower() != "v=spf1":
        return SpfRecord(text, (), ("does not start with v=spf1",), ())
    if parts[0] != "v=spf1":
        warnings.append("version tag is not lower-case")
    seen_modifiers: set[str] = set()
    for raw in parts[1:]:
        term, error = _parse_term(raw)
        if error:
            errors.append(error)
            continue
        assert term is not None
        if term.modifier and term.name in ("redirect", "exp"):
            if term.name in seen_modifiers:
                errors.append(f"{term.name}= appears more than once")
            seen_modifiers.add(term.name)
        terms.append(term)
    names = [t.name for t in terms if not t.modifier]
    if "all" in names:
        after = names[names.index("all") + 1 :]
        if after:
            warnings.append(f"mechanisms after 'all' are never used: {' '.join(after)}")
        if any(t.modifier and t.name == "redirect" for t in terms):
            warnings.append("redirect= is ignored because the record has 'all'")
    if "ptr" in names:
        warnings.append("'ptr' is deprecated (RFC 7208 5.5): slow and unreliable")
    return SpfRecord(text, tuple(terms), tuple(errors), tuple(warnings))


def _parse_term(raw: str) -> tuple[Term | None, str]:
    modifier = _MODIFIER.match(raw)
    if modifier and ":" not in modifier.group(1):
        name, value = modifier.group(1).lower(), modifier.group(2)
        if name in MECHANISMS:
            return None, f"'{raw}': a mechanism written as a modifier"
        if name in ("redirect", "exp") and not _valid_domain_spec(value):
            return None, f"'{raw}': bad domain"
        return Term("", name, value, modifier=True), ""
    qualifier = ""
    body = raw
    if body and body[0] in QUALIFIERS:
        qualifier, body = body[0], body[1:]
    name, sep, value = body.partition(":")
    if not sep and "/" in name and name.split("/", 1)[0].lower() in ("a", "mx"):
        name, value = name.split("/", 1)[0], "/" + name.split("/", 1)[1]
    name = name.lower()
    if name not in MECHANISMS:
        return None, f"'{raw}': unknown mechanism"
    qualifier = qualifier or "+"
    error = _check_argument(name, value, bool(sep), raw)
    if error:
        return None, error
    return Term(qualifier, name, value), ""


def _check_argument(name: str, value: str, has_colon: bool, raw: str) -> str:
    if name == "all":
        return f"'{raw}': 'all' takes no argument" if has_colon or value else ""
    if name in ("include", "exists"):
        if not value:
            return f"'{raw}': {name} needs a domain"
        return "" if _valid_domain_spec(value) else f"'{raw}': bad domain"
    if name in ("ip4", "ip6"):
        return _check_network(name, value, raw)
    if has_colon and not value:
        return f"'{raw}': empty domain after ':'"
    match = _CIDR.match(value)
    assert match is not None
    domain, v4, v6 = match.groups()
    if domain and not _valid_domain_spec(domain):
        return f"'{raw}': bad domain"
    if v4 is not None and int(v4) > 32:
        return f"'{raw}': IPv4 prefix /{v4} is longer than 32"
    if v6 is not None and int(v6) > 128:
        return f"'{raw}': IPv6 prefix //{v6} is longer than 128"
    if name == "ptr" and (v4 is not None or v6 is not None):
        return f"'{raw}': ptr takes no prefix length"
    return ""


def _check_network(name: str, value: str, raw: str) -> str:
    if not value:
        return f"'{raw}': {name} needs an address"
    address, _, prefix = value.partition("/")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"'{raw}': '{address}' is not an IP address"
    if (name == "ip4") != (ip.version == 4):
        return f"'{raw}': {name} with an IPv{ip.version} address"
    if prefix:
        limit = 32 if ip.version == 4 else 128
        if not prefix.isdigit() or int(prefix) > limit:
            return f"'{raw}': bad prefix length /{prefix}"
    return ""


def _valid_domain_spec(value: str) -> bool:
    """A domain-spec: a name, possibly with macros; the last label not all digits (RFC 7208 7.1)."""
    plain = _MACRO.sub("x", value)
    if "%" in plain or not plain or plain.startswith(".") or ".." in plain:
        return False
    if not all(33 <= ord(c) <= 126 for c in plain):
        return False
    labels = plain.rstrip(".").split(".")
    if "%" not in value and len(labels) < 2:
        return False  # a single label is not a domain
    return not labels[-1].isdigit()
