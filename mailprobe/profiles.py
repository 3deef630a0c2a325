"""Profiles: TOML files that say which stages and ports to run and what a healthy result looks like.

Shipped profiles live in the package (`mailprobe/shipped_profiles/*.toml`, the same files as the repository's
`profiles/`); `--profile PATH` takes any file. Unknown keys and wrong types are errors naming the file, the
line and the key: a typo must never silently turn a check off.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mailprobe.config import Config
from mailprobe.errors import ProfileError
from mailprobe.model import Expectations, Service, Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

PACKAGE_DIR = Path(__file__).parent / "shipped_profiles"
REPO_DIR = Path(__file__).parent.parent / "profiles"
STAGES = ("dns", "ports", "handshake")
TLS_VERSIONS = ("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    path: str
    description: str = ""
    stages: tuple[str, ...] = STAGES
    services: tuple[Service, ...] = tuple(Service)
    timeout: float | None = None
    fail_on: Severity | None = Severity.HIGH
    allow_nonpublic: bool = False
    allow_nonpublic_targets: tuple[str, ...] = ()
    legacy_tls: bool = True
    targets: tuple[str, ...] = ()
    egress_targets: tuple[str, ...] = ()
    egress_starttls: tuple[str, ...] = ()  # egress targets known to offer STARTTLS on 25
    control_ports: tuple[int, ...] = (587, 465, 443)
    expect: Expectations = field(default_factory=Expectations)

    def configure(self, cfg: Config) -> Config:
        """`cfg` with what the profile sets for a run: its services, the TLS 1.0/1.1 probes, its expectations
        (judged with everything else), non-public addresses, its timeout, its name (recorded in reports).
        The library (`mailprobe.audit(..., profile=...)`) and the CLI both run a profile through here."""
        return replace(
            cfg,
            services=self.services,
            check_legacy_tls=self.legacy_tls,
            expect=self.expect,
            profile=self.name,
            allow_nonpublic=cfg.allow_nonpublic or self.allow_nonpublic,
            limits=cfg.limits.for_timeout(self.timeout) if self.timeout is not None else cfg.limits,
        )

    def summary(self) -> list[str]:
        """What the profile sets, in words, one line each (`mailprobe profiles --check`)."""
        e = self.expect
        lines = [
            f"name: {self.name}" + (f" ({self.description})" if self.description else ""),
            f"stages: {', '.join(self.stages)}",
            f"services: {', '.join(s.value for s in self.services)}",
            f"TLS 1.0/1.1 probes: {'yes' if self.legacy_tls else 'no'}",
            f"timeout: {f'{self.timeout:g} s' if self.timeout is not None else 'the default'}",
            f"fails (exit 1) on: {f'{self.fail_on.value} findings and worse' if self.fail_on else 'nothing'}",
        ]
        if self.allow_nonpublic:
            lines.append("non-public addresses from DNS: probed")
        if self.targets:
            lines.append(f"targets: {', '.join(self.targets)}")
        if self.egress_targets:
            lines.append(f"egress targets: {', '.join(self.egress_targets)}")
            lines.append(f"egress control ports: {', '.join(str(p) for p in self.control_ports)}")
        expected = [
            f"ports open: {', '.join(map(str, e.open_ports))}" if e.open_ports else "",
            f"ports blocked: {', '.join(map(str, e.blocked_ports))}" if e.blocked_ports else "",
            "STARTTLS required" if e.starttls_required else "",
            f"{e.min_tls_version} or newer" if e.min_tls_version else "",
            f"certificates valid for {e.cert_min_days} more days" if e.cert_min_days is not None else "",
            *(f"{service} offers {', '.join(words)}" for service, words in e.capabilities),
            *(f"{service} greeting matches {pattern!r}" for service, pattern in e.banner_patterns),
        ]
        expected = [line for line in expected if line]
        lines.append("expects: " + ("; ".join(expected) if expected else "nothing beyond the findings"))
        return lines


# key → (expected type description, validator/converter)
_Schema = dict[str, Any]


def _line_of(text: str, table: str, key: str) -> int:
    """Best-effort line number of `key` inside `[table]` (tomllib keeps no positions)."""
    lines = text.splitlines()
    current = ""
    for number, line in enumerate(lines, start=1):
        header = re.match(r"^\s*\[([^\]]+)\]\s*(#.*)?$", line)
        if header:
            current = header.group(1).strip()
            continue
        if current == table and re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", line):
            return number
    return 1


class _Reader:
    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text = path, text

    def fail(self, table: str, key: str, message: str) -> ProfileError:
        where = f"{table}.{key}" if table else key
        return ProfileError(f"{self.path}:{_line_of(self.text, table, key)}: {where}: {message}")

    def table(self, data: dict[str, Any], table: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        for key in data:
            if key not in allowed:
                raise self.fail(table, key, f"unknown key (allowed: {', '.join(allowed)})")
        return data

    def get(self, data: dict[str, Any], table: str, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if key not in data:
            return default
        value = data[key]
        if isinstance(value, bool) and kind in (int, float):
            raise self.fail(table, key, f"expected {getattr(kind, '__name__', kind)}, got a boolean")
        if not isinstance(value, kind):
            name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(table, key, f"expected {name}, got {type(value).__name__}")
        return value

    def list_of(
        self, data: dict[str, Any], table: str, key: str, kind: type, default: tuple[Any, ...]
    ) -> tuple[Any, ...]:
        values = self.get(data, table, key, list, None)
        if values is None:
            return default
        for value in values:
            if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
                raise self.fail(table, key, f"expected a list of {kind.__name__}, found {value!r}")
        return tuple(values)

    def ports(self, data: dict[str, Any], table: str, key: str) -> tuple[int, ...]:
        ports = self.list_of(data, table, key, int, ())
        for port in ports:
            if not 1 <= port <= 65535:
                raise self.fail(table, key, f"port {port} out of range 1-65535")
        return ports


def load_profile(name_or_path: str) -> Profile:
    path = find_profile(name_or_path)
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    r = _Reader(path, text)
    r.table(data, "", ("name", "description", "run", "expect", "targets", "egress"))
    run = r.table(
        r.get(data, "", "run", dict, {}),
        "run",
        (
            "stages",
            "services",
            "timeout",
            "fail_on",
            "allow_nonpublic",
            "legacy_tls",
        ),
    )
    expect = r.table(
        r.get(data, "", "expect", dict, {}),
        "expect",
        (
            "open",
            "expect_blocked",
            "starttls_required",
            "min_tls_version",
            "cert_min_days",
            "capabilities",
            "banner_pattern",
        ),
    )
    targets = r.table(r.get(data, "", "targets", dict, {}), "targets", ("list", "allow_nonpublic"))
    egress = r.table(r.get(data, "", "egress", dict, {}), "egress", ("targets", "starttls_targets", "control_ports"))

    stages = r.list_of(run, "run", "stages", str, STAGES)
    for stage in stages:
        if stage not in STAGES:
            raise r.fail("run", "stages", f"unknown stage {stage!r} (one of {', '.join(STAGES)})")
    services: list[Service] = []
    for value in r.list_of(run, "run", "services", str, tuple(s.value for s in Service)):
        try:
            services.append(Service(value))
        except ValueError:
            raise r.fail("run", "services", f"unknown service {value!r}") from None
    fail_on_text = r.get(run, "run", "fail_on", str, "high")
    try:
        fail_on = None if fail_on_text == "never" else Severity(fail_on_text)
    except ValueError:
        raise r.fail("run", "fail_on", f"unknown severity {fail_on_text!r}") from None
    timeout = r.get(run, "run", "timeout", (int, float), None)
    if timeout is not None and not 0 < timeout <= 600:
        raise r.fail("run", "timeout", "must be more than 0 and at most 600 seconds")

    min_tls = r.get(expect, "expect", "min_tls_version", str, None)
    if min_tls is not None and min_tls not in TLS_VERSIONS:
        raise r.fail("expect", "min_tls_version", f"one of {', '.join(TLS_VERSIONS)}")
    caps = r.get(expect, "expect", "capabilities", dict, {})
    banners = r.get(expect, "expect", "banner_pattern", dict, {})
    for table_name, table in (("expect.capabilities", caps), ("expect.banner_pattern", banners)):
        for key in table:
            if key not in {s.value for s in Service}:
                raise r.fail(table_name, key, "unknown service")
    for key, pattern in banners.items():
        if not isinstance(pattern, str):
            raise r.fail("expect.banner_pattern", key, "expected a string (regular expression)")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise r.fail("expect.banner_pattern", key, f"bad regular expression: {exc}") from None
    cap_pairs = tuple((key, r.list_of(caps, "expect.capabilities", key, str, ())) for key in sorted(caps))
    cert_days = r.get(expect, "expect", "cert_min_days", int, None)
    return Profile(
        name=r.get(data, "", "name", str, path.stem),
        path=str(path),
        description=r.get(data, "", "description", str, ""),
        stages=stages,
        services=tuple(services),
        timeout=float(timeout) if timeout is not None else None,
        fail_on=fail_on,
        allow_nonpublic=r.get(run, "run", "allow_nonpublic", bool, False),
        allow_nonpublic_targets=r.list_of(targets, "targets", "allow_nonpublic", str, ()),
        legacy_tls=r.get(run, "run", "legacy_tls", bool, True),
        targets=r.list_of(targets, "targets", "list", str, ()),
        egress_targets=r.list_of(egress, "egress", "targets", str, ()),
        egress_starttls=r.list_of(egress, "egress", "starttls_targets", str, ()),
        control_ports=r.ports(egress, "egress", "control_ports") or (587, 465, 443),
        expect=Expectations(
            open_ports=r.ports(expect, "expect", "open"),
            blocked_ports=r.ports(expect, "expect", "expect_blocked"),
            starttls_required=r.get(expect, "expect", "starttls_required", bool, False),
            min_tls_version=min_tls,
            cert_min_days=cert_days,
            capabilities=cap_pairs,
            banner_patterns=tuple(sorted((k, v) for k, v in banners.items())),
        ),
    )


def shipped_dirs() -> list[Path]:
    return [d for d in (PACKAGE_DIR, REPO_DIR) if d.is_dir()]


def shipped() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory in shipped_dirs():
        for path in sorted(directory.glob("*.toml")):
            found.setdefault(path.stem, path)
    return found


def find_profile(name_or_path: str) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or "/" in name_or_path:
        if not candidate.is_file():
            raise ProfileError(f"profile {name_or_path}: no such file")
        return candidate
    known = shipped()
    if name_or_path not in known:
        raise ProfileError(f"unknown profile {name_or_path!r} (shipped: {', '.join(sorted(known)) or 'none'})")
    return known[name_or_path]
