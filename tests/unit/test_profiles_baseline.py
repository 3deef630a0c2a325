"""Profiles (loading, validation with file/line/key, expectations) and baselines (drift as findings)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mailprobe.checks.baseline import compare
from mailprobe.checks.run import judge
from mailprobe.errors import ProfileError
from mailprobe.model import (
    Capability,
    CertFacts,
    DomainDns,
    HandshakeResult,
    MxHost,
    MxStatus,
    PortResult,
    PortState,
    ProbeStatus,
    Report,
    RunContext,
    Service,
    StartTlsOutcome,
    Target,
    TlsFacts,
)
from mailprobe.profiles import load_profile, shipped


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


def test_every_shipped_profile_loads() -> None:
    names = set(shipped())
    assert {"isp-check", "mail-host", "submission", "ci-health"} <= names
    for name in names:
        assert load_profile(name).name == name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[run]\nstages = ['dns']\ntimeuot = 5\n", "p.toml:3: run.timeuot: unknown key"),
        ("[run]\ntimeout = 'soon'\n", "p.toml:2: run.timeout: expected int or float, got str"),
        ("[expect]\nopen = [25, 70000]\n", "p.toml:2: expect.open: port 70000 out of range"),
        ("[expect]\nstarttls_required = 'yes'\n", "p.toml:2: expect.starttls_required: expected bool"),
        ("[expect]\nmin_tls_version = 'TLSv9'\n", "expect.min_tls_version: one of"),
        ("[expect.banner_pattern]\nsmtp = '('\n", "expect.banner_pattern.smtp: bad regular expression"),
        ("[expect.capabilities]\ngopher = ['X']\n", "expect.capabilities.gopher: unknown service"),
        ("colour = 'blue'\n", "p.toml:1: colour: unknown key"),
        ("[run\n", "not valid TOML"),
    ],
)
def test_profile_errors_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_profile(str(write(tmp_path, text)))


def _target(port: int, service: Service) -> Target:
    return Target("mx.example.test", "203.0.113.25", port, service, "mx")


def _cert(days: int, fingerprint: str = "aa") -> CertFacts:
    return CertFacts(
        "CN=mx",
        "CN=CA",
        "1",
        "2026-01-01T00:00:00+00:00",
        "2027-01-01T00:00:00+00:00",
        days,
        ("DNS:mx.example.test",),
        "EC",
        256,
        "ecdsa-with-SHA256",
        fingerprint,
        "bb",
        False,
    )


def _tls(version: str = "TLSv1.3", days: int = 90, fingerprint: str = "aa") -> TlsFacts:
    return TlsFacts(
        version, "TLS_AES_128_GCM_SHA256", 128, None, (_cert(days, fingerprint),), True, None, "mx.example.test", True
    )


def _handshake(**changes: object) -> HandshakeResult:
    base = HandshakeResult(
        target=_target(25, Service.SMTP),
        status=ProbeStatus.SUCCESS,
        reason="ok",
        elapsed_ms=5.0,
        banner="mx.example.test ESMTP",
        greeting_code="220",
        capabilities_before=(Capability("STARTTLS"), Capability("PIPELINING")),
        capabilities_after=(Capability("PIPELINING"),),
        starttls=StartTlsOutcome.OK,
        tls=_tls(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _report(**changes: object) -> Report:
    base = Report(command="audit", targets=("example.test",), started_at="2026-11-26T00:00:00+00:00", elapsed_ms=10.0)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_expectations_turn_into_findings(tmp_path: Path) -> None:
    prof = load_profile(
        str(
            write(
                tmp_path,
                """
