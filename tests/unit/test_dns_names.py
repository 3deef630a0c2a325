"""Domain validation and address judgement: pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailprobe.dns.names import is_public, looks_like_ip_literal, nonpublic_reason, validate_domain
from mailprobe.errors import UsageError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.com", "example.com"),
        ("Example.COM.", "example.com"),
        ("  mail.example.org  ", "mail.example.org"),
        ("_dmarc.example.com", "_dmarc.example.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("BÜCHER.example", "xn--bcher-kva.example"),
        ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
        ("localhost", "localhost"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
    ],
)
def test_valid_domains_are_normalised(text: str, expected: str) -> None:
    assert validate_domain(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty domain name"),
        ("   ", "empty domain name"),
        (".", "the root"),
        ("example..com", "empty label (consecutive"),
        (".example.com", "empty label (leading"),
        ("example.com..", "empty label (trailing"),
        ("exa mple.com", "characters not allowed"),
        ("exa$mple.com", "characters not allowed"),
        ("-example.com", "characters not allowed"),
        ("example-.com", "characters not allowed"),
        ("a" * 64 + ".com", "is 64 octets (max 63)"),
        (".".join(["a" * 63] * 4), "characters long (max 253)"),
        ("198.51.100.25", "is an IP address"),
        ("[2001:db8::1]", "is an IP address"),
        ("xn--.example", "characters not allowed"),
        ("ü" * 60 + ".example", "invalid internationalised domain"),
        ("b\u0080cher.example", "invalid internationalised domain"),
    ],
)
def test_invalid_domains_raise_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        validate_domain(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@given(st.text(max_size=300))
def test_validate_domain_never_fails_otherwise(text: str) -> None:
    try:
        name = validate_domain(text)
    except UsageError:
        return
    assert name == name.lower() and not name.endswith(".") and len(name) <= 253
    assert name.isascii()
    assert validate_domain(name) == name  # idempotent


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("198.51.100.25", "documentation range"),
        ("203.0.113.9", "documentation range"),
        ("2001:db8::25", "documentation range"),
        ("100.64.0.1", "shared address space (CGNAT, RFC 6598)"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:10.0.0.1", "IPv4-mapped private"),
        ("not-an-ip", "not an IP address"),
    ],
)
def test_public_and_nonpublic_addresses(address: str, reason: str | None) -> None:
    assert nonpublic_reason(address) == reason
    assert is_public(address) is (reason is None)


@pytest.mark.parametrize(
    ("name", "literal"),
    [
        ("198.51.100.25.", True),
        ("198.51.100.25", True),
        ("[198.51.100.25]", True),
        ("[IPv6:2001:db8::25]", True),
        ("2001:db8::25", True),
        ("mx1.example.com.", False),
        ("198.51.100.25.example.com", False),
        ("1.2.3", False),
    ],
)
def test_ip_literal_targets(name: str, literal: bool) -> None:
    assert looks_like_ip_literal(name) is literal
