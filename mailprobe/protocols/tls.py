"""TLS facts from what a server served: certificate details, chain trust and host-name match. No sockets.

The handshake itself is done without verification so the probe always records what was served; trust is
then decided here with pyca/cryptography's verifier (system store plus --ca-file), and reported honestly.

The same certificate is usually served on several ports of many hosts: a certificate's facts and a chain's
verdict are remembered (ChainMemory) and worked out again only for a chain not seen before, once the time has
moved across a validity date of the chain (the only way the verdict can change for the same chain and trust
anchors), or after an hour. The host name is matched on every call.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from OpenSSL import crypto

from mailprobe.model import CertFacts, TlsFacts, VerifyFailure
from mailprobe.protocols.certnames import WEAK_KEY_BITS, hostname_matches

__all__ = [
    "WEAK_KEY_BITS", "cert_facts", "hostname_matches", "load_trust_store", "tls_facts", "verify", "verify_chain"
]  # fmt: skip


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
    """The facts of one DER certificate; days_left counted from `now` (default: the current time)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    parsed = _parsed(der, now)
    days_left = (parsed.not_after - now).days
    return parsed.facts if parsed.facts.days_left == days_left else replace(parsed.facts, days_left=days_left)


@dataclass(frozen=True, slots=True)
class _Parsed:
    facts: CertFacts  # days_left as of the parse
    not_before: dt.datetime
    not_after: dt.datetime


def _parsed(der: bytes, now: dt.datetime) -> _Parsed:
    known = _MEMORY.parsed.get(der)
    if known is None:
        known = _parse_cert(der, now)
        _MEMORY.remember_parsed(der, known)
    else:
        _MEMORY.parsed.move_to_end(der)
    return known


def _parse_cert(der: bytes, now: dt.datetime) -> _Parsed:
    cert = x509.load_der_x509_certificate(der)
    not_before = _utc(cert.not_valid_before_utc)
    not_after = _utc(cert.not_valid_after_utc)
    key_type, key_bits = _key_facts(cert)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    sig = cert.signature_hash_algorithm
    sig_name = cert.signature_algorithm_oid._name
    facts = CertFacts(
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
        fingerprint_sha512=hashlib.sha512(der).hexdigest(),
        spki_sha512=hashlib.sha512(spki).hexdigest(),
    )
    return _Parsed(facts, not_before, not_after)


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


def load_trust_store(ca_file: str | None) -> None:
    """Read the trust store verify() uses now (the system's CAs, ~20 ms, and `ca_file`): a process about to
    fork (--jobs) reads it once for all its children instead of each child reading it at its first chain."""
    _store(ca_file)


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
    if now is not None:  # a caller's own time: worked out afresh, not remembered
        return _verify(chain, ca_file, now)
    key = (tuple(chain), ca_file)
    verdict = _MEMORY.verdict(key)
    if verdict is None:
        verdict = _verify(chain, ca_file, None)
        _MEMORY.remember_verdict(key, verdict, _unchanged_between(chain))
    return verdict


def _verify(
    chain: Sequence[bytes], ca_file: str | None, now: dt.datetime | None
) -> tuple[str | None, VerifyFailure | None]:
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


Verdict = tuple[str | None, VerifyFailure | None]
ChainKey = tuple[tuple[bytes, ...], str | None]  # the chain as served, the CA file


def _unchanged_between(chain: Sequence[bytes]) -> tuple[dt.datetime, dt.datetime]:
    """The stretch of time around now in which no certificate of the chain starts or stops being valid: the
    verdict on the chain (with the same trust anchors) is the same anywhere in it."""
    now = dt.datetime.now(dt.timezone.utc)
    parsed = [_parsed(der, now) for der in chain]
    dates = {date for cert in parsed for date in (cert.not_before, cert.not_after)}
    after = min((date for date in dates if date > now), default=dt.datetime.max.replace(tzinfo=dt.timezone.utc))
    since = max((date for date in dates if date <= now), default=dt.datetime.min.replace(tzinfo=dt.timezone.utc))
    return since, after


class ChainMemory:
    """Parsed certificates by DER, chain verdicts by (chain, CA file); least recently used forgotten first."""

    def __init__(self, size: int = 512, max_age: float = 3600.0) -> None:
        self.size = size
        self.max_age = max_age  # seconds a verdict is trusted at most (trust anchors may change or expire)
        self.parsed: OrderedDict[bytes, _Parsed] = OrderedDict()
        self._verdicts: OrderedDict[ChainKey, tuple[Verdict, float, dt.datetime, dt.datetime]] = OrderedDict()

    def remember_parsed(self, der: bytes, parsed: _Parsed) -> None:
        self.parsed[der] = parsed
        if len(self.parsed) > self.size:
            self.parsed.popitem(last=False)

    def verdict(self, key: ChainKey) -> Verdict | None:
        entry = self._verdicts.get(key)
        if entry is None:
            return None
        verdict, expires, valid_from, valid_until = entry
        if time.monotonic() >= expires or not valid_from <= dt.datetime.now(dt.timezone.utc) < valid_until:
            del self._verdicts[key]
            return None
        self._verdicts.move_to_end(key)
        return verdict

    def remember_verdict(self, key: ChainKey, verdict: Verdict, window: tuple[dt.datetime, dt.datetime]) -> None:
        self._verdicts[key] = (verdict, time.monotonic() + self.max_age, *window)
        if len(self._verdicts) > self.size:
            self._verdicts.popitem(last=False)


_MEMORY = ChainMemory()


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