[expect]
open = [25, 587]
starttls_required = true
min_tls_version = "TLSv1.3"
cert_min_days = 100
[expect.capabilities]
smtp = ["PIPELINING", "CHUNKING"]
[expect.banner_pattern]
smtp = '^mx1\\.'
""",
            )
        )
    )
    report = _report(
        ports=(PortResult("mx.example.test", "203.0.113.25", 587, PortState.FILTERED, "no-response", 1000.0),),
        handshakes=(_handshake(tls=_tls("TLSv1.2", days=30)),),
    )
    judged = judge(replace(report, context=RunContext(expect=prof.expect)))
    codes = sorted(f.code for f in judged.findings if f.code.startswith("PROFILE-"))
    assert codes == [
        "PROFILE-BANNER-MISMATCH",
        "PROFILE-CAPABILITY-MISSING",
        "PROFILE-CERT-DAYS",
        "PROFILE-PORT-NOT-OPEN",
        "PROFILE-TLS-VERSION",
    ]


def test_expected_blocked_port_is_a_pass(tmp_path: Path) -> None:
    prof = load_profile(str(write(tmp_path, "[expect]\nexpect_blocked = [25]\n")))
    mx = MxHost(10, "mx.example.test", ("203.0.113.25",))
    report = _report(
        dns=(DomainDns("example.test", MxStatus.FOUND, "ok", 1.0, mx=(mx,)),),
        ports=(
            PortResult("mx.example.test", "203.0.113.25", 25, PortState.FILTERED, "no-response", 1000.0),
            PortResult("mx.example.test", "203.0.113.25", 587, PortState.FILTERED, "no-response", 1000.0),
        ),
    )
    before = {f.code: f for f in judge(report).findings}
    assert "PORT25-MX-NOT-OPEN" in before  # judged without a profile
    # the MX's own port 25 is PORT25-MX-NOT-OPEN's place, not also PORT-FILTERED's: one problem, one finding
    assert before["PORT-FILTERED"].places == ("mx.example.test [203.0.113.25]:587",)

    after = judge(replace(report, context=RunContext(expect=prof.expect))).findings
    codes = [f.code for f in after]
    assert "PORT25-MX-NOT-OPEN" not in codes
    (filtered,) = [f for f in after if f.code == "PORT-FILTERED"]
    assert filtered.places == ("mx.example.test [203.0.113.25]:587",)  # 587 still counts, 25 does not
    assert [f.code for f in after if f.code.startswith("PROFILE-")] == ["PROFILE-EXPECTED-BLOCKED"]
    assert [f.code for f in after if f.code.startswith("MX-")] == [c for c in before if c.startswith("MX-")]

    now_open = _report(
        ports=(PortResult("mx", "203.0.113.25", 25, PortState.OPEN, "syn-ack", 1.0),),
        context=RunContext(expect=prof.expect),
    )
    assert [f.code for f in judge(now_open).findings] == ["PROFILE-BLOCKED-PORT-OPEN"]


def test_baseline_turns_every_change_into_a_finding() -> None:
    mx = MxHost(10, "mx.example.test", ("203.0.113.25",))
    before = _report(
        dns=(DomainDns("example.test", MxStatus.FOUND, "ok", 1.0, mx=(mx,)),),
        ports=(PortResult("mx", "203.0.113.25", 25, PortState.OPEN, "syn-ack", 1.0),),
        handshakes=(_handshake(),),
    )
    after = _report(
        dns=(DomainDns("example.test", MxStatus.FOUND, "ok", 1.0, mx=(replace(mx, name="mx2.example.test"),)),),
        ports=(PortResult("mx", "203.0.113.25", 25, PortState.FILTERED, "no-response", 1.0),),
        handshakes=(
            _handshake(
                banner="other ESMTP",
                capabilities_before=(Capability("PIPELINING"),),
                starttls=StartTlsOutcome.NOT_OFFERED,
                tls=_tls(fingerprint="cc"),
            ),
        ),
    )
    codes = sorted(f.code for f in compare(before, after))
    assert codes == [
        "BASELINE-BANNER-CHANGED",
        "BASELINE-CAPABILITY-CHANGED",
        "BASELINE-CERT-CHANGED",
        "BASELINE-HANDSHAKE-CHANGED",
        "BASELINE-MX-CHANGED",
        "BASELINE-PORT-CHANGED",
    ]
    assert list(compare(before, before)) == []


def test_isp_check_knows_which_destinations_offer_starttls_on_25() -> None:
    prof = load_profile("isp-check")
    assert prof.egress_starttls and set(prof.egress_starttls) <= set(prof.egress_targets)
    assert "portquiz.net" not in prof.egress_starttls  # it accepts every port but speaks no SMTP
