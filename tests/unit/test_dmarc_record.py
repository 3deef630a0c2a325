"""DMARC records judged by RFC 9989 (where RFC 7489 readers differ, the messages say so): pure, sans I/O."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailprobe.records import dmarc


def test_good_record() -> None:
    record = dmarc.parse_dmarc(
        "v=DMARC1; p=quarantine; sp=reject; np=reject; rua=mailto:a@example.com,mailto:b@example.net; "
        "ruf=mailto:f@example.com; adkim=s; aspf=r; fo=1:d; t=n; psd=n;"
    )
    assert record.valid and record.warnings == () and record.tag_faults() == ()
    assert (record.policy, record.subdomain_policy, record.nonexistent_policy) == ("quarantine", "reject", "reject")
    assert record.rua == ("mailto:a@example.com", "mailto:b@example.net")
    assert not record.testing and record.removed_tags == ()


def test_defaults_sp_falls_back_to_p_and_np_to_sp() -> None:
    record = dmarc.parse_dmarc("v=DMARC1; p=reject; sp=quarantine")
    assert record.valid and record.nonexistent_policy == "quarantine" and record.rua == ()
    plain = dmarc.parse_dmarc("v=DMARC1; p=Reject")  # dmarc-request is case-insensitive ABNF
    assert (plain.policy, plain.subdomain_policy, plain.nonexistent_policy) == ("reject", "reject", "reject")


def test_v_tag_name_is_case_insensitive_its_value_is_not() -> None:
    assert dmarc.parse_dmarc("V=DMARC1; p=reject").valid
    assert dmarc.parse_dmarc("v = DMARC1 ; p = reject").valid  # equals and dmarc-sep allow WSP
    lower = dmarc.parse_dmarc("v=dmarc1; p=reject")
    assert any("DMARC1 in capitals" in e for e in lower.errors), lower.errors


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("v=DMARC1 p=reject rua=mailto:d@example.com", "tags must be separated by ';'"),
        ("v=DMARC1, p=reject", "tags must be separated by ';'"),
        ("v=DMARC1p=none", "tags must be separated by ';'"),
        (" v=DMARC1; p=reject", "starts with whitespace"),
        ("v=DMARC2; p=reject", "the version must be DMARC1"),
        ("p=reject; v=DMARC1", "must start with v=DMARC1"),
        # an invalid policy without a valid rua: no DMARC at all (RFC 9989 4.10.1)
        ("v=DMARC1; p=block", "p=block: must be none, quarantine or reject"),
        ("v=DMARC1; p=reject; sp=maybe; rua=dmarc@example.com", "sp=maybe"),
        ("v=DMARC1; p=reject rua=mailto:d@example.com", "tags must be separated by ';'"),
        ("v=DMARC1; p=reject; p=none", "appears more than once"),
    ],
)
def test_faults_that_make_receivers_ignore_the_record(text: str, fault: str) -> None:
    record = dmarc.parse_dmarc(text)
    assert not record.valid
    assert any(fault in e for e in record.errors), record.errors


def test_missing_p_is_p_none_not_an_error() -> None:
    record = dmarc.parse_dmarc("v=DMARC1; rua=mailto:d@example.com")
    assert record.valid and record.policy_missing and record.policy == "none"
    with_sp = dmarc.parse_dmarc("v=DMARC1; sp=reject")
    assert with_sp.valid and (with_sp.policy, with_sp.subdomain_policy) == ("none", "reject")


def test_invalid_policy_with_a_valid_rua_acts_as_p_none() -> None:
    record = dmarc.parse_dmarc("v=DMARC1; p=reject; np=rejcet; rua=mailto:d@example.com")
    assert record.valid  # the record applies, as if it said p=none (RFC 9989 4.10.1)
    assert [f.tag for f in record.policy_faults] == ["np"]
    assert (record.policy, record.subdomain_policy, record.nonexistent_policy) == ("none", "none", "none")


@pytest.mark.parametrize(
    ("text", "tag", "applies"),
    [
        ("v=DMARC1; p=reject; adkim=x", "adkim", "r"),
        ("v=DMARC1; p=reject; aspf=strict", "aspf", "r"),
        ("v=DMARC1; p=reject; fo=2", "fo", "0"),
        ("v=DMARC1; p=reject; fo=0:1", "fo", "0"),
        ("v=DMARC1; p=reject; t=yes", "t", "n"),
        ("v=DMARC1; p=reject; psd=x", "psd", "u"),
        ("v=DMARC1; p=reject; rua=mailto:a@example.com,dmarc@example.com", "rua", ""),
    ],
)
def test_other_invalid_values_fall_back_to_the_default(text: str, tag: str, applies: str) -> None:
    record = dmarc.parse_dmarc(text)
    assert record.valid and record.policy == "reject"  # the record still applies
    assert [(f.tag, f.applies) for f in record.tag_faults()] == [(tag, applies)]


def test_removed_tags_test_mode_and_np() -> None:
    record = dmarc.parse_dmarc("v=DMARC1; p=reject; pct=50; rf=afrf; ri=3600; t=y; np=none")
    assert record.valid and record.tag_faults() == ()
    assert record.removed_tags == (("pct", "50"), ("rf", "afrf"), ("ri", "3600"))
    assert record.pct == 50 and record.testing and record.nonexistent_policy == "none"
    assert dmarc.parse_dmarc("v=DMARC1; p=none; pct=150").pct == 100  # not a valid RFC 7489 pct: ignored
    # str.isdigit() is true for these; int() rejects the first and reads the second: neither is a pct
    assert dmarc.parse_dmarc("v=DMARC1; p=none; pct=\u00b9\u2070").pct == 100
    assert dmarc.parse_dmarc("v=DMARC1; p=none; pct=\u0665\u0660").pct == 100


def test_record_selection() -> None:
    txts = ["v=DMARC1; p=none", "v=spf1 -all", "v=DMARC1p=none", "V=DMARC1", "v=dmarc1; p=none", "x v=DMARC1"]
    assert dmarc.dmarc_records(txts) == ["v=DMARC1; p=none", "v=DMARC1p=none", "V=DMARC1", "v=dmarc1; p=none"]
    # Leading whitespace: judged (and found invalid) only when nothing else at _dmarc is a DMARC record.
    assert dmarc.dmarc_records([" v=DMARC1; p=reject", "hello"]) == [" v=DMARC1; p=reject"]
    assert dmarc.dmarc_records([" v=DMARC1; p=reject", "v=DMARC1; p=none"]) == ["v=DMARC1; p=none"]


def test_warnings() -> None:
    record = dmarc.parse_dmarc("v=DMARC1; rua=mailto:a@example.com!10m; p=none; foo=bar;; junk")
    assert record.valid
    for words in ("right after", "unknown tag foo=", "!size suffix is obsolete", "empty tag", "'junk' is not"):
        assert any(words in w for w in record.warnings), (words, record.warnings)


_DMARC_TAG = st.sampled_from(
    ["p=none", "p=reject", "sp=quarantine", "np=reject", "pct=0", "pct=101", "rua=mailto:x@example.com",
     "adkim=s", "aspf=q", "fo=1", "ri=3600", "x=y", "t=y", "p=bogus"]
)  # fmt: skip


@given(st.lists(_DMARC_TAG, max_size=8, unique=True))
def test_parser_properties(tags: list[str]) -> None:
    record = dmarc.parse_dmarc("; ".join(["v=DMARC1", *tags]))
    keys = [t.split("=")[0] for t in tags]
    policy_broken = "p=bogus" in tags or keys.count("p") > 1
    assert record.valid is (not policy_broken or "rua=mailto:x@example.com" in tags)
    assert record.policy in dmarc.POLICIES
    if policy_broken:
        assert record.policy == record.subdomain_policy == record.nonexistent_policy == "none"
    assert [f.tag for f in record.tag_faults() if f.tag in ("aspf",)] == (["aspf"] if "aspf=q" in tags else [])


@given(st.text(max_size=200))
def test_parser_never_raises(text: str) -> None:
    record = dmarc.parse_dmarc(text)
    assert record.valid or record.errors
    assert record.policy in dmarc.POLICIES
    record.tag_faults()
