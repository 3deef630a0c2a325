"""SPF records (RFC 7208): parse and judge, sans I/O. The recursive lookup count is done by the resolver.

The term grammar (domain-specs, macros, CIDR lengths, addresses) is in `spf_grammar`; this module splits a
record into terms, applies the record-level rules and answers what the resolver and the checks ask.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailprobe.records import spf_grammar as grammar
from mailprobe.records.spf_grammar import MECHANISMS, QUALIFIERS, show

MAX_LOOKUPS = 10  # RFC 7208 4.6.4: more is a permerror
MAX_VOID_LOOKUPS = 2
LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
VERSION = "v=spf1"

__all__ = ["MAX_LOOKUPS", "MAX_VOID_LOOKUPS", "MECHANISMS", "QUALIFIERS", "AddressTerm", "SpfRecord", "Term"]


@dataclass(frozen=True, slots=True)
class Term:
    qualifier: str  # "+", "-", "~", "?" ("" for modifiers)
    name: str  # lower-case mechanism or modifier name
    value: str  # the argument after ":" or "=" ("" when absent); a/mx keep their CIDR lengths here
    modifier: bool = False

    @property
    def domain(self) -> str:
        """The domain-spec part of a mechanism's argument, without CIDR lengths."""
        if self.modifier:
            return self.value
        if self.name in ("ip4", "ip6"):
            return ""
        if self.name in ("a", "mx"):
            return grammar.split_dual_cidr(self.value)[0]
        return self.value

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
    """RFC 7208 4.5: exactly `v=spf1` (in any case), then a space or the end of the record."""
    return text[: len(VERSION)].lower() == VERSION and text[len(VERSION) : len(VERSION) + 1] in ("", " ")


def spf_records(txts: tuple[str, ...] | list[str]) -> list[str]:
    """The TXT strings that are SPF records."""
    return [t for t in txts if is_spf(t)]


def parse_spf(text: str) -> SpfRecord:
    """Parse one SPF record by the ABNF of RFC 7208 section 12; faults become `errors`, never exceptions."""
    if not is_spf(text):
        return SpfRecord(text, (), ("does not start with v=spf1 followed by a space or the end",), ())
    errors: list[str] = []
    warnings: list[str] = []
    if text[: len(VERSION)] != VERSION:
        warnings.append("version tag is not lower-case")
    terms: list[Term] = []
    for raw in text[len(VERSION) :].split(" "):  # terms = *( 1*SP ( directive / modifier ) ): SP only
        if not raw:
            continue
        term, fault = _parse_term(raw)
        if fault:
            errors.append(f"'{show(raw)}': {fault}")
        elif term is not None:
            terms.append(term)
    errors.extend(_record_faults(terms))
    warnings.extend(_record_warnings(terms))
    return SpfRecord(text, tuple(terms), tuple(errors), tuple(warnings))


def _record_faults(terms: list[Term]) -> list[str]:
    faults = []
    for name in ("redirect", "exp"):
        count = sum(1 for t in terms if t.modifier and t.name == name)
        if count > 1:
            faults.append(f"{name}= appears {count} times (at most once, RFC 7208 6)")
    return faults


def _record_warnings(terms: list[Term]) -> list[str]:
    warnings = []
    names = [t.name for t in terms if not t.modifier]
    if "all" in names:
        after = names[names.index("all") + 1 :]
        if after:
            warnings.append(f"mechanisms after 'all' are never used: {' '.join(after)}")
        if any(t.modifier and t.name == "redirect" for t in terms):
            warnings.append("redirect= is ignored because the record has 'all'")
    if "ptr" in names:
        warnings.append("'ptr' is deprecated (RFC 7208 5.5): slow and unreliable")
    return warnings


def _parse_term(raw: str) -> tuple[Term | None, str]:
    fault = grammar.char_fault(raw)
    if fault:
        return None, fault
    # A modifier's name is followed by "=" before any ":" or "/" (RFC 7208 4.6.1).
    cut = min((i for i in (raw.find("="), raw.find(":"), raw.find("/")) if i >= 0), default=-1)
    if cut >= 0 and raw[cut] == "=":
        return _parse_modifier(raw[:cut], raw[cut + 1 :])
    qualifier = raw[0] if raw[0] in QUALIFIERS else ""
    body = raw[len(qualifier) :]
    end = min((i for i in (body.find(":"), body.find("/")) if i >= 0), default=len(body))
    name, rest = body[:end].lower(), body[end:]
    if name not in MECHANISMS:
        hint = " (redirect and exp are modifiers: name=value)" if name in ("redirect", "exp") else ""
        return None, f"unknown mechanism '{show(body[:end])}'{hint}"
    fault = _argument_fault(name, rest)
    if fault:
        return None, fault
    return Term(qualifier or "+", name, rest[1:] if rest.startswith(":") else rest), ""


def _parse_modifier(name: str, value: str) -> tuple[Term | None, str]:
    if name.lower() in MECHANISMS or (name[:1] in QUALIFIERS and name[1:].lower() in MECHANISMS):
        return None, "a mechanism written as a modifier (mechanisms take ':')"
    fault = grammar.modifier_name_fault(name)
    if fault:
        return None, fault
    lower = name.lower()
    if lower in ("redirect", "exp"):
        fault = grammar.domain_spec_fault(value)
        return (None, f"{lower}= needs a domain: {fault}") if fault else (Term("", lower, value, True), "")
    fault = grammar.macro_string_fault(value)  # unknown-modifier = name "=" macro-string
    return (None, f"the value is not a macro-string: {fault}") if fault else (Term("", lower, value, True), "")


def _argument_fault(name: str, rest: str) -> str:
    """What follows a mechanism's name: nothing, ":" and an argument, or (a, mx) CIDR lengths."""
    argument = rest[1:] if rest.startswith(":") else None
    if name == "all":
        return "'all' takes no argument" if rest else ""
    if name in ("ip4", "ip6"):
        if argument is None:
            return f"{name} needs ':' and an address"
        return grammar.network_fault(name, argument)
    if name in ("include", "exists", "ptr"):
        if argument is None and rest:
            return f"{name} takes no CIDR length"
        if argument is None:
            return "" if name == "ptr" else f"{name} needs ':' and a domain"
        domain, v4, v6 = grammar.split_dual_cidr(argument)
        if (v4 is not None or v6 is not None) and not grammar.domain_spec_fault(domain):
            return f"{name} takes no CIDR length"
        fault = grammar.domain_spec_fault(argument)
        return f"bad domain: {fault}" if fault else ""
    # a, mx: [":" domain-spec] [dual-cidr-length]
    domain, v4, v6 = grammar.split_dual_cidr(argument if argument is not None else rest)
    if argument is None and domain:
        return f"'{show(rest)}' is not a CIDR length"
    if argument is not None:
        fault = grammar.domain_spec_fault(domain)
        if fault:
            return f"bad domain: {fault}"
    if v4 is not None:
        fault = grammar.cidr_fault(v4, 4)
        if fault:
            return fault
    return grammar.cidr_fault(v6, 6) if v6 is not None else ""
