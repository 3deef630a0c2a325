"""TLS facts from what a server served: certificate details, chain trust and host-name match. No sockets.

The handshake itself is done without verification so the probe always records what was served; trust is
then decided here with pyca/cryptography's verifier (system store plus --ca-file), and reported honestly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from OpenSSL import crypto

from mailprobe.model import CertFacts, TlsFacts, VerifyFailure
from mailprobe.protocols.certnames import WEAK_KEY_BITS, hostname_matches

__all__ = ["WEAK_KEY_BITS", "cert_facts", "hostname_matches", "tls_facts", "verify", "verify_chain"]



def _utc(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _key_facts(cert: x509.Certificate) -> tuple[str, int]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, 0


def _san(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    names: list[str] = [f"DNS:{name}" for name in ext.get_values_for_type(x509.DNSName)]
    names += [f"IP:{ip}" for ip in ext.get_values_for_type(x509.IPAddress)]
    return tuple(names)


def cert_facts(der: bytes, now: dt.datetime | None = None) -> CertFacts:
    cert = x509.load_der_x509_certificate(der)
    now = now or dt.datetime.now(dt.timezone.utc)
    not_before = _utc(cert.not_valid_before_utc)
    not_after = _utc(cert.not_valid_after_utc)
    key_type, key_bits = _key_facts(cert)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    sig = cert.signature_hash_algorithm
    sig_name = cert.signature_algorithm_oid._name
    return CertFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=not_before.isoformat(),
        not_after=not_after.isoformat(),
        days_left=(not_after - now).days,
        san=_san(cert),
        key_type=key_type,
        key_bits=key_bits,
        signature_algorithm=sig_name if sig_name != "Unknown OID" else (sig.name if sig else "unknown"),
        fingerprint_sha256=hashlib.sha256(der).hexdigest(),
        spki_sha256=hashlib.sha256(spki).hexdigest(),
        self_signed=cert.issuer == cert.subject,
    )


def _new_store(ca_file: str | None) -> crypto.X509Store:
    store = crypto.X509Store()
    paths = ssl.get_default_verify_paths()
    system = next((p for p in (paths.cafile, paths.openssl_cafile) if p and Path(p).is_file()), None)
    if system:
        store.load_locations(system)
    if ca_file:
        store.load_locations(ca_file)
    return store


@lru_cache(maxsize=8)
def _store(ca_file: str | None) -> crypto.X509Store:
    return _new_store(ca_file)


# OpenSSL X509_V_ERR_* codes (x509_vfy.h) and what they mean for a verdict.
_VERIFY_CODES = {
    9: VerifyFailure.NOT_YET_VALID,  # CERT_NOT_YET_VALID
    10: VerifyFailure.EXPIRED,  # CERT_HAS_EXPIRED
    18: VerifyFailure.SELF_SIGNED,  # DEPTH_ZERO_SELF_SIGNED_CERT
    19: VerifyFailure.UNKNOWN_ISSUER,  # SELF_SIGNED_CERT_IN_CHAIN (an untrusted root was served)
    2: VerifyFailure.UNKNOWN_ISSUER,  # UNABLE_TO_GET_ISSUER_CERT
    20: VerifyFailure.UNKNOWN_ISSUER,  # UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    21: VerifyFailure.UNKNOWN_ISSUER,  # UNABLE_TO_VERIFY_LEAF_SIGNATURE
}


def verify_chain(chain: Sequence[bytes], ca_file: str | None, now: dt.datetime | None = None) -> str | None:
    """None when the chain leads to a trusted root; otherwise OpenSSL's reason. Host name is checked apart."""
    return verify(chain, ca_file, now)[0]


def verify(
    chain: Sequence[bytes], ca_file: str | None, now: dt.datetime | None = None
) -> tuple[str | None, VerifyFailure | None]:
    """(OpenSSL's reason, its kind), both None when the chain leads to a trusted root.

    OpenSSL's verifier (through pyOpenSSL) is the one mail servers and clients use, so its verdict is the one
    that matters for delivery.
    """
    if not chain:
        return "no certificate served", VerifyFailure.NO_CERTIFICATE
    leaf = x509.load_der_x509_certificate(chain[0])
    intermediates = [x509.load_der_x509_certificate(der) for der in chain[1:]]
    if now is None:
        store = _store(ca_file)
    else:  # a private store: set_time must not leak into the cached one
        store = _new_store(ca_file)
        store.set_time(now)
    context = crypto.X509StoreContext(
        store,
        crypto.X509.from_cryptography(leaf),
        [crypto.X509.from_cryptography(c) for c in intermediates],
    )
    try:
        context.verify_certificate()
    except crypto.X509StoreContextError as exc:
        code = exc.errors[0] if exc.errors else None
        kind = _VERIFY_CODES.get(code, VerifyFailure.OTHER) if isinstance(code, int) else VerifyFailure.OTHER
        return str(exc), kind
    return None, None


def tls_facts(
    version: str,
    cipher: tuple[str, str, int] | None,
    chain: Sequence[bytes],
    hostname: str,
    ca_file: str | None,
    group: str | None = None,
    legacy_versions: tuple[str, ...] = (),
) -> TlsFacts:
    certs = tuple(cert_facts(der) for der in chain)
    error, failure = verify(chain, ca_file)
    return TlsFacts(
        version=version,
        cipher=cipher[0] if cipher else "",
        cipher_bits=cipher[2] if cipher else 0,
        group=group,
        chain=certs,
        verified=error is None,
        verify_error=error,
        hostname=hostname,
        hostname_match=bool(certs) and hostname_matches(certs[0], hostname),
        legacy_versions=legacy_versions,
        verify_failure=failure,
    )
