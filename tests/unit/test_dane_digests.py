"""The digests DANE matches, from real certificates: what protocols/tls.py records is what TLSA records hold.

A TLSA record's data is the SHA2-256 (matching type 1) or SHA2-512 (type 2) digest of the whole certificate
(selector 0) or of its SubjectPublicKeyInfo (selector 1), in DER (RFC 6698 2.1).
"""

from __future__ import annotations

import hashlib

import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mailprobe.checks.dane import matches
from mailprobe.protocols import tls
from mailprobe.records.tlsa import Tlsa, parse_tlsa

CIPHER = ("TLS_AES_256_GCM_SHA384", "TLSv1.3", 256)


def der_chain(leaf: trustme.LeafCert) -> list[bytes]:
    return [x509.load_pem_x509_certificate(pem.bytes()).public_bytes(Encoding.DER) for pem in leaf.cert_chain_pems]


def spki(der: bytes) -> bytes:
    return (
        x509.load_der_x509_certificate(der).public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )


def tlsa(value: str) -> Tlsa:
    parsed = parse_tlsa(value)
    assert parsed is not None, value
    return parsed


def test_cert_facts_carry_sha256_and_sha512_of_the_certificate_and_its_key() -> None:
    [der, *_] = der_chain(trustme.CA().issue_cert("mx1.lab.test"))
    facts = tls.cert_facts(der)
    assert facts.fingerprint_sha256 == hashlib.sha256(der).hexdigest()
    assert facts.spki_sha256 == hashlib.sha256(spki(der)).hexdigest()
    assert facts.fingerprint_sha512 == hashlib.sha512(der).hexdigest()
    assert facts.spki_sha512 == hashlib.sha512(spki(der)).hexdigest()


def test_sha512_records_match_a_served_chain() -> None:
    intermediate = trustme.CA().create_child_ca()
    chain = der_chain(intermediate.issue_cert("mx1.lab.test"))
    assert len(chain) >= 2  # leaf, then the intermediate that issued it
    facts = tls.tls_facts("TLSv1.3", CIPHER, chain, "mx1.lab.test", None).chain
    leaf, issuer = chain[0], chain[1]
    assert matches(tlsa(f"3 1 2 {hashlib.sha512(spki(leaf)).hexdigest()}"), facts)
    assert matches(tlsa(f"3 0 2 {hashlib.sha512(leaf).hexdigest()}"), facts)
    assert matches(tlsa(f"2 1 2 {hashlib.sha512(spki(issuer)).hexdigest()}"), facts)
    assert matches(tlsa(f"2 0 2 {hashlib.sha512(issuer).hexdigest()}"), facts)
    assert not matches(tlsa(f"2 1 2 {hashlib.sha512(spki(leaf)).hexdigest()}"), facts)  # DANE-TA is above the leaf
    assert not matches(tlsa(f"3 1 2 {hashlib.sha512(spki(issuer)).hexdigest()}"), facts)  # DANE-EE is the leaf
