"""MTA-STS (RFC 8461) and TLS-RPT (RFC 8460): the TXT records, the policy file, MX matching. Sans I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailprobe.decimal_text import is_decimal
from mailprobe.records.tags import TagRecord

MAX_AGE_LIMIT = 31_557_600  # RFC 8461 3.2: one year
POLICY_BYTES = 64 * 1024  # RFC 8461 3.3: senders may refuse bigger policies
MODES = ("enforce", "testing", "none")
_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_MX_PATTERN = re.compile(r"^(\*\.)?([a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)(\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*\.?$")


def _tags(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    tags: list[tuple[str, str]] = []
    errors: list[str] = []
    parts = [p.strip() for p in text.split(";")]
    while parts and parts[-1] == "":
        parts.pop()
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            errors.append(f"'{part}' is not a key=value pair")
            continue
        tags.append((key.strip(), value.strip()))
    return tags, errors


def is_sts_txt(text: str) -> bool:
    return text.strip().startswith("v=STSv1")


def parse_sts_txt(text: str) -> TagRecord:
    """`_mta-sts.DOMAIN` TXT: v=STSv1 first, id= 1-32 alphanumerics (RFC 8461 3.1)."""
    tags, errors = _tags(text)
    if not tags or tags[0] != ("v", "STSv1"):
        errors.append("must start with v=STSv1")
    ids = [v for k, v in tags if k == "id"]
    if not ids:
        errors.append("id= is missing")
    elif len(ids) > 1:
        errors.append("id= appears more than once")
    elif not _ID.match(ids[0]):
        errors.append(f"id={ids[0]}: must be 1 to 32 letters and digits")
    return TagRecord(text, tuple(tags), tuple(errors))


def is_tlsrpt_txt(text: str) -> bool:
    return text.strip().startswith("v=TLSRPTv1")


def parse_tlsrpt_txt(text: str) -> TagRecord:
    """`_smtp._tls.DOMAIN` TXT: v=TLSRPTv1; rua=mailto:...|https://... (RFC 8460 3)."""
    tags, errors = _tags(text)
    if not tags or tags[0] != ("v", "TLSRPTv1"):
        errors.append("must start with v=TLSRPTv1")
    rua = [v for k, v in tags if k == "rua"]
    if not rua:
        errors.append("rua= is missing")
    else:
        for uri in (u.strip() for u in rua[0].split(",")):
            if not (uri.lower().startswith("mailto:") and "@" in uri) and not uri.lower().startswith("https://"):
                errors.append(f"rua: {uri or '(empty)'} is not a mailto: or https: URI")
    return TagRecord(text, tuple(tags), tuple(errors))


@dataclass(frozen=True, slots=True)
class StsPolicy:
    text: str
    version: str | None
    mode: str | None
    mx: tuple[str, ...]
    max_age: int | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.errors

    def unmatched(self, hosts: list[str] | tuple[str, ...]) -> list[str]:
        """MX hosts no `mx:` pattern covers (in enforce mode mail to them fails)."""
        return [h for h in hosts if not any(mx_matches(p, h) for p in self.mx)]


def parse_sts_policy(text: str) -> StsPolicy:
    """The policy file: `key: value` lines, CRLF or LF (RFC 8461 3.2)."""
    errors: list[str] = []
    warnings: list[str] = []
    fields: dict[str, list[str]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            errors.append(f"line {number}: '{line[:40]}' is not 'key: value'")
            continue
        fields.setdefault(key.strip(), []).append(value.strip())
    for key in ("version", "mode", "max_age"):
        if len(fields.get(key, [])) > 1:
            errors.append(f"{key} appears more than once")
    version = _first(fields, "version")
    mode = _first(fields, "mode")
    max_age_text = _first(fields, "max_age")
    mx = tuple(fields.get("mx", []))
    if version != "STSv1":
        errors.append("version: STSv1 is missing" if version is None else f"version: {version} is not STSv1")
    if mode is None:
        errors.append("mode is missing")
    elif mode not in MODES:
        errors.append(f"mode: {mode} is not enforce, testing or none")
    max_age: int | None = None
    if max_age_text is None:
        errors.append("max_age is missing")
    elif not is_decimal(max_age_text) or len(max_age_text) > 10:
        errors.append(f"max_age: {max_age_text} is not a number of seconds")
    else:
        max_age = int(max_age_text)
        if max_age > MAX_AGE_LIMIT:
            errors.append(f"max_age: {max_age} is more than one year ({MAX_AGE_LIMIT})")
    if mode in ("enforce", "testing") and not mx:
        errors.append(f"mode {mode} needs at least one mx: line")
    for pattern in mx:
        if not _MX_PATTERN.match(pattern.lower()):
            errors.append(f"mx: {pattern} is not a host name or *.domain pattern")
    return StsPolicy(text, version, mode, mx, max_age, tuple(errors), tuple(warnings))


def _first(fields: dict[str, list[str]], key: str) -> str | None:
    values = fields.get(key)
    return values[0] if values else None


def mx_matches(pattern: str, host: str) -> bool:
    """RFC 8461 4.1: exact (case-insensitive) or `*.` standing for exactly one leftmost label."""
    pattern = pattern.strip().rstrip(".").lower()
    host = host.strip().rstrip(".").lower()
    if pattern.startswith("*."):
        label, dot, rest = host.partition(".")
        return bool(label) and bool(dot) and rest == pattern[2:]
    return pattern == host
