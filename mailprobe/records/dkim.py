"""DKIM public key records (RFC 6376 3.6.1, RFC 8463): parse, key type and size. Sans I/O."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

KEY_TYPES = ("rsa", "ed25519")


@dataclass(frozen=True, slots=True)
class DkimKey:
    text: str
    key_type: str  # "rsa", "ed25519", or what k= said
    key_bits: int  # 0 when unknown
    revoked: bool  # p= empty (RFC 6376 3.6.1)
    testing: bool  # t=y
    errors: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.errors

    def describe(self) -> str:
        if self.revoked:
            return "revoked (empty p=)"
        size = f" {self.key_bits} bits" if self.key_bits else ""
        return f"{self.key_type}{size}" + (" (testing, t=y)" if self.testing else "")


def parse_dkim(text: str) -> DkimKey:
    errors: list[str] = []
    tags: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep:
            errors.append(f"'{part[:30]}' is not a tag=value pair")
            continue
        key = key.strip()
        if key in tags:
            errors.append(f"tag {key}= appears more than once")
        tags[key] = "".join(value.split())  # folding whitespace is allowed inside values
    version = tags.get("v")
    if version is not None and version != "DKIM1":
        errors.append(f"v={version}: must be DKIM1")
    if "v" in tags and next(iter(tags)) != "v":
        errors.append("v= must come first when present")
    key_type = tags.get("k", "rsa").lower()
    testing = "y" in tags.get("t", "").split(":")
    if "p" not in tags:
        return DkimKey(text, key_type, 0, False, testing, (*errors, "p= (the public key) is missing"))
    if tags["p"] == "":
        return DkimKey(text, key_type, 0, True, testing, tuple(errors))
    if key_type not in KEY_TYPES:
        errors.append(f"k={key_type}: unknown key type")
    try:
        der = base64.b64decode(tags["p"], validate=True)
    except (binascii.Error, ValueError):
        return DkimKey(text, key_type, 0, False, testing, (*errors, "p= is not valid base64"))
    bits = 0
    if key_type == "ed25519":
        if len(der) == 32:
            bits = 256
        else:
            errors.append(f"ed25519 key is {len(der)} bytes, not 32")
    else:
        # Imported here: the report model imports this module, and a run that parses no DKIM key (a port
        # scan) need not import cryptography.
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        try:
            public_key = load_der_public_key(der)
        except (ValueError, TypeError) as exc:
            errors.append(f"p= is not a public key ({type(exc).__name__})")
        else:
            if isinstance(public_key, rsa.RSAPublicKey):
                bits = public_key.key_size
            elif isinstance(public_key, ec.EllipticCurvePublicKey):
                bits = public_key.curve.key_size
                errors.append("k=rsa but the key is EC")
            elif isinstance(public_key, ed25519.Ed25519PublicKey):
                bits = 256
                errors.append("k=rsa but the key is Ed25519")
    return DkimKey(text, key_type, bits, False, testing, tuple(errors))
