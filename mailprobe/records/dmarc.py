"""DMARC records (RFC 7489 6.3): parse and judge, sans I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailprobe.records.tags import TagRecord

POLICIES = ("none", "quarantine", "reject")
_VERSION = re.compile(r"^\s*v\s*=\s*DMARC1\s*(;|$)")
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_URI = re.compile(r"^(mailto:[^\s,!]+@[^\s,!]+|https?://\S+)(![0-9]+[kmgt]?)?$", re.IGNORECASE)
KNOWN_TAGS = ("v", "p", "sp", "rua", "ruf", "pct", "adkim", "aspf", "fo", "rf", "ri", "np", "psd", "t")


@dataclass(frozen=True, slots=True)
class DmarcRecord(TagRecord):
    warnings: tuple[str, ...]

    @property
    def policy(self) -> str | None:
        value = self.tag("p")
        return value.lower() if value else None

    @property
    def subdomain_policy(self) -> str | None:
        """sp=, falling back to p= as RFC 7489 6.3 says."""
        value = self.tag("sp")
        return value.lower() if value else self.policy

    @property
    def pct(self) -> int:
        value = self.tag("pct")
        return int(value) if value is not None and value.isdigit() else 100

    @property
    def rua(self) -> tuple[str, ...]:
        value = self.tag("rua")
        return tuple(u.strip() for u in value.split(",") if u.strip()) if value else ()

    @property
    def ruf(self) -> tuple[str, ...]:
        value = self.tag("ruf")
        return tuple(u.strip() for u in value.split(",") if u.strip()) if value else ()


def is_dmarc(text: str) -> bool:
    return bool(_VERSION.match(text))


def dmarc_records(txts: tuple[str, ...] | list[str]) -> list[str]:
    """TXT strings that start with v=DMARC1 (RFC 7489 6.6.3: other records at _dmarc are ignored)."""
    return [t for t in txts if is_dmarc(t)]


def parse_dmarc(text: str) -> DmarcRecord:
    errors: list[str] = []
    warnings: list[str] = []
    tags: list[tuple[str, str]] = []
    parts = [p.strip() for p in text.split(";")]
    if parts and parts[-1] == "":
        parts.pop()  # a trailing ";" is allowed
    seen: set[str] = set()
    for part in parts:
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not _TAG.match(key):
            errors.append(f"'{part}' is not a tag=value pair")
            continue
        if key in seen:
            errors.append(f"tag {key}= appears more than once")
            continue
        seen.add(key)
        tags.append((key, value))
        error = _check_tag(key, value)
        if error:
            errors.append(error)
        elif key not in KNOWN_TAGS:
            warnings.append(f"unknown tag {key}= (ignored by receivers)")
    if not tags or tags[0][0] != "v":
        errors.append("the record must start with v=DMARC1")
    if "p" not in seen:
        errors.append("p= is missing (required)")
    elif len(tags) > 1 and tags[0][0] == "v" and tags[1][0] != "p":
        warnings.append("p= should come right after v=DMARC1")
    return DmarcRecord(text, tuple(tags), tuple(errors), tuple(warnings))


def _check_tag(key: str, value: str) -> str:
    if key == "v":
        return "" if value == "DMARC1" else f"v={value}: the version must be DMARC1"
    if key in ("p", "sp", "np"):
        return "" if value.lower() in POLICIES else f"{key}={value}: must be none, quarantine or reject"
    if key == "pct":
        if not value.isdigit() or int(value) > 100:
            return f"pct={value}: must be an integer from 0 to 100"
        return ""
    if key in ("adkim", "aspf"):
        return "" if value.lower() in ("r", "s") else f"{key}={value}: must be r or s"
    if key in ("rua", "ruf"):
        uris = [u.strip() for u in value.split(",")]
        bad = [u for u in uris if not _URI.match(u)]
        return f"{key}: not a mailto:/https: URI: {', '.join(bad) or '(empty)'}" if bad or not uris else ""
    if key == "ri":
        return "" if value.isdigit() else f"ri={value}: must be a number of seconds"
    if key == "fo":
        options = [o.strip() for o in value.split(":")]
        return "" if all(o in ("0", "1", "d", "s") for o in options) else f"fo={value}: options are 0, 1, d, s"
    return ""
