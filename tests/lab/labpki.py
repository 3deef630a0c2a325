"""The lab's throwaway PKI: one CA made at lab start and one server certificate per host name.

Certificates come from trustme (a mailprobe dependency, so it is in the venv). Every file is PEM. For each
server the hashes DANE records use are kept too, so zone files can publish TLSA records for them.
`make_self_signed` makes the misconfigured host's bad certificate (self-signed, any validity window) with
pyca/cryptography, since trustme only issues leaves under a CA.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True, slots=True)
class ServerCert:
    names: tuple[str, ...]  # first is the CN, all are SANs
    cert_file: str  # leaf then chain
    key_file: str
    key_and_chain_file: str  # key, leaf, chain in one file (Postfix smtpd_tls_chain_files)
    spki_sha256: str  # hex, as in TLSA 3 1 1
    cert_sha256: str  # hex, as in TLSA 3 0 1


@dataclass(frozen=True, slots=True)
class Pki:
    ca_file: str
    ca_spki_sha256: str
    ca_cert_sha256: str
    certs: dict[str, ServerCert]  # keyed by first name


def _hashes(pem: bytes) -> tuple[str, str]:
    cert = x509.load_pem_x509_certificate(pem)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(spki).hexdigest(), hashlib.sha256(der).hexdigest()


def make_pki(directory: Path, servers: list[tuple[str, ...]]) -> Pki:
    """Write a CA and one certificate per name tuple into `directory` (keys readable by root only)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="mailprobe lab CA")
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca_spki, ca_der = _hashes(ca.cert_pem.bytes())
    certs: dict[str, ServerCert] = {}
    for names in servers:
        leaf = ca.issue_cert(*names, common_name=names[0], organization_name="mailprobe lab")
        certs[names[0]] = _write_server(
            directory, names, [blob.bytes() for blob in leaf.cert_chain_pems], leaf.private_key_pem.bytes()
        )
    return Pki(str(ca_file), ca_spki, ca_der, certs)


def _write_server(directory: Path, names: tuple[str, ...], chain: list[bytes], key: bytes) -> ServerCert:
    """Write leaf+chain, key, and key+leaf+chain (keys readable by root only) for one server."""
    stem = directory / names[0]
    cert_file = stem.with_name(f"{names[0]}.crt")
    key_file = stem.with_name(f"{names[0]}.key")
    combined = stem.with_name(f"{names[0]}.keychain.pem")
    cert_file.write_bytes(b"".join(chain))
    for secret, blob in ((key_file, key), (combined, key + b"".join(chain))):
        secret.touch(mode=0o600)
        secret.write_bytes(blob)
    spki, der = _hashes(chain[0])
    return ServerCert(names, str(cert_file), str(key_file), str(combined), spki, der)


def make_self_signed(directory: Path, names: tuple[str, ...], not_before: dt.datetime,
                     not_after: dt.datetime) -> ServerCert:
    """A self-signed EC P-256 certificate for `names` (CN = first, all in the SAN), valid only in the window
    given, so the window may lie wholly in the past (an expired certificate)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailprobe lab (misconfigured)"),
        x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
    ])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return _write_server(directory, names, [cert.public_bytes(serialization.Encoding.PEM)], key_pem)
