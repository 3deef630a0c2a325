"""The lab's throwaway PKI: one CA made at lab start and one server certificate per host name.

Certificates come from trustme (a mailprobe dependency, so it is in the venv). Every file is PEM. For each
server the hashes DANE records use are kept too, so zone files can publish TLSA records for them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization


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
        stem = directory / names[0]
        cert_file = stem.with_name(f"{names[0]}.crt")
        key_file = stem.with_name(f"{names[0]}.key")
        combined = stem.with_name(f"{names[0]}.keychain.pem")
        cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        for secret, blob in ((key_file, leaf.private_key_pem), (combined, leaf.private_key_and_cert_chain_pem)):
            secret.touch(mode=0o600)
            secret.write_bytes(blob.bytes())
        spki, der = _hashes(leaf.cert_chain_pems[0].bytes())
        certs[names[0]] = ServerCert(names, str(cert_file), str(key_file), str(combined), spki, der)
    return Pki(str(ca_file), ca_spki, ca_der, certs)
