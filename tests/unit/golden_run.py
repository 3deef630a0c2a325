"""The golden report: a real audit through the whole pipeline, its volatile values made fixed.

The embedded lab (mailprobe.demo.lab) runs as an open relay, and the audit covers its domain plus an address the
safety guard refuses (203.0.113.9, refused before anything is sent: MAILPROBE_ALLOW_ONLY is loopback only during
the run), so the golden files show passes, findings of every weight, and what could not be probed.
`normalise` is the one place that says what changes from run to run and how it is fixed.

    MAILPROBE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_report_golden.py   # then review the diff
"""

from __future__ import annotations

import os
import re
from dataclasses import fields, is_dataclass, replace
from enum import Enum
from typing import Any

from mailprobe.config import Config, Limits
from mailprobe.demo.lab import DemoLab
from mailprobe.engine import audit
from mailprobe.model import Report

REFUSED_ADDRESS = "203.0.113.9"  # outside the guard during the run: refused before a packet is sent
RELAY_DOMAIN = "relay-test.mailprobe.test"
STARTED_AT = "2026-01-01T00:00:00+00:00"
_RANDOM_NAME = re.compile(r"#[A-Za-z0-9_-]{16}")  # trustme's random certificate names: "Testing cert #yE05..."
_APOP_STAMP = re.compile(r"<[0-9.]+@")  # the POP3 greeting's <pid.clock@host>
_FIXED_BY_FIELD: dict[str, Any] = {
    "started_at": STARTED_AT,
    "serial": "01",
    "fingerprint_sha256": "f0" * 32,
    "spki_sha256": "5b" * 32,
    "fingerprint_sha512": "f0" * 64,
    "spki_sha512": "5b" * 64,
    "days_left": 365,
    "elapsed_ms": 0.0,
    "at_ms": 0.0,
    "tool_version": "golden",
}


async def pipeline_report() -> Report:
    """Audit the open-relay lab and a refused address through the real pipeline; return it normalised."""
    saved = os.environ.get("MAILPROBE_ALLOW_ONLY")
    os.environ["MAILPROBE_ALLOW_ONLY"] = "127.0.0.0/8,::1/128"
    try:
        async with DemoLab(open_relay=True) as lab:
            cfg = Config(
                limits=Limits(connect_timeout=2.0, read_timeout=2.0, session_timeout=5.0),
                resolver=lab.resolver,
                ports=lab.port_overrides(),
                ca_file=lab.ca_file,
                allow_nonpublic=True,
                check_legacy_tls=True,
                relay_test_domain=RELAY_DOMAIN,
                transcript=True,
            )
            report = await audit([lab.domain, REFUSED_ADDRESS], cfg)
            standard = {port: service.default_port for service, port in lab.ports.items()}
            standard[lab.dns_port] = 53
    finally:
        if saved is None:
            del os.environ["MAILPROBE_ALLOW_ONLY"]
        else:
            os.environ["MAILPROBE_ALLOW_ONLY"] = saved
    return normalise(report, standard)


def normalise(report: Report, ports: dict[int, int]) -> Report:
    """The report with everything that differs between two runs against an unchanged lab made fixed:

    - the lab's ephemeral ports become the services' standard ports (25, 587, ..., 53 for DNS), wherever they
      appear: port fields, places, check subjects, notes, transcripts;
    - times: started_at a fixed date, every elapsed_ms and at_ms 0.0;
    - the throwaway certificates: serial, fingerprints, days left, and the random part of their names;
    - the POP3 greeting's APOP stamp (process id and clock);
    - the tool version;
    - order: port results arrive as the scan finishes them; they are sorted by address and port, and each
      finding's places and the check results of one check by subject.
    """

    def text(value: str) -> str:
        value = _APOP_STAMP.sub("<1.1@", _RANDOM_NAME.sub("#golden", value))
        for port, standard in ports.items():
            value = re.sub(rf"(?<![0-9]){port}(?![0-9])", str(standard), value)
        return value

    def walk(value: Any, name: str) -> Any:
        if name in _FIXED_BY_FIELD:
            return _FIXED_BY_FIELD[name]
        if isinstance(value, Enum | bool) or value is None:
            return value
        if is_dataclass(value) and not isinstance(value, type):
            return replace(value, **{f.name: walk(getattr(value, f.name), f.name) for f in fields(value)})  # type: ignore[type-var]
        if isinstance(value, tuple):
            return tuple(walk(item, name) for item in value)
        if isinstance(value, str):
            return text(value)
        if isinstance(value, bytes):
            return text(value.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        if isinstance(value, int) and name == "port":
            return ports.get(value, value)
        return value

    fixed: Report = walk(report, "")
    check_order = {name: index for index, name in reversed(list(enumerate(c.check for c in fixed.checks)))}
    return replace(
        fixed,
        ports=tuple(sorted(fixed.ports, key=lambda p: (p.host, p.address, p.port))),
        findings=tuple(replace(f, places=tuple(sorted(f.places))) for f in fixed.findings),
        checks=tuple(sorted(fixed.checks, key=lambda c: (check_order[c.check], c.subject))),
    )
