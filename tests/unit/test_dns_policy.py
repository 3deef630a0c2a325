"""Policy record parsers (MTA-STS, TLS-RPT, DKIM, DANE), DMARC discovery names and the HTTP reader: pure."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from mailprobe.checks.dane import judge, matches
from mailprobe.dns.policy import dmarc_candidates, organizational_domain
from mailprobe.model import CertFacts
from mailprobe.protocols.http import HttpParseError, parse_http_response
from mailprobe.records import dkim, mtasts
from mailprobe.records.dmarc import DmarcRecord, parse_dmarc
from mailprobe.records.tlsa import Tlsa, parse_tlsa

# --- DMARC policy discovery (the DNS tree walk) ----------------------------------------------------------


def test_dmarc_candidates_walk_up_to_the_tld() -> None:
    assert dmarc_candidates("example.com") == ["example.com", "com"]
    assert dmarc_candidates("a.b.example.com") == ["a.b.example.com", "b.example.com", "example.com", "com"]
    deep = ".".join("abcdefghij") + ".example.com"  # 12 labels: after the domain, 7 labels down to 1
    walked = dmarc_candidates(deep)
    assert walked[:2] == [deep, "f.g.h.i.j.example.com"]
    assert [len(n.split(".")) for n in walked] == [12, 7, 6, 5, 4, 3, 2, 1]


def test_organizational_domain_by_psd_tags_else_fewest_labels() -> None:
    def walk(*records: tuple[str, str]) -> list[tuple[str, DmarcRecord]]:
        return [(name, parse_dmarc(text)) for name, text in records]

    plain = walk(("b.example.com", "v=DMARC1; p=none"), ("example.com", "v=DMARC1; p=reject"))
    assert organizational_domain(plain) == "example.com"  # the fewest labels
    stop = walk(("b.example.com", "v=DMARC1; p=none; psd=n"), ("example.com", "v=DMARC1; p=reject"))
    assert organizational_domain(stop) == "b.example.com"
    suffix = walk(("example.com", "v=DMARC1; p=none"), ("com", "v=DMARC1; p=reject; psd=y"))
    assert organizational_domain(suffix) == "example.com"  # one label below the public suffix
    only_suffix = walk(("com", "v=DMARC1; p=reject; psd=y"))
    assert organizational_domain(only_suffix) is None  # the label below (the Author Domain's side) has none
    assert organizational_domain([]) is None


# SPF and DMARC records: test_spf_record.py, test_dmarc_record.py


# --- MTA-STS and TLS-RPT ---------------------------------------------------------------------------------

POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n"


def test_sts_txt() -> None:
    assert mtasts.parse_sts_txt("v=STSv1; id=2024-01-01;").valid is False  # letters and digits only
    assert mtasts.parse_sts_txt("v=STSv1; id=20240101000000Z;").valid
    assert "id= is missing" in mtasts.parse_sts_txt("v=STSv1;").errors
    assert "must start with v=STSv1" in mtasts.parse_sts_txt("id=1; v=STSv1").errors
    assert any("1 to 32" in e for e in mtasts.parse_sts_txt("v=STSv1; id=" + "a" * 33).errors)


def test_sts_policy_good() -> None:
    policy = mtasts.parse_sts_policy(POLICY)
    assert policy.valid
    assert (policy.mode, policy.max_age, policy.mx) == ("enforce", 604800, ("mail.example.com", "*.example.net"))
    assert mtasts.parse_sts_policy(POLICY.replace("\r\n", "\n")).valid


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (POLICY.replace("STSv1", "STSv2"), "version: STSv2 is not STSv1"),
        (POLICY.replace("mode: enforce\r\n", ""), "mode is missing"),
        (POLICY.replace("enforce", "strict"), "mode: strict is not enforce"),
        (POLICY.replace("604800", "forever"), "max_age: forever is not a number"),
        (POLICY.replace("604800", "86400\u00b2"), "is not a number of seconds"),  # isdigit(), yet no int
        (POLICY.replace("604800", "\u0665\u0660"), "is not a number of seconds"),
        (POLICY.replace("604800", "31557601"), "more than one year"),
        (POLICY.replace("max_age: 604800\r\n", ""), "max_age is missing"),
        ("version: STSv1\nmode: enforce\nmax_age: 86400\n", "needs at least one mx"),
        (POLICY + "mx: bad name!\r\n", "is not a host name"),
        (POLICY + "garbage line\r\n", "is not 'key: value'"),
        (POLICY + "mode: testing\r\n", "mode appears more than once"),
    ],
)
def test_sts_policy_errors(text: str, error: str) -> None:
    policy = mtasts.parse_sts_policy(text)
    assert not policy.valid
    assert any(error in e for e in policy.errors), policy.errors


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("mail.example.com", "mail.example.com", True),
        ("mail.example.com", "MAIL.Example.com.", True),
        ("mail.example.com", "mx.example.com", False),
        ("*.example.net", "mx1.example.net", True),
        ("*.example.net", "a.b.example.net", False),  # the wildcard is exactly one label
        ("*.example.net", "example.net", False),
        ("*.example.net", ".example.net", False),
    ],
)
def test_sts_mx_matching(pattern: str, host: str, matches: bool) -> None:
    assert mtasts.mx_matches(pattern, host) is matches


def test_sts_unmatched_hosts() -> None:
    policy = mtasts.parse_sts_policy(POLICY)
    assert policy.unmatched(["mail.example.com", "mx2.example.net", "backup.example.org"]) == ["backup.example.org"]


_LABEL = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)


@given(st.lists(_LABEL, min_size=2, max_size=4), _LABEL)
def test_sts_wildcard_property(labels: list[str], extra: str) -> None:
    host = ".".join(labels)
    parent = ".".join(labels[1:])
    assert mtasts.mx_matches("*." + parent, host)
    assert not mtasts.mx_matches("*." + parent, f"{extra}.{host}")
    assert mtasts.mx_matches(host, host.upper())


def test_tlsrpt() -> None:
    assert mtasts.parse_tlsrpt_txt("v=TLSRPTv1; rua=mailto:tls@example.com").valid
    assert mtasts.parse_tlsrpt_txt("v=TLSRPTv1; rua=https://report.example.com/tls,mailto:t@example.com").valid
    assert "rua= is missing" in mtasts.parse_tlsrpt_txt("v=TLSRPTv1;").errors
    assert any("not a mailto" in e for e in mtasts.parse_tlsrpt_txt("v=TLSRPTv1; rua=tls@example.com").errors)


def test_http_response_parsing() -> None:
    plain = parse_http_response(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhelloEXTRA")
    assert (plain.status, plain.header("content-type"), plain.body) == (200, "text/plain", b"hello")
    chunked = parse_http_response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n"
    )
    assert chunked.body == b"hello world"
    close = parse_http_response(b"HTTP/1.0 404 Not Found\r\n\r\ngone")
    assert (close.status, close.reason, close.body) == (404, "Not Found", b"gone")
    for bad in (
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ):
        with pytest.raises(HttpParseError):
            parse_http_response(bad)


@given(st.binary(max_size=300))
def test_http_parser_raises_only_its_error(raw: bytes) -> None:
    with contextlib.suppress(HttpParseError):
        parse_http_response(raw)


# --- DKIM ------------------------------------------------------------------------------------------------


def _spki(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def test_dkim_keys() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    good = dkim.parse_dkim(f"v=DKIM1; k=rsa; t=y:s; p={_spki(rsa_key)[:40]} {_spki(rsa_key)[40:]}")
    assert good.valid and (good.key_type, good.key_bits, good.testing) == ("rsa", 1024, True)
    assert good.describe() == "rsa 1024 bits (testing, t=y)"
    ed_raw = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    ed = dkim.parse_dkim(f"v=DKIM1; k=ed25519; p={base64.b64encode(ed_raw).decode()}")
    assert ed.valid and ed.key_bits == 256
    revoked = dkim.parse_dkim("v=DKIM1; p=")
    assert revoked.valid and revoked.revoked and revoked.describe() == "revoked (empty p=)"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("v=DKIM1; k=rsa", "p= (the public key) is missing"),
        ("v=DKIM1; p=!!!", "not valid base64"),
        ("v=DKIM1; p=AAAA", "not a public key"),
        ("v=DKIM2; p=", "must be DKIM1"),
        ("k=rsa; v=DKIM1; p=", "v= must come first"),
        ("v=DKIM1; k=dsa; p=AAAA", "unknown key type"),
        ("v=DKIM1; k=ed25519; p=AAAA", "not 32"),
    ],
)
def test_dkim_errors(text: str, error: str) -> None:
    key = dkim.parse_dkim(text)
    assert not key.valid and any(error in e for e in key.errors), key.errors


def test_dkim_ec_key_under_rsa() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert "k=rsa but the key is EC" in dkim.parse_dkim(f"p={_spki(ec_key)}").errors


# --- DANE ------------------------------------------------------------------------------------------------

CERT_DER = b"pretend certificate"
SPKI_DER = b"pretend subject public key info"
CERT = CertFacts(
    subject="CN=mx1.example.test", issuer="CN=Lab CA", serial="1", not_before="", not_after="", days_left=90,
    san=("mx1.example.test",), key_type="EC", key_bits=256, signature_algorithm="ecdsa-with-SHA256",
    fingerprint_sha256=hashlib.sha256(CERT_DER).hexdigest(), spki_sha256=hashlib.sha256(SPKI_DER).hexdigest(),
    self_signed=False, fingerprint_sha512=hashlib.sha512(CERT_DER).hexdigest(),
    spki_sha512=hashlib.sha512(SPKI_DER).hexdigest(),
)  # fmt: skip
CA = CertFacts(
    subject="CN=Lab CA", issuer="CN=Lab CA", serial="2", not_before="", not_after="", days_left=900, san=(),
    key_type="EC", key_bits=256, signature_algorithm="ecdsa-with-SHA256",
    fingerprint_sha256=hashlib.sha256(b"ca cert").hexdigest(), spki_sha256=hashlib.sha256(b"ca spki").hexdigest(),
    self_signed=True, fingerprint_sha512=hashlib.sha512(b"ca cert").hexdigest(),
    spki_sha512=hashlib.sha512(b"ca spki").hexdigest(),
)  # fmt: skip


def tlsa(value: str) -> Tlsa:
    parsed = parse_tlsa(value)
    assert parsed is not None, value
    return parsed


def test_dane_ee_matches_spki_and_certificate() -> None:
    assert matches(tlsa(f"3 1 1 {CERT.spki_sha256}"), (CERT,))
    assert matches(tlsa(f"3 0 1 {CERT.fingerprint_sha256.upper()}"), (CERT,))
    split = CERT.spki_sha256
    assert matches(tlsa(f"3 1 1 {split[:32]} {split[32:]}"), (CERT,))  # presentation may split hex


def test_dane_mismatch_and_unsupported() -> None:
    assert not matches(tlsa(f"3 1 1 {CERT.fingerprint_sha256}"), (CERT,))  # selector 1 wants the SPKI
    assert not matches(tlsa(f"3 0 1 {'00' * 32}"), (CERT,))
    assert not matches(tlsa(f"3 1 2 {'00' * 64}"), (CERT,))
    assert not matches(tlsa(f"2 1 1 {CERT.spki_sha256}"), (CERT,))  # DANE-TA is not the leaf
    assert parse_tlsa("3 1 1 nothex") is None


def test_dane_matches_sha512_digests() -> None:
    assert matches(tlsa(f"3 1 2 {CERT.spki_sha512}"), (CERT,))
    assert matches(tlsa(f"3 0 2 {CERT.fingerprint_sha512.upper()}"), (CERT,))
    assert not matches(tlsa(f"3 1 2 {CERT.fingerprint_sha512}"), (CERT,))  # selector 1 wants the SPKI
    assert matches(tlsa(f"2 1 2 {CA.spki_sha512}"), (CERT, CA))
    assert not matches(tlsa(f"2 1 2 {CERT.spki_sha512}"), (CERT, CA))  # DANE-TA is not the leaf
    assert tlsa(f"3 1 2 {CERT.spki_sha512}").supported


def test_dane_judge_says_when_it_cannot_tell() -> None:
    """Full (matching type 0) is usable by senders but not checked; nor is SHA-512 against a report without it."""
    full = tlsa(f"3 1 0 {'30' * 40}")
    assert full.usable and not full.supported and judge(full, (CERT,)) is None
    old = replace(CERT, fingerprint_sha512="", spki_sha512="")  # a report written before SHA-512 was recorded
    assert judge(tlsa(f"3 1 2 {'00' * 64}"), (old,)) is None
    assert judge(tlsa(f"3 1 1 {'00' * 32}"), (old,)) is False
    pkix = tlsa(f"1 1 2 {CERT.spki_sha512}")
    assert not pkix.usable and judge(pkix, (CERT,)) is False


def test_dane_ta_matches_the_chain_above_the_leaf() -> None:
    assert matches(tlsa(f"2 0 1 {CA.fingerprint_sha256}"), (CERT, CA))
    assert not matches(tlsa(f"2 0 1 {CERT.fingerprint_sha256}"), (CERT, CA))
    assert matches(tlsa(f"3 1 1 {CERT.spki_sha256}"), (CERT, CA))


@pytest.mark.parametrize(
    "value",
    ["3 1 1", "3 1 1 abc", "3 1 1 " + "ab" * 31, "x 1 1 " + "ab" * 32, "300 1 1 " + "ab" * 32, "3 1 2 " + "ab" * 32],
)
def test_tlsa_malformed(value: str) -> None:
    assert parse_tlsa(value) is None


def test_tlsa_describe() -> None:
    parsed = parse_tlsa("3 1 1 " + "AB" * 32)
    assert parsed is not None and parsed.supported and parsed.describe() == "DANE-EE SPKI SHA2-256"
    pkix = parse_tlsa("1 0 0 abcd")
    assert pkix is not None and not pkix.supported
