"""SPF records by the RFC 7208 grammar (section 12 ABNF) and record rules: pure, sans I/O.

The RFC 7208 test suite runs against the DNS stage in test_spf_conformance.py; these are the cases the issue
names, each fault checked for the term and the words that name it.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailprobe.records import spf


def test_address_terms_name_what_a_lookup_can_judge_without_a_sender() -> None:
    record = spf.parse_spf(
        "v=spf1 a mx:MX.Example.com/24 a:%{d}.example.com exists:%{i}.bl.example ptr include:x.example -all"
    )
    assert [(t.target, t.mechanism) for t in record.address_terms("example.org")] == [
        ("example.org", "a"),
        ("mx.example.com", "mx"),
    ]
    terms = spf.parse_spf("v=spf1 exists:ok.example a a -all").address_terms("d.example")
    assert [(t.target, t.mechanism, t.text) for t in terms] == [
        ("ok.example", "exists", "exists:ok.example"),
        ("d.example", "a", "a"),
    ]


def test_good_record() -> None:
    record = spf.parse_spf(
        "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8::/32 a mx:mail.example.com/24//64 include:_spf.example.com ~all"
    )
    assert record.valid and record.warnings == ()
    assert record.all_qualifier == "~"
    assert [t.name for t in record.terms] == ["ip4", "ip6", "a", "mx", "include", "all"]
    assert record.local_lookups() == 3
    assert record.followed_domains() == ("_spf.example.com",)
    assert record.terms[3].domain == "mail.example.com"


@pytest.mark.parametrize(
    "text",
    [
        "v=spf1 a  -all",  # 1*SP between terms
        "v=spf1 a -all ",  # *SP at the end
        "v=spf1",
        "V=SpF1 ~all",
        "v=spf1 a/0 a//0 a/32//128 mx:mail.example.com/24//64 ip4:0.0.0.0/0 ip6:::/0 ip6:::ffff:198.51.100.1",
        "v=spf1 moo.cow-far_out=man:dog/cat default=+ x= -all",  # unknown modifiers: name = macro-string
        "v=spf1 exists:%{i}.%{l2r-}.user.%{d2} a:%{H}.bar include:%{d}.example -all",
        "v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all",
        "v=spf1 -all exp=%{ir}.example.com",
        "v=spf1 a:mail.example.com. include:1-2.example.com a:x.example.c0m -all",  # top labels
        "v=spf1 a:" + ".".join(["a" * 63] * 3) + ".com -all",  # 63-octet labels, 195 octets
    ],
)
def test_valid_records(text: str) -> None:
    record = spf.parse_spf(text)
    assert record.valid, record.errors


@pytest.mark.parametrize(
    ("text", "term", "fault"),
    [
        # terms are separated by SP only: CR, LF, TAB and other control characters are errors
        ("v=spf1 a:ctrl.example.com\rptr -all", "'a:ctrl.example.com\\x0dptr'", "control character \\x0d"),
        ("v=spf1 ip4:192.0.2.5\n include:x.example ~all", "'ip4:192.0.2.5\\x0a'", "control character \\x0a"),
        ("v=spf1 a\t-all", "'a\\x09-all'", "only spaces separate terms"),
        ("v=spf1 a:\u00efgarbage.example.net -all", "'a:\\xefgarbage.example.net'", "non-ASCII"),
        # domain-spec: "." toplabel at the end, labels of at most 63 octets, names of at most 253
        ("v=spf1 a:" + "a" * 64 + ".example.com -all", "'a:" + "a" * 64, "is 64 octets (at most 63)"),
        ("v=spf1 a:" + ".".join(["a" * 60] * 5) + ".com -all", "'a:", "(at most 253)"),
        ("v=spf1 a:example.com:8080 -all", "'a:example.com:8080'", "top label 'com:8080'"),
        ("v=spf1 a:example.-com -all", "'a:example.-com'", "top label '-com'"),
        ("v=spf1 include:example.123 -all", "'include:example.123'", "not all digits"),
        ("v=spf1 a:foo-bar -all", "'a:foo-bar'", "must end in '.' and a top label"),
        ("v=spf1 include:localhost -all", "'include:localhost'", "must end in '.' and a top label"),
        ("v=spf1 a:mail.example...com -all", "'a:mail.example...com'", "empty label"),
        # CIDR lengths: not on include/exists/ptr, no leading zeros, in range
        ("v=spf1 include:example.com/24 -all", "'include:example.com/24'", "include takes no CIDR length"),
        ("v=spf1 exists:example.com/24 -all", "'exists:example.com/24'", "exists takes no CIDR length"),
        ("v=spf1 ptr/0 -all", "'ptr/0'", "ptr takes no CIDR length"),
        ("v=spf1 ip4:198.51.100.0/032 -all", "'ip4:198.51.100.0/032'", "/032 has a leading zero"),
        ("v=spf1 a/032 -all", "'a/032'", "/032 has a leading zero"),
        ("v=spf1 a//0128 -all", "'a//0128'", "/0128 has a leading zero"),
        ("v=spf1 a/40 -all", "'a/40'", "/40 is longer than 32"),
        ("v=spf1 ip6:2001:db8::/129 -all", "'ip6:2001:db8::/129'", "/129 is longer than 128"),
        ("v=spf1 ip4:198.51.100.0/33 -all", "'ip4:198.51.100.0/33'", "/33 is longer than 32"),
        ("v=spf1 a/ -all", "'a/'", "empty IPv4 prefix length"),
        # addresses
        ("v=spf1 ip4:300.1.2.3 -all", "'ip4:300.1.2.3'", "'300.1.2.3' is not an IPv4 address"),
        ("v=spf1 ip4:198.51.100.01 -all", "'ip4:198.51.100.01'", "no leading zeros"),
        ("v=spf1 ip4:2001:db8::1 -all", "'ip4:2001:db8::1'", "ip4 with an IPv6 address"),
        ("v=spf1 ip6:198.51.100.1 -all", "'ip6:198.51.100.1'", "ip6 with an IPv4 address"),
        ("v=spf1 ip6:fe80::1%eth0 -all", "'ip6:fe80::1%eth0'", "is not an IPv6 address"),
        ("v=spf1 ip4 -all", "'ip4'", "ip4 needs ':' and an address"),
        # mechanisms
        ("v=spf1 include -all", "'include'", "include needs ':' and a domain"),
        ("v=spf1 include: -all", "'include:'", "empty domain"),
        ("v=spf1 ptr: -all", "'ptr:'", "empty domain"),
        ("v=spf1 foo:bar -all", "'foo:bar'", "unknown mechanism 'foo'"),
        ("v=spf1 ip4:198.51.100.1 -all moo", "'moo'", "unknown mechanism 'moo'"),
        ("v=spf1 moo.cow/far_out=man:dog/cat -all", "'moo.cow/far_out=man:dog/cat'", "unknown mechanism 'moo.cow'"),
        ("v=spf1 redirect:x.example.com", "'redirect:x.example.com'", "redirect and exp are modifiers"),
        ("v=spf1 -all.", "'-all.'", "unknown mechanism 'all.'"),
        ("v=spf1 all:x", "'all:x'", "'all' takes no argument"),
        ("v=spf1 -all/8", "'-all/8'", "'all' takes no argument"),
        # modifiers: names, values, at most one redirect and exp
        ("v=spf1 mx=foo.example -all", "'mx=foo.example'", "a mechanism written as a modifier"),
        ("v=spf1 1up=foo", "'1up=foo'", "'1up' is not a modifier name"),
        ("v=spf1 =all", "'=all'", "'' is not a modifier name"),
        ("v=spf1 -all foo=%abc", "'foo=%abc'", "the value is not a macro-string: '%' must be followed by"),
        ("v=spf1 exp= -all", "'exp='", "exp= needs a domain: empty domain"),
        ("v=spf1 exp=-all", "'exp=-all'", "exp= needs a domain"),
        ("v=spf1 ?all redirect=", "'redirect='", "redirect= needs a domain"),
        ("v=spf1 redirect=a.example redirect=b.example", "redirect=", "appears 2 times (at most once"),
        ("v=spf1 exp=a.example -all exp=b.example", "exp=", "appears 2 times"),
        # macros: letters, digits transformer, delimiters; c, r, t only in explanation text
        ("v=spf1 -all exp=%{r}.example.com", "'exp=%{r}.example.com'", "'r' is allowed only in explanation"),
        ("v=spf1 exists:%{c}.example.com -all", "'exists:%{c}.example.com'", "'c' is allowed only in explanation"),
        ("v=spf1 x=%{t} -all", "'x=%{t}'", "'t' is allowed only in explanation"),
        ("v=spf1 a:%{a}.example.com -all", "'a:%{a}.example.com'", "'a' is not a macro letter"),
        ("v=spf1 exists:%{z}.example -all", "'exists:%{z}.example'", "'z' is not a macro letter"),
        ("v=spf1 exists:%{d0}.example.com -all", "'exists:%{d0}.example.com'", "must not be zero"),
        ("v=spf1 exists:%{dx}.example.com -all", "'exists:%{dx}.example.com'", "a macro is a letter"),
        ("v=spf1 exists:%{d.example.com -all", "'exists:%{d.example.com'", "no closing brace"),
        ("v=spf1 exists:foo%.sbl.example.com ?all", "'exists:foo%.sbl.example.com'", "'%' must be followed by"),
        # the version
        ("v=spf10 -all", "", "does not start with v=spf1"),
        ("spf1 -all", "", "does not start with v=spf1"),
    ],
)
def test_syntax_errors_name_the_term_and_the_fault(text: str, term: str, fault: str) -> None:
    record = spf.parse_spf(text)
    assert not record.valid
    assert any(e.startswith(term) and fault in e for e in record.errors), record.errors


def test_qualifiers_redirect_and_warnings() -> None:
    assert spf.parse_spf("v=spf1 +all").all_qualifier == "+"
    assert spf.parse_spf("v=spf1 all").all_qualifier == "+"
    assert spf.parse_spf("v=spf1 ?all").all_qualifier == "?"
    assert spf.parse_spf("v=spf1 mx").all_qualifier is None
    redirect = spf.parse_spf("v=spf1 mx redirect=_spf.example.com")
    assert redirect.redirect == "_spf.example.com"
    assert redirect.local_lookups() == 2
    assert redirect.followed_domains() == ("_spf.example.com",)
    both = spf.parse_spf("v=spf1 -all redirect=_spf.example.com")
    assert both.local_lookups() == 0 and both.followed_domains() == ()
    assert any("redirect= is ignored" in w for w in both.warnings)
    assert any("deprecated" in w for w in spf.parse_spf("v=spf1 ptr -all").warnings)
    assert any("never used" in w for w in spf.parse_spf("v=spf1 -all mx").warnings)
    assert any("not lower-case" in w for w in spf.parse_spf("V=SPF1 -all").warnings)
    macro = spf.parse_spf("v=spf1 exists:%{i}._spf.%{d} include:%{d}.example -all")
    assert macro.valid and macro.local_lookups() == 2 and macro.followed_domains() == ()


def test_record_selection() -> None:
    txts = ["v=spf1 -all", "v=spf10 x", "google-site-verification=1", "V=SPF1 mx", "v=spf1", "v=spf1\t-all",
            " v=spf1 -all"]  # fmt: skip
    # RFC 7208 4.5: exactly v=spf1 (any case), then a space or the end: a tab or a leading space is no record
    assert spf.spf_records(txts) == ["v=spf1 -all", "V=SPF1 mx", "v=spf1"]


_SPF_TERM = st.sampled_from(
    ["a", "mx", "ptr", "-all", "~all", "?all", "+all", "include:example.com", "ip4:198.51.100.0/24",
     "ip6:2001:db8::/32", "exists:%{i}.example.net", "redirect=example.org", "exp=explain.example.com",
     "mx:mail.example.com/24//64", "a/24", "unknown=thing", "bogus", "ip4:1.2.3.4/99", "include:",
     "a:example.com:8080", "include:x.example/24"]
)  # fmt: skip
_BAD = {"bogus", "ip4:1.2.3.4/99", "include:", "a:example.com:8080", "include:x.example/24"}


@given(st.lists(_SPF_TERM, max_size=15))
def test_parser_properties(terms: list[str]) -> None:
    record = spf.parse_spf(" ".join(["v=spf1", *terms]))
    assert record.valid is (not (_BAD & set(terms)) and terms.count("redirect=example.org") <= 1
                            and terms.count("exp=explain.example.com") <= 1)  # fmt: skip
    mechanisms = [t for t in terms if t not in _BAD and "=" not in t]
    assert len([t for t in record.terms if not t.modifier]) == len(mechanisms)
    assert len(record.errors) >= sum(1 for t in terms if t in _BAD)  # every bad term is named
    assert record.local_lookups() >= sum(1 for t in mechanisms if t.split(":")[0].split("/")[0] in
                                         ("a", "mx", "ptr", "include", "exists"))  # fmt: skip


@given(st.text(max_size=200))
def test_parser_never_raises(text: str) -> None:
    record = spf.parse_spf(text)
    assert record.valid or record.errors


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=120))
def test_parser_never_raises_on_printable_terms(tail: str) -> None:
    record = spf.parse_spf("v=spf1 " + tail)
    assert record.valid or record.errors
    for term in record.terms:  # whatever it accepts it can answer questions about
        assert isinstance(term.domain, str)
    record.address_terms("example.com")
    record.followed_domains()
